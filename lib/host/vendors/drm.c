/* GPUs of every driver but NVIDIA's own, as the kernel's DRM interface shows them: each
 * /sys/class/drm/renderD<N> leads to its device's sysfs folder, whose uevent names the
 * driver and PCI ids. A device without a render node (a BMC's VGA, simpledrm) is a display,
 * not a GPU a container could compute or render on, and is left out. */
#include "host/vendors/vendors.h"
#include "host/hostio.h"
#include "util/cleanup.h"
#include "util/grow.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct drm_found {
    nvb_drm_gpu *v;
    size_t n, cap;
} drm_found;

/* "renderD128" -> 128; false for connectors ("card0-HDMI-A-1") and other entries. */
static bool node_number(const char *name, const char *prefix, unsigned *out)
{
    size_t l = strlen(prefix);
    if (strncmp(name, prefix, l) != 0 || !name[l])
        return false;
    char *end;
    unsigned long v = strtoul(name + l, &end, 10);
    if (*end || name[l] < '0' || name[l] > '9' || v > 1u << 20)
        return false;
    *out = (unsigned)v;
    return true;
}

/* The device folder behind /sys/class/drm/<name>: the link's target without "/drm/<name>". */
static char *device_dir(nvb_discovery *d, const char *name)
{
    char rel[300];
    if (!nvb_path_cat(rel, sizeof rel, "/sys/class/drm/", name, NULL))
        return NULL;
    char *res = nvb_rootpath_resolve(&d->root, rel);
    if (!res)
        return NULL;
    char *slash = strrchr(res, '/');
    if (slash && slash - res >= 4 && strncmp(slash - 4, "/drm", 4) == 0 && strcmp(slash + 1, name) == 0 &&
        slash - 4 > res) {
        slash[-4] = '\0';
        return res;
    }
    free(res);
    return NULL;
}

bool nvb_uevent_value(const char *text, const char *key, char *out, size_t size)
{
    size_t kl = strlen(key);
    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        if (strncmp(l, key, kl) == 0 && l[kl] == '=') {
            size_t n = strcspn(l + kl + 1, "\n");
            if (n == 0 || n >= size)
                return false;
            memcpy(out, l + kl + 1, n);
            out[n] = '\0';
            return true;
        }
    }
    return false;
}

static int add_node(nvb_discovery *d, nvb_drm_gpu *g, const char *path)
{
    nvb_devnode node;
    int r = nvb_stat_devnode(d, path, &node);
    if (r < 0) {
        /* sysfs shows it, /dev lacks it (no udev in a chroot): say so, keep the GPU. */
        return nvb_strv_pushf(&d->h->warnings, "%s GPU %s (%s): %s is missing: %s", g->vendor, g->bus_id, g->driver,
                              path, strerror(-r));
    }
    node.path = (char *)path;
    r = nvb_devnode_list_add(&g->nodes, &node);
    free(node.host_path);
    return r;
}

static void read_ids(nvb_discovery *d, nvb_drm_gpu *g, const char *dir, const char *uevent)
{
    char v[64];
    unsigned vid, did;
    if (nvb_uevent_value(uevent, "PCI_ID", v, sizeof v) && sscanf(v, "%4x:%4x", &vid, &did) == 2) {
        g->vendor_id = vid;
        g->device_id = did;
    }
    g->vendor = nvb_pci_vendor_name(g->vendor_id);
    g->numa_node = -1;
    char path[PATH_MAX], numa[32];
    if (!d->skip_pci_details && nvb_path_cat(path, sizeof path, dir, "/numa_node", NULL) &&
        nvb_read_small(&d->root, path, numa, sizeof numa, NVB_READ_ONE_PIECE) > 0)
        g->numa_node = atoi(numa);
}

/* One render node: its device, unless NVIDIA's driver runs it (the NVIDIA backend does). */
static int add_gpu(nvb_discovery *d, drm_found *f, const char *render, unsigned minor, const nvb_strv *cards,
                   nvb_err *err)
{
    /* The device's uevent first, in one confined open through the node's link and "../..":
     * on an NVIDIA host every node is the NVIDIA driver's, and is skipped without resolving
     * its link one element at a time. */
    char path[PATH_MAX], uevent[4096], driver[64];
    if (!nvb_path_cat(path, sizeof path, "/sys/class/drm/", render, "/../../uevent") ||
        nvb_read_small(&d->root, path, uevent, sizeof uevent, NVB_READ_ONE_PIECE) < 0 ||
        !nvb_uevent_value(uevent, "DRIVER", driver, sizeof driver) || strcmp(driver, "nvidia") == 0)
        return 0;
    /* The folder it names, checked: the same uevent when the link ends in drm/<node>. */
    _cleanup_free_ char *dir = device_dir(d, render);
    if (!dir)
        return 0; /* not a device's node: nothing to pair it with */
    nvb_drm_gpu *nv = nvb_grow(f->v, &f->cap, f->n, sizeof *nv, 4);
    if (!nv)
        return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    f->v = nv;
    nvb_drm_gpu *g = &f->v[f->n++];
    *g = (nvb_drm_gpu){.render_minor = minor, .kfd_node = -1};
    const char *base = strrchr(dir, '/');
    g->driver = strdup(driver);
    g->bus_id = strdup(base ? base + 1 : dir);
    g->kind = g->driver ? nvb_drm_kind(g->driver, &g->kind_buf) : NULL;
    if (!g->driver || !g->bus_id || !g->kind)
        return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    read_ids(d, g, dir, uevent);
    int r = 0;
    /* The card node of the same device, for the vendors whose convention gives it. */
    for (size_t i = 0; r == 0 && nvb_drm_kind_has_card(g->kind) && i < cards->n; i++) {
        _cleanup_free_ char *cdir = device_dir(d, cards->v[i]);
        if (cdir && strcmp(cdir, dir) == 0 && nvb_path_cat(path, sizeof path, "/dev/dri/", cards->v[i], NULL))
            r = add_node(d, g, path);
    }
    if (r == 0 && nvb_path_cat(path, sizeof path, "/dev/dri/", render, NULL))
        r = add_node(d, g, path);
    return r < 0 ? nvb_errf(err, NVB_EXIT_IO, "out of memory") : 0;
}

static int cmp_gpu(const void *a, const void *b)
{
    const nvb_drm_gpu *x = a, *y = b;
    int c = strcmp(x->kind, y->kind);
    return c ? c : strcmp(x->bus_id, y->bus_id);
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names under /sys/class/drm: render nodes and card nodes, in name order. */
static int list_nodes(nvb_discovery *d, nvb_strv *renders, nvb_strv *cards)
{
    nvb_dir dir;
    if (nvb_dir_open(&dir, &d->root, "/sys/class/drm") < 0)
        return 0; /* no DRM at all (a container, a headless host without it) */
    const char *name;
    unsigned n;
    int r = 0;
    while (r == 0 && (name = nvb_dir_next(&dir, NULL))) {
        if (node_number(name, "renderD", &n))
            r = nvb_strv_push(renders, name);
        else if (node_number(name, "card", &n))
            r = nvb_strv_push(cards, name);
    }
    nvb_dir_close(&dir);
    if (r == 0 && renders->n > 1)
        qsort(renders->v, renders->n, sizeof *renders->v, cmp_name);
    if (r == 0 && cards->n > 1)
        qsort(cards->v, cards->n, sizeof *cards->v, cmp_name);
    return r;
}

int nvb_discover_drm_gpus(nvb_discovery *d, nvb_err *err)
{
    nvb_strv renders = {0}, cards = {0};
    drm_found f = {0};
    int r = list_nodes(d, &renders, &cards) < 0 ? nvb_errf(err, NVB_EXIT_IO, "out of memory") : 0;
    for (size_t i = 0; r == 0 && i < renders.n; i++) {
        unsigned minor = 0;
        node_number(renders.v[i], "renderD", &minor);
        r = add_gpu(d, &f, renders.v[i], minor, &cards, err);
    }
    nvb_strv_free(&renders);
    nvb_strv_free(&cards);
    d->h->drm_gpus = f.v; /* the host frees them, also half-filled ones */
    d->h->n_drm_gpus = f.n;
    if (r < 0)
        return -1;
    if (f.n > 1)
        qsort(f.v, f.n, sizeof *f.v, cmp_gpu);
    for (size_t i = 0; i < f.n; i++)
        f.v[i].index = i && strcmp(f.v[i].kind, f.v[i - 1].kind) == 0 ? f.v[i - 1].index + 1 : 0;
    return nvb_kfd_pair(d, f.v, f.n, err);
}
