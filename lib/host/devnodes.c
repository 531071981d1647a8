/* Device nodes shared by all GPUs, and /dev/nvidia-caps. Majors come from stat: the
 * nvidia-uvm and nvidia-caps majors are assigned at module load, so they are cross-checked
 * against /proc/devices; a mismatch means a node left from an earlier module load. */
#include "host/discover.h"
#include "host/procfs.h"
#include "util/cleanup.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *path;
    const char *proc_name;  /* the /proc/devices name its major must match */
} shared_nodes[] = {
    {"/dev/nvidiactl", NULL},
    {"/dev/nvidia-uvm", "nvidia-uvm"},
    {"/dev/nvidia-uvm-tools", "nvidia-uvm"},
    {"/dev/nvidia-modeset", NULL},
};

static int add_node(nvb_discovery *d, nvb_devnode_list *l, const char *path, const char *proc_name, nvb_err *err)
{
    nvb_devnode node;
    if (nvb_stat_devnode(d, path, &node) < 0)
        return 0; /* absent nodes are reported by doctor, not fatal here */
    if (proc_name && d->proc_devices) {
        int want = nvb_proc_devices_major(d->proc_devices, proc_name);
        if (want >= 0 && (unsigned)want != node.major)
            nvb_strv_pushf(&d->h->warnings, "%s has major %u but /proc/devices registers %s as %d", path,
                           node.major, proc_name, want);
    }
    node.path = (char *)path;
    int r = nvb_devnode_list_add(l, &node);
    free(node.host_path);
    return r < 0 ? nvb_errf(err, NVB_EXIT_IO, "out of memory") : 0;
}

static int cmp_node(const void *a, const void *b)
{
    return strcmp(((const nvb_devnode *)a)->path, ((const nvb_devnode *)b)->path);
}

int nvb_discover_devnodes(nvb_discovery *d, nvb_err *err)
{
    for (size_t i = 0; i < sizeof shared_nodes / sizeof shared_nodes[0]; i++)
        if (add_node(d, &d->h->nodes, shared_nodes[i].path, shared_nodes[i].proc_name, err) < 0)
            return -1;
    _cleanup_free_ char *capdir = nvb_rootpath_host(&d->root, "/dev/nvidia-caps");
    DIR *dir = capdir ? opendir(capdir) : NULL;
    if (!dir)
        return 0;
    struct dirent *e;
    int r = 0;
    while (r == 0 && (e = readdir(dir))) {
        if (e->d_name[0] == '.')
            continue;
        char path[300];
        snprintf(path, sizeof path, "/dev/nvidia-caps/%s", e->d_name);
        r = add_node(d, &d->h->cap_nodes, path, "nvidia-caps", err);
    }
    closedir(dir);
    if (d->h->cap_nodes.n)
        qsort(d->h->cap_nodes.v, d->h->cap_nodes.n, sizeof *d->h->cap_nodes.v, cmp_node);
    return r;
}
