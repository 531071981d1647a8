/* Discovery entry point: driver, GPUs, device nodes, user-space components, then the
 * optional NVML enrichment. No NVML, fork or exec on the default path. */
#include "host/discover.h"
#include "host/procfs.h"
#include "util/cleanup.h"
#include "util/fileio.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

int nvb_devnode_list_add(nvb_devnode_list *l, const nvb_devnode *proto)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        nvb_devnode *nv = realloc(l->v, cap * sizeof *nv);
        if (!nv)
            return -1;
        l->v = nv;
        l->cap = cap;
    }
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

nvb_component *nvb_host_add_component(nvb_host *h, enum nvb_component_kind kind, char *host_path,
                                      char *container_path, unsigned caps, bool is_dir)
{
    if (!host_path || !container_path)
        goto fail;
    for (size_t i = 0; i < h->n_comps; i++) {
        if (strcmp(h->comps[i].host_path, host_path) == 0) { /* already known: merge */
            h->comps[i].caps |= caps;
            free(host_path);
            free(container_path);
            return &h->comps[i];
        }
    }
    if (h->n_comps == h->cap_comps) {
        size_t cap = h->cap_comps ? h->cap_comps * 2 : 64;
        nvb_component *nv = realloc(h->comps, cap * sizeof *nv);
        if (!nv)
            goto fail;
        h->comps = nv;
        h->cap_comps = cap;
    }
    h->comps[h->n_comps] = (nvb_component){kind, host_path, container_path, caps, is_dir, NULL};
    return &h->comps[h->n_comps++];
fail:
    free(host_path);
    free(container_path);
    return NULL;
}

int nvb_stat_devnode(nvb_discovery *d, const char *path, nvb_devnode *out)
{
    _cleanup_free_ char *resolved = nvb_rootpath_resolve(&d->root, path);
    if (!resolved)
        return -errno;
    _cleanup_free_ char *host = nvb_rootpath_host(&d->root, resolved);
    struct stat st;
    if (!host)
        return -ENOMEM;
    if (stat(host, &st) < 0)
        return -errno;
    if (!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode))
        return -ENODEV;
    *out = (nvb_devnode){
        .path = (char *)path,
        .host_path = NVB_TAKE(host),
        .type = S_ISCHR(st.st_mode) ? 'c' : 'b',
        .major = major(st.st_rdev),
        .minor = minor(st.st_rdev),
        .mode = st.st_mode & 07777,
        .uid = st.st_uid,
        .gid = st.st_gid,
    };
    return 0;
}

static int cmp_component(const void *a, const void *b)
{
    const nvb_component *x = a, *y = b;
    if (x->kind != y->kind)
        return (int)x->kind - (int)y->kind;
    return strcmp(x->container_path, y->container_path);
}

static int read_driver(nvb_discovery *d, nvb_err *err)
{
    _cleanup_free_ char *path = nvb_rootpath_host(&d->root, "/proc/driver/nvidia/version");
    _cleanup_free_ char *text = path ? nvb_read_file(path, 1 << 16, NULL) : NULL;
    if (!text) {
        if (errno == ENOENT)
            return nvb_errf(err, NVB_EXIT_NO_DRIVER, "no NVIDIA driver found under %s: %s is missing",
                            d->root.root, "/proc/driver/nvidia/version");
        return nvb_errf_errno(err, NVB_EXIT_IO, errno, "cannot read %s", path);
    }
    return nvb_parse_driver_version(text, path, &d->h->driver_version, &d->h->kmod, err);
}

nvb_host *nvb_host_discover(const nvb_discover_opts *opts, nvb_err *err)
{
    const char *root = opts->root && *opts->root ? opts->root : "/";
    const char *drv = opts->driver_root && *opts->driver_root ? opts->driver_root : "/";
    nvb_host *h = calloc(1, sizeof *h);
    nvb_discovery d = {.h = h, .library_search = opts->library_search};
    if (!h || !(h->root = strdup(root)) || !(h->driver_root = strdup(drv))) {
        nvb_errf(err, NVB_EXIT_IO, "out of memory");
        goto fail;
    }
    nvb_rootpath_init(&d.root, h->root);
    d.drv_dir = nvb_rootpath_host(&d.root, drv);
    if (!d.drv_dir) {
        nvb_errf(err, NVB_EXIT_IO, "out of memory");
        goto fail;
    }
    nvb_rootpath_init(&d.drv, d.drv_dir);
    struct stat st;
    if (stat(h->root, &st) < 0 || !S_ISDIR(st.st_mode)) {
        nvb_errf(err, NVB_EXIT_NO_DRIVER, "no NVIDIA driver found under %s: the host root %s", root,
                 errno == ENOENT ? "does not exist" : "is not a folder");
        goto fail;
    }
    if (stat(d.drv_dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
        nvb_errf(err, NVB_EXIT_NO_DRIVER, "driver root %s: %s", drv,
                 errno == ENOENT ? "no such folder under the host root" : "not a folder");
        goto fail;
    }
    {
        _cleanup_free_ char *wsl = nvb_rootpath_host(&d.root, "/dev/dxg");
        h->wsl2 = wsl && access(wsl, F_OK) == 0;
        _cleanup_free_ char *pd = nvb_rootpath_host(&d.root, "/proc/devices");
        d.proc_devices = pd ? nvb_read_file(pd, 1 << 16, NULL) : NULL;
    }
    if (read_driver(&d, err) < 0 || nvb_discover_gpus(&d, err) < 0 || nvb_discover_devnodes(&d, err) < 0 ||
        nvb_discover_components(&d, err) < 0)
        goto fail;
    qsort(h->comps, h->n_comps, sizeof *h->comps, cmp_component);
    if (opts->with_nvml)
        nvb_discover_nvml(&d, opts->nvml_timeout_ms ? opts->nvml_timeout_ms : 5000);
    nvb_rootpath_clear(&d.root);
    nvb_rootpath_clear(&d.drv);
    free(d.drv_dir);
    free(d.proc_devices);
    return h;
fail:
    nvb_rootpath_clear(&d.root);
    nvb_rootpath_clear(&d.drv);
    free(d.drv_dir);
    free(d.proc_devices);
    nvb_host_free(h);
    return NULL;
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
            nvb_devnode_list_clear(&g->migs[j].nodes);
        }
        free(g->migs);
    }
    free(h->gpus);
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
