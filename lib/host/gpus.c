/* GPUs: /proc/driver/nvidia/gpus/<bus id>/information, ordered by PCI bus id (the index
 * is the position in that order; the device minor may differ), plus what sysfs adds. */
#include "host/discover.h"
#include "host/procfs.h"
#include "util/cleanup.h"
#include "util/fileio.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static unsigned read_hex_file(const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    _cleanup_free_ char *t = nvb_read_file(path, 64, NULL);
    return t ? (unsigned)strtoul(t, NULL, 16) : 0;
}

/* The GPU's DRM nodes: sysfs lists them as drm/cardN and drm/renderDN. */
static int add_drm_nodes(nvb_discovery *d, nvb_gpu *g, const char *sysdir, nvb_err *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/drm", sysdir);
    DIR *dir = opendir(path);
    if (!dir)
        return 0; /* no DRM (nvidia-drm not loaded): not an error */
    nvb_strv names = {0};
    struct dirent *e;
    while ((e = readdir(dir)))
        if (strncmp(e->d_name, "card", 4) == 0 || strncmp(e->d_name, "renderD", 7) == 0)
            nvb_strv_push(&names, e->d_name);
    closedir(dir);
    if (names.n)
        qsort(names.v, names.n, sizeof *names.v, cmp_str);
    for (size_t i = 0; i < names.n; i++) {
        char cpath[300];
        snprintf(cpath, sizeof cpath, "/dev/dri/%s", names.v[i]);
        nvb_devnode node;
        int r = nvb_stat_devnode(d, cpath, &node);
        if (r < 0) {
            nvb_strv_pushf(&d->h->warnings, "GPU %u (%s): sysfs names %s but it is missing: %s", g->index,
                           g->pci_bus_id, cpath, strerror(-r));
            continue;
        }
        node.path = cpath;
        r = nvb_devnode_list_add(&g->nodes, &node);
        free(node.host_path);
        if (r < 0) {
            nvb_strv_free(&names);
            return nvb_errf(err, NVB_EXIT_IO, "out of memory");
        }
    }
    nvb_strv_free(&names);
    return 0;
}

static int fill_gpu(nvb_discovery *d, nvb_gpu *g, const char *busid, nvb_err *err)
{
    char rel[512];
    snprintf(rel, sizeof rel, "/proc/driver/nvidia/gpus/%s/information", busid);
    _cleanup_free_ char *path = nvb_rootpath_host(&d->root, rel);
    _cleanup_free_ char *text = path ? nvb_read_file(path, 1 << 16, NULL) : NULL;
    if (!text)
        return nvb_errf_errno(err, NVB_EXIT_HOST_DATA, errno, "cannot read %s", path ? path : rel);
    nvb_gpu_information info;
    if (nvb_parse_gpu_information(text, path, &info, err) < 0)
        return -1;
    g->name = info.model;
    g->uuid = info.uuid;
    g->pci_bus_id = info.bus_location;
    g->minor = info.minor;
    g->numa_node = -1;
    g->memory_mib = -1;
    g->cc_major = g->cc_minor = -1;
    g->mig_mode = -1;

    char sysrel[512];
    snprintf(sysrel, sizeof sysrel, "/sys/bus/pci/devices/%s", busid);
    _cleanup_free_ char *sysdir = nvb_rootpath_host(&d->root, sysrel);
    if (sysdir) {
        g->vendor_id = read_hex_file(sysdir, "vendor");
        g->device_id = read_hex_file(sysdir, "device");
        char np[4200];
        snprintf(np, sizeof np, "%s/numa_node", sysdir);
        _cleanup_free_ char *numa = nvb_read_file(np, 64, NULL);
        if (numa)
            g->numa_node = atoi(numa);
    }

    char devpath[64];
    snprintf(devpath, sizeof devpath, "/dev/nvidia%u", g->minor);
    nvb_devnode node;
    int r = nvb_stat_devnode(d, devpath, &node);
    if (r < 0) {
        nvb_strv_pushf(&d->h->warnings, "GPU %u (%s): %s is missing: %s", g->index, busid, devpath, strerror(-r));
    } else {
        node.path = devpath;
        r = nvb_devnode_list_add(&g->nodes, &node);
        free(node.host_path);
        if (r < 0)
            return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    }
    return sysdir ? add_drm_nodes(d, g, sysdir, err) : 0;
}

int nvb_discover_gpus(nvb_discovery *d, nvb_err *err)
{
    _cleanup_free_ char *gdir = nvb_rootpath_host(&d->root, "/proc/driver/nvidia/gpus");
    DIR *dir = gdir ? opendir(gdir) : NULL;
    if (!dir) {
        if (errno == ENOENT)
            return 0; /* a driver with no GPU bound: zero GPUs, doctor says so */
        return nvb_errf_errno(err, NVB_EXIT_IO, errno, "cannot list %s", gdir ? gdir : "/proc/driver/nvidia/gpus");
    }
    nvb_strv ids = {0};
    struct dirent *e;
    while ((e = readdir(dir)))
        if (e->d_name[0] != '.')
            nvb_strv_push(&ids, e->d_name);
    closedir(dir);
    if (ids.n)
        qsort(ids.v, ids.n, sizeof *ids.v, cmp_str);
    d->h->gpus = calloc(ids.n ? ids.n : 1, sizeof *d->h->gpus);
    if (!d->h->gpus) {
        nvb_strv_free(&ids);
        return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    }
    for (size_t i = 0; i < ids.n; i++) {
        nvb_gpu *g = &d->h->gpus[i];
        g->index = (unsigned)i;
        d->h->n_gpus = i + 1;
        if (fill_gpu(d, g, ids.v[i], err) < 0) {
            nvb_strv_free(&ids);
            return -1;
        }
    }
    nvb_strv_free(&ids);
    return 0;
}
