/* GPUs: /proc/driver/nvidia/gpus/<bus id>/information, ordered by PCI bus id (the index
 * is the position in that order; the device minor may differ), plus what sysfs adds. */
#include "host/discover.h"
#include "host/hostio.h"
#include "host/procfs.h"
#include "util/cleanup.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A sysfs attribute of the GPU's PCI device; false when it cannot be read. */
static bool read_attr(nvb_discovery *d, const char *sysdir, const char *name, char *buf, size_t size)
{
    char path[600];
    return nvb_path_cat(path, sizeof path, sysdir, "/", name) && nvb_read_small(&d->root, path, buf, size, NVB_READ_ONE_PIECE) >= 0;
}

/* Four hex digits, as uevent writes PCI ids. */
static bool parse_hex4(const char *s, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        unsigned x = c >= '0' && c <= '9' ? (unsigned)(c - '0')
                     : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                     : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10)
                                            : 16u;
        if (x == 16)
            return false;
        v = v << 4 | x;
    }
    *out = v;
    return true;
}

/* Vendor and device ids. The device's uevent carries both ("PCI_ID=10DE:20B2", the kernel
 * writes it for every PCI device), one file instead of two; the vendor and device
 * attributes are the fallback. */
static void read_pci_ids(nvb_discovery *d, nvb_gpu *g, const char *sysdir)
{
    char text[4096];
    if (read_attr(d, sysdir, "uevent", text, sizeof text)) {
        for (const char *l = text; l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
            unsigned v, dev;
            if (strncmp(l, "PCI_ID=", 7) == 0 && parse_hex4(l + 7, &v) && l[11] == ':' && parse_hex4(l + 12, &dev) &&
                (l[16] == '\n' || l[16] == '\0')) {
                g->vendor_id = v;
                g->device_id = dev;
                return;
            }
        }
    }
    if (read_attr(d, sysdir, "vendor", text, 64))
        g->vendor_id = (unsigned)strtoul(text, NULL, 16);
    if (read_attr(d, sysdir, "device", text, 64))
        g->device_id = (unsigned)strtoul(text, NULL, 16);
}

/* The GPU's DRM nodes: sysfs lists them as drm/cardN and drm/renderDN. */
static int add_drm_nodes(nvb_discovery *d, nvb_gpu *g, const char *sysdir, nvb_err *err)
{
    char path[600];
    if (!nvb_path_cat(path, sizeof path, sysdir, "/drm", NULL))
        return 0;
    nvb_dir dir;
    if (nvb_dir_open(&dir, &d->root, path) < 0)
        return 0; /* no DRM (nvidia-drm not loaded): not an error */
    nvb_strv names = {0};
    const char *name;
    int r = 0;
    while (r == 0 && (name = nvb_dir_next(&dir, NULL)))
        if (strncmp(name, "card", 4) == 0 || strncmp(name, "renderD", 7) == 0)
            r = nvb_strv_push(&names, name);
    nvb_dir_close(&dir);
    if (r < 0) {
        nvb_strv_free(&names);
        return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    }
    if (names.n > 1)
        qsort(names.v, names.n, sizeof *names.v, cmp_str);
    for (size_t i = 0; i < names.n; i++) {
        char cpath[300];
        if (!nvb_path_cat(cpath, sizeof cpath, "/dev/dri/", names.v[i], NULL))
            continue;
        nvb_devnode node;
        r = nvb_stat_devnode(d, cpath, &node);
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
    char rel[512], text[8192];
    if (!nvb_path_cat(rel, sizeof rel, "/proc/driver/nvidia/gpus/", busid, "/information"))
        return nvb_errf(err, NVB_EXIT_HOST_DATA, "/proc/driver/nvidia/gpus/%s: name too long", busid);
    ssize_t n = nvb_read_small(&d->root, rel, text, sizeof text, NVB_READ_ONE_PIECE);
    _cleanup_free_ char *path = nvb_rootpath_host(&d->root, rel);
    if (n < 0)
        return nvb_errf_errno(err, nvb_host_read_exit((int)-n), (int)-n, "cannot read %s", path ? path : rel);
    nvb_gpu_information info;
    if (nvb_parse_gpu_information(text, path ? path : rel, &info, err) < 0)
        return -1;
    g->name = info.model;
    g->uuid = info.uuid;
    g->pci_bus_id = info.bus_location;
    g->minor = info.minor;
    g->numa_node = -1;
    g->memory_mib = -1;
    g->cc_major = g->cc_minor = -1;
    g->mig_mode = -1;

    char sysdir[512];
    nvb_path_cat(sysdir, sizeof sysdir, "/sys/bus/pci/devices/", busid, NULL); /* fits: busid fit in rel */
    if (!d->skip_pci_details) {
        read_pci_ids(d, g, sysdir);
        char numa[64];
        if (read_attr(d, sysdir, "numa_node", numa, sizeof numa))
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
    return add_drm_nodes(d, g, sysdir, err);
}

int nvb_discover_gpus(nvb_discovery *d, nvb_err *err)
{
    static const char rel[] = "/proc/driver/nvidia/gpus";
    nvb_dir dir;
    int r = nvb_dir_open(&dir, &d->root, rel);
    if (r < 0) {
        if (r == -ENOENT)
            return 0; /* a driver with no GPU bound: zero GPUs, doctor says so */
        _cleanup_free_ char *gdir = nvb_rootpath_host(&d->root, rel);
        return nvb_errf_errno(err, NVB_EXIT_IO, -r, "cannot list %s", gdir ? gdir : rel);
    }
    nvb_strv ids = {0};
    const char *name;
    while (r == 0 && (name = nvb_dir_next(&dir, NULL)))
        if (name[0] != '.')
            r = nvb_strv_push(&ids, name);
    nvb_dir_close(&dir);
    if (r == 0 && ids.n > 1)
        qsort(ids.v, ids.n, sizeof *ids.v, cmp_str);
    d->h->gpus = r == 0 ? calloc(ids.n ? ids.n : 1, sizeof *d->h->gpus) : NULL;
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
