/* Discovery entry point: driver, GPUs, device nodes, user-space components, then the
 * optional NVML enrichment. No NVML, fork or exec on the default path. */
#include "host/discover.h"
#include "host/hostio.h"
#include "host/procfs.h"
#include "host/vendors/vendors.h"
#include "host/wsl2.h"
#include "util/cleanup.h"
#include "util/grow.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

int nvb_devnode_list_add(nvb_devnode_list *l, const nvb_devnode *proto)
{
    nvb_devnode *nv = nvb_grow(l->v, &l->cap, l->n, sizeof *nv, 4);
    if (!nv)
        return -1;
    l->v = nv;
    nvb_devnode *n = &l->v[l->n];
    *n = *proto;
    n->path = strdup(proto->path);
    n->host_path = strdup(proto->host_path);
    if (!n->path || !n->host_path) {
        free(n->path);
        free(n->host_path);
        return -1;
    }
    l->n++;
    return 0;
}

nvb_devnode nvb_devnode_from_stat(const char *path, char *host_path, const struct stat *st)
{
    return (nvb_devnode){
        .path = (char *)path,
        .host_path = host_path,
        .type = S_ISCHR(st->st_mode) ? 'c' : 'b',
        .major = major(st->st_rdev),
        .minor = minor(st->st_rdev),
        .mode = st->st_mode & 07777,
        .uid = st->st_uid,
        .gid = st->st_gid,
    };
}

void nvb_devnode_list_clear(nvb_devnode_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].path);
        free(l->v[i].host_path);
    }
    free(l->v);
    memset(l, 0, sizeof *l);
}

const char *nvb_component_kind_name(enum nvb_component_kind k)
{
    static const char *const names[] = {"libraries", "binaries", "firmware", "configs", "ipc"};
    return k < NVB_COMP__COUNT ? names[k] : "unknown";
}

static uint32_t path_hash(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* The component with this host path and, when container_path is not NULL, this container
 * path, by way of the index (hashed by host path, so every container path of one file is
 * on the same probe chain); NULL when there is none. */
static nvb_component *find_component(const nvb_discovery *d, const char *host_path, const char *container_path,
                                     uint32_t h)
{
    if (!d->comp_index)
        return NULL;
    for (size_t i = h & d->comp_index_mask;; i = (i + 1) & d->comp_index_mask) {
        uint32_t pos = d->comp_index[i].pos;
        if (!pos)
            return NULL;
        nvb_component *c = &d->h->comps[pos - 1];
        if (d->comp_index[i].hash == h && strcmp(c->host_path, host_path) == 0 &&
            (!container_path || strcmp(c->container_path, container_path) == 0))
            return c;
    }
}

nvb_component *nvb_host_find_file(const nvb_discovery *d, const char *host_path)
{
    return find_component(d, host_path, NULL, path_hash(host_path));
}

/* Index h->comps[n] under hash h; the index stays at most half full. */
static int index_component(nvb_discovery *d, size_t n, uint32_t h)
{
    if ((n + 1) * 2 > (d->comp_index ? d->comp_index_mask + 1 : 0)) {
        size_t size = d->comp_index ? (d->comp_index_mask + 1) * 2 : 256;
        struct nvb_comp_slot *idx = calloc(size, sizeof *idx);
        if (!idx)
            return -1;
        for (size_t i = 0; d->comp_index && i <= d->comp_index_mask; i++) {
            if (!d->comp_index[i].pos)
                continue;
            size_t j = d->comp_index[i].hash & (size - 1);
            while (idx[j].pos)
                j = (j + 1) & (size - 1);
            idx[j] = d->comp_index[i];
        }
        free(d->comp_index);
        d->comp_index = idx;
        d->comp_index_mask = size - 1;
    }
    size_t j = h & d->comp_index_mask;
    while (d->comp_index[j].pos)
        j = (j + 1) & d->comp_index_mask;
    d->comp_index[j].hash = h;
    d->comp_index[j].pos = (uint32_t)n + 1;
    return 0;
}

nvb_component *nvb_host_add_component(nvb_discovery *d, enum nvb_component_kind kind, char *host_path,
                                      char *container_path, unsigned caps, bool is_dir)
{
    nvb_host *h = d->h;
    if (!host_path || !container_path || h->n_comps >= UINT32_MAX - 1)
        goto fail;
    uint32_t hash = path_hash(host_path);
    nvb_component *known = find_component(d, host_path, container_path, hash);
    if (known) { /* already known at this path: merge */
        known->caps |= caps;
        free(host_path);
        free(container_path);
        return known;
    }
    nvb_component *nv = nvb_grow(h->comps, &h->cap_comps, h->n_comps, sizeof *nv, 64);
    if (!nv)
        goto fail;
    h->comps = nv;
    if (index_component(d, h->n_comps, hash) < 0)
        goto fail;
    h->comps[h->n_comps] = (nvb_component){kind, host_path, container_path, caps, is_dir, NULL};
    return &h->comps[h->n_comps++];
fail:
    free(host_path);
    free(container_path);
    return NULL;
}

int nvb_stat_devnode(nvb_discovery *d, const char *path, nvb_devnode *out)
{
    char resolved[PATH_MAX];
    struct stat st;
    int r = nvb_rootpath_lookup(&d->root, path, resolved, &st);
    if (r < 0)
        return r;
    if (!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode))
        return -ENODEV;
    char *host = nvb_rootpath_host(&d->root, resolved);
    if (!host)
        return -ENOMEM;
    *out = nvb_devnode_from_stat(path, host, &st);
    return 0;
}

static int cmp_component(const void *a, const void *b)
{
    const nvb_component *x = *(const nvb_component *const *)a, *y = *(const nvb_component *const *)b;
    if (x->kind != y->kind)
        return (int)x->kind - (int)y->kind;
    return strcmp(x->container_path, y->container_path);
}

/* Order by kind, then container path. Pointers are sorted rather than the 48-byte
 * records: fewer bytes moved, and a small array stays on qsort's stack buffer. */
static int sort_components(nvb_host *h)
{
    if (h->n_comps < 2)
        return 0;
    nvb_component **order = malloc(h->n_comps * sizeof *order);
    nvb_component *sorted = malloc(h->n_comps * sizeof *sorted);
    if (!order || !sorted) {
        free(order);
        free(sorted);
        return -1;
    }
    for (size_t i = 0; i < h->n_comps; i++)
        order[i] = &h->comps[i];
    qsort(order, h->n_comps, sizeof *order, cmp_component);
    for (size_t i = 0; i < h->n_comps; i++)
        sorted[i] = *order[i];
    free(order);
    free(h->comps);
    h->comps = sorted;
    h->cap_comps = h->n_comps;
    return 0;
}

/* noinline: its 8 KiB buffer stays out of discover_once's frame, above all of discovery. */
static __attribute__((noinline)) int read_driver(nvb_discovery *d, nvb_err *err)
{
    static const char rel[] = "/proc/driver/nvidia/version";
    char text[8192];
    ssize_t n = nvb_read_small(&d->root, rel, text, sizeof text, NVB_READ_ONE_PIECE);
    _cleanup_free_ char *path = nvb_rootpath_host(&d->root, rel);
    if (n < 0) {
        if (n == -ENOENT)
            return nvb_errf(err, NVB_EXIT_NO_DRIVER, "no NVIDIA driver found under %s: %s is missing",
                            d->root.root, rel);
        return nvb_errf_errno(err, nvb_host_read_exit((int)-n), (int)-n, "cannot read %s", path ? path : rel);
    }
    return nvb_parse_driver_version(text, path ? path : rel, &d->h->driver_version, &d->h->kmod, err);
}

/* The host root must be a folder: open it once, and every later lookup goes through it. */
static int open_root(nvb_rootpath *rp, const char *dir)
{
    rp->fd_tried = true;
    rp->fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    return rp->fd < 0 ? -errno : 0;
}

static void discovery_clear(nvb_discovery *d)
{
    nvb_rootpath_clear(&d->root);
    nvb_rootpath_clear(&d->drv_own);
    nvb_strv_free(&d->listed);
    free(d->comp_index);
    free(d->drv_dir);
    free(d->proc_devices);
}

static bool has_libraries(const nvb_host *h)
{
    for (size_t i = 0; i < h->n_comps; i++)
        if (h->comps[i].kind == NVB_COMP_LIBRARY)
            return true;
    return false;
}

static nvb_host *discover_once(const nvb_discover_opts *opts, nvb_err *err)
{
    const char *root = opts->root && *opts->root ? opts->root : "/";
    const char *drv = opts->driver_root && *opts->driver_root ? opts->driver_root : "/";
    nvb_host *h = calloc(1, sizeof *h);
    nvb_discovery d = {.h = h, .library_search = opts->library_search, .skip_pci_details = opts->skip_pci_details};
    nvb_rootpath_init(&d.root, root);
    nvb_rootpath_init(&d.drv_own, "/");
    if (!h || !(h->root = strdup(root)) || !(h->driver_root = strdup(drv))) {
        nvb_errf(err, NVB_EXIT_IO, "out of memory");
        goto fail;
    }
    nvb_rootpath_init(&d.root, h->root);
    d.root.deps = opts->deps;
    d.drv_dir = nvb_rootpath_host(&d.root, drv);
    if (!d.drv_dir) {
        nvb_errf(err, NVB_EXIT_IO, "out of memory");
        goto fail;
    }
    int r = d.root.root_len ? open_root(&d.root, h->root) : 0;
    if (r < 0) {
        nvb_errf(err, NVB_EXIT_NO_DRIVER, "no NVIDIA driver found under %s: the host root %s", root,
                 r == -ENOENT ? "does not exist" : "is not a folder");
        goto fail;
    }
    /* The driver root is a root of its own for its links; the same one when it is "/". */
    d.drv = &d.root;
    nvb_rootpath_init(&d.drv_own, d.drv_dir);
    d.drv_own.deps = opts->deps;
    if (d.drv_own.root_len != d.root.root_len) {
        d.drv = &d.drv_own;
        if (opts->deps) { /* its own path, as the host cache must see it appear or go */
            char out[PATH_MAX];
            (void)nvb_rootpath_lookup(&d.root, drv, out, NULL);
        }
        r = open_root(&d.drv_own, d.drv_dir);
        if (r < 0) {
            nvb_errf(err, NVB_EXIT_NO_DRIVER, "driver root %s: %s", drv,
                     r == -ENOENT ? "no such folder under the host root" : "not a folder");
            goto fail;
        }
    }
    {
        /* On the heap, not in this frame: everything discovery calls from here would start
         * 16 KiB deeper in the stack, on pages faulted in for nothing (malloc'd pages are
         * only touched as far as the file goes). */
        enum { PD_SIZE = 16384 };
        char *pd = malloc(PD_SIZE);
        if (!pd) {
            nvb_errf(err, NVB_EXIT_IO, "out of memory");
            goto fail;
        }
        ssize_t n = nvb_read_small(&d.root, "/proc/devices", pd, PD_SIZE, NVB_READ_TO_EOF);
        if (n >= 0)
            d.proc_devices = pd;
        else
            free(pd);
        if (n == -NVB_ENOTREG) { /* a missing one is fine (containers); a planted one is not */
            _cleanup_free_ char *p = nvb_rootpath_host(&d.root, "/proc/devices");
            nvb_errf_errno(err, NVB_EXIT_HOST_DATA, NVB_ENOTREG, "cannot read %s", p ? p : "/proc/devices");
            goto fail;
        }
    }
    /* Every vendor: the other drivers' GPUs first, so that a host with them and without
     * NVIDIA's driver can be described (every_vendor) rather than refused. */
    if (opts->every_vendor && nvb_discover_drm_gpus(&d, err) < 0)
        goto fail;
    /* ---- WSL2 (host/wsl2.c): no NVIDIA kernel driver, the Windows one through /dev/dxg. ----
     * Taken only without /proc/driver/nvidia: a host with the Linux driver stays a Linux host. */
    bool wsl2 = !nvb_rootpath_exists(&d.root, "/proc/driver/nvidia/version") && nvb_wsl2_detect(&d.root);
    if (wsl2) {
        if (nvb_discover_wsl2(&d, opts->nvml_timeout_ms ? opts->nvml_timeout_ms : 5000, err) < 0)
            goto fail;
    } else {
        nvb_err drv_err = {0};
        if (read_driver(&d, &drv_err) < 0) {
            if (drv_err.exit_code == NVB_EXIT_NO_DRIVER && opts->every_vendor && h->n_drm_gpus) {
                discovery_clear(&d);
                return h; /* vendors only: no NVIDIA driver, GPU, node or file */
            }
            if (err)
                *err = drv_err;
            goto fail;
        }
        if (nvb_discover_gpus(&d, err) < 0 || nvb_discover_devnodes(&d, err) < 0 || nvb_discover_components(&d, err) < 0)
            goto fail;
    }
    /* ---- end WSL2 ---- */
    if (sort_components(h) < 0) {
        nvb_errf(err, NVB_EXIT_IO, "out of memory");
        goto fail;
    }
    if ((opts->with_nvml && (!h->wsl2 || h->n_gpus)) || (opts->nvml_for_mig && nvb_mig_shown(&d))) {
        unsigned timeout_ms = opts->nvml_timeout_ms ? opts->nvml_timeout_ms : 5000;
        if (nvb_discover_nvml(&d, timeout_ms) < 0 && nvb_mig_shown(&d)) {
            h->mig_unknown = true;
            if (nvb_strv_push(&h->warnings, "MIG: a GPU has MIG instances (/proc/driver/nvidia/capabilities) but "
                                            "NVML could not list them: no MIG device is described") < 0) {
                nvb_errf(err, NVB_EXIT_IO, "out of memory");
                goto fail;
            }
        }
    }
    discovery_clear(&d);
    return h;
fail:
    discovery_clear(&d);
    nvb_host_free(h);
    return NULL;
}

/* Where the NVIDIA GPU operator's driver container shows its root to the host. */
#define OPERATOR_DRIVER_ROOT "/run/nvidia/driver"

nvb_host *nvb_host_discover(const nvb_discover_opts *opts, nvb_err *err)
{
    nvb_host *h = discover_once(opts, err);
    bool given = opts->driver_root && *opts->driver_root;
    if (!h || !nvb_host_has_nvidia(h) || has_libraries(h) || given || h->wsl2)
        goto out;
    /* A GPU-operator host: its own cache lists none of the driver's libraries, the driver
     * container's root at /run/nvidia/driver has them. Taken only when it has them. */
    nvb_discover_opts op = *opts;
    op.driver_root = OPERATOR_DRIVER_ROOT;
    nvb_err op_err = {0};
    nvb_host *oh = discover_once(&op, &op_err);
    if (oh && has_libraries(oh)) {
        nvb_host_free(h);
        return oh;
    }
    nvb_host_free(oh);
out:
    /* Never a spec without libraries by surprise: containers would get the device nodes
     * and no CUDA, NVML or graphics library. */
    if (h && nvb_host_has_nvidia(h) && !has_libraries(h) &&
        nvb_strv_pushf(&h->warnings,
                       "no NVIDIA driver library found in the driver root %s%s: containers get the device nodes "
                       "only; name the folder that holds the driver's libraries with --driver-root",
                       h->driver_root, given ? "" : " (nor in " OPERATOR_DRIVER_ROOT ")") < 0) {
        nvb_host_free(h);
        nvb_errf(err, NVB_EXIT_IO, "out of memory");
        return NULL;
    }
    return h;
}

void nvb_host_free(nvb_host *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->n_gpus; i++) {
        nvb_gpu *g = &h->gpus[i];
        free(g->uuid);
        free(g->name);
        free(g->pci_bus_id);
        free(g->brand);
        nvb_devnode_list_clear(&g->nodes);
        for (size_t j = 0; j < g->n_migs; j++) {
            free(g->migs[j].uuid);
            free(g->migs[j].profile);
            nvb_devnode_list_clear(&g->migs[j].nodes);
        }
        free(g->migs);
    }
    free(h->gpus);
    for (size_t i = 0; i < h->n_drm_gpus; i++) {
        nvb_drm_gpu *g = &h->drm_gpus[i];
        free(g->driver);
        free(g->kind_buf);
        free(g->bus_id);
        nvb_devnode_list_clear(&g->nodes);
    }
    free(h->drm_gpus);
    nvb_devnode_list_clear(&h->wsl2_nodes);
    free(h->wslg_runtime_dir);
    free(h->wslg_pulse);
    free(h->wslg_x11_dir);
    nvb_devnode_list_clear(&h->nodes);
    nvb_devnode_list_clear(&h->cap_nodes);
    for (size_t i = 0; i < h->n_comps; i++) {
        free(h->comps[i].host_path);
        free(h->comps[i].container_path);
        free(h->comps[i].soname);
    }
    free(h->comps);
    nvb_strv_free(&h->warnings);
    free(h->root);
    free(h->driver_root);
    free(h->driver_version);
    free(h->cuda_version);
    free(h);
}
