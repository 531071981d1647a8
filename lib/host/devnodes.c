/* Device nodes shared by all GPUs, and /dev/nvidia-caps. Majors come from stat: the
 * nvidia-uvm and nvidia-caps majors are assigned at module load, so they are cross-checked
 * against /proc/devices; a mismatch means a node left from an earlier module load. */
#include "host/discover.h"
#include "host/hostio.h"
#include "host/procfs.h"

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

/* want_major: the major /proc/devices registers under proc_name, -1 for no check. */
static int add_node(nvb_discovery *d, nvb_devnode_list *l, const char *path, const char *proc_name, int want_major,
                    nvb_err *err)
{
    nvb_devnode node;
    if (nvb_stat_devnode(d, path, &node) < 0)
        return 0; /* absent nodes are reported by doctor, not fatal here */
    if (proc_name && want_major >= 0 && (unsigned)want_major != node.major)
        nvb_strv_pushf(&d->h->warnings, "%s has major %u but /proc/devices registers %s as %d", path, node.major,
                       proc_name, want_major);
    node.path = (char *)path;
    int r = nvb_devnode_list_add(l, &node);
    free(node.host_path);
    return r < 0 ? nvb_errf(err, NVB_EXIT_IO, "out of memory") : 0;
}

/* The major /proc/devices registers for name, -1 when unknown (or no /proc/devices). */
static int proc_major(const nvb_discovery *d, const char *name)
{
    return name && d->proc_devices ? nvb_proc_devices_major(d->proc_devices, name) : -1;
}

static int cmp_node(const void *a, const void *b)
{
    return strcmp(((const nvb_devnode *)a)->path, ((const nvb_devnode *)b)->path);
}

int nvb_discover_devnodes(nvb_discovery *d, nvb_err *err)
{
    for (size_t i = 0; i < sizeof shared_nodes / sizeof shared_nodes[0]; i++)
        if (add_node(d, &d->h->nodes, shared_nodes[i].path, shared_nodes[i].proc_name,
                     proc_major(d, shared_nodes[i].proc_name), err) < 0)
            return -1;
    nvb_dir dir;
    if (nvb_dir_open(&dir, &d->root, "/dev/nvidia-caps") < 0)
        return 0;
    const char *name;
    int r = 0, caps_major = proc_major(d, "nvidia-caps");
    while (r == 0 && (name = nvb_dir_next(&dir, NULL))) {
        if (name[0] == '.')
            continue;
        char path[300];
        if (!nvb_path_cat(path, sizeof path, "/dev/nvidia-caps/", name, NULL))
            continue;
        r = add_node(d, &d->h->cap_nodes, path, "nvidia-caps", caps_major, err);
    }
    nvb_dir_close(&dir);
    if (d->h->cap_nodes.n)
        qsort(d->h->cap_nodes.v, d->h->cap_nodes.n, sizeof *d->h->cap_nodes.v, cmp_node);
    return r;
}
