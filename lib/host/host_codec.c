#include "host/host_codec.h"
#include "host/vendors/vendors.h"

#include <limits.h>

/* Bounds that no real host comes near, so that a damaged record cannot ask for huge
 * allocations. */
#define MAX_ITEMS 65536u

static void put_nodes(nvb_bytes_out *o, const nvb_devnode_list *l)
{
    nvb_bytes_u64(o, l->n);
    for (size_t i = 0; i < l->n; i++) {
        const nvb_devnode *n = &l->v[i];
        nvb_bytes_str(o, n->path);
        nvb_bytes_str(o, n->host_path);
        nvb_bytes_u64(o, (uint64_t)(unsigned char)n->type);
        nvb_bytes_u64(o, n->major);
        nvb_bytes_u64(o, n->minor);
        nvb_bytes_u64(o, n->mode);
        nvb_bytes_u64(o, n->uid);
        nvb_bytes_u64(o, n->gid);
    }
}

static void put_int(nvb_bytes_out *o, int64_t v)
{
    nvb_bytes_u64(o, (uint64_t)v);
}

void nvb_host_encode(nvb_bytes_out *o, const nvb_host *h)
{
    nvb_bytes_str(o, h->root);
    nvb_bytes_str(o, h->driver_root);
    nvb_bytes_str(o, h->driver_version);
    nvb_bytes_u64(o, (uint64_t)h->kmod);
    nvb_bytes_str(o, h->cuda_version);
    nvb_bytes_u64(o, (uint64_t)h->nvml_loaded | (uint64_t)h->mig_unknown << 1 | (uint64_t)h->wsl2 << 2);
    put_nodes(o, &h->wsl2_nodes);
    nvb_bytes_str(o, h->wslg_runtime_dir);
    nvb_bytes_str(o, h->wslg_pulse);
    nvb_bytes_str(o, h->wslg_x11_dir);
    nvb_bytes_u64(o, h->n_gpus);
    for (size_t i = 0; i < h->n_gpus; i++) {
        const nvb_gpu *g = &h->gpus[i];
        nvb_bytes_u64(o, g->index);
        nvb_bytes_u64(o, g->minor);
        nvb_bytes_str(o, g->uuid);
        nvb_bytes_str(o, g->name);
        nvb_bytes_str(o, g->pci_bus_id);
        nvb_bytes_u64(o, g->vendor_id);
        nvb_bytes_u64(o, g->device_id);
        put_int(o, g->numa_node);
        put_nodes(o, &g->nodes);
        put_int(o, g->memory_mib);
        put_int(o, g->cc_major);
        put_int(o, g->cc_minor);
        nvb_bytes_str(o, g->brand);
        put_int(o, g->mig_mode);
        nvb_bytes_u64(o, g->n_migs);
        for (size_t j = 0; j < g->n_migs; j++) {
            const nvb_mig_device *m = &g->migs[j];
            nvb_bytes_u64(o, m->gpu_index);
            nvb_bytes_u64(o, m->mig_index);
            nvb_bytes_u64(o, m->gi);
            nvb_bytes_u64(o, m->ci);
            nvb_bytes_str(o, m->uuid);
            put_int(o, m->memory_mib);
            nvb_bytes_str(o, m->profile);
            put_nodes(o, &m->nodes);
        }
    }
    put_nodes(o, &h->nodes);
    put_nodes(o, &h->cap_nodes);
    nvb_bytes_u64(o, h->n_comps);
    for (size_t i = 0; i < h->n_comps; i++) {
        const nvb_component *c = &h->comps[i];
        nvb_bytes_u64(o, (uint64_t)c->kind);
        nvb_bytes_str(o, c->host_path);
        nvb_bytes_str(o, c->container_path);
        nvb_bytes_u64(o, c->caps);
        nvb_bytes_u64(o, c->is_dir);
        nvb_bytes_str(o, c->soname);
    }
    nvb_bytes_u64(o, h->warnings.n);
    for (size_t i = 0; i < h->warnings.n; i++)
        nvb_bytes_str(o, h->warnings.v[i]);
    nvb_bytes_u64(o, h->n_drm_gpus);
    for (size_t i = 0; i < h->n_drm_gpus; i++) {
        const nvb_drm_gpu *g = &h->drm_gpus[i];
        /* kind and vendor are made again from the driver and the vendor id, as discovery
         * makes them. */
        nvb_bytes_str(o, g->driver);
        nvb_bytes_u64(o, g->index);
        nvb_bytes_str(o, g->bus_id);
        nvb_bytes_u64(o, g->vendor_id);
        nvb_bytes_u64(o, g->device_id);
        put_int(o, g->numa_node);
        nvb_bytes_u64(o, g->render_minor);
        put_int(o, g->kfd_node);
        nvb_bytes_u64(o, g->kfd_gpu_id);
        put_nodes(o, &g->nodes);
    }
}

static unsigned get_uint(nvb_bytes_in *in)
{
    return (unsigned)nvb_bytes_get_max(in, UINT_MAX);
}

/* A number stored by put_int that must lie in [lo, hi]. */
static int64_t get_int(nvb_bytes_in *in, int64_t lo, int64_t hi)
{
    int64_t v = (int64_t)nvb_bytes_get_u64(in);
    if (v < lo || v > hi)
        in->bad = true;
    return in->bad ? 0 : v;
}

/* An array of n items of elem bytes, zeroed; NULL for none or when bad. */
static void *get_array(nvb_bytes_in *in, size_t *n, size_t elem)
{
    *n = (size_t)nvb_bytes_get_max(in, MAX_ITEMS);
    if (*n > (size_t)(in->end - in->p) / 8) /* every item takes 8 bytes at least */
        in->bad = true;
    if (in->bad || *n == 0) {
        *n = 0;
        return NULL;
    }
    void *v = calloc(*n, elem);
    if (!v) {
        in->bad = true;
        *n = 0;
    }
    return v;
}

static void get_nodes(nvb_bytes_in *in, nvb_devnode_list *l)
{
    size_t n;
    l->v = get_array(in, &n, sizeof *l->v);
    l->cap = n;
    for (l->n = 0; l->n < n && !in->bad; l->n++) {
        nvb_devnode *d = &l->v[l->n];
        d->path = nvb_bytes_get_str(in);
        d->host_path = nvb_bytes_get_str(in);
        char type = (char)nvb_bytes_get_max(in, 255);
        d->type = type;
        d->major = get_uint(in);
        d->minor = get_uint(in);
        d->mode = (unsigned)nvb_bytes_get_max(in, 07777);
        d->uid = (uid_t)get_uint(in);
        d->gid = (gid_t)get_uint(in);
        if (!d->path || !d->host_path || (type != 'c' && type != 'b'))
            in->bad = true;
    }
}

nvb_host *nvb_host_decode(nvb_bytes_in *in)
{
    nvb_host *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->root = nvb_bytes_get_str(in);
    h->driver_root = nvb_bytes_get_str(in);
    h->driver_version = nvb_bytes_get_str(in);
    h->kmod = (enum nvb_kmod)nvb_bytes_get_max(in, NVB_KMOD_OPEN);
    h->cuda_version = nvb_bytes_get_str(in);
    uint64_t flags = nvb_bytes_get_max(in, 7);
    h->nvml_loaded = flags & 1;
    h->mig_unknown = flags & 2;
    h->wsl2 = flags & 4;
    get_nodes(in, &h->wsl2_nodes);
    h->wslg_runtime_dir = nvb_bytes_get_str(in);
    h->wslg_pulse = nvb_bytes_get_str(in);
    h->wslg_x11_dir = nvb_bytes_get_str(in);
    h->gpus = get_array(in, &h->n_gpus, sizeof *h->gpus);
    size_t n_gpus = h->n_gpus;
    for (h->n_gpus = 0; h->n_gpus < n_gpus && !in->bad; h->n_gpus++) {
        nvb_gpu *g = &h->gpus[h->n_gpus];
        g->index = get_uint(in);
        g->minor = get_uint(in);
        g->uuid = nvb_bytes_get_str(in);
        g->name = nvb_bytes_get_str(in);
        g->pci_bus_id = nvb_bytes_get_str(in);
        g->vendor_id = get_uint(in);
        g->device_id = get_uint(in);
        g->numa_node = (int)get_int(in, INT_MIN, INT_MAX);
        get_nodes(in, &g->nodes);
        g->memory_mib = get_int(in, INT64_MIN, INT64_MAX);
        g->cc_major = (int)get_int(in, INT_MIN, INT_MAX);
        g->cc_minor = (int)get_int(in, INT_MIN, INT_MAX);
        g->brand = nvb_bytes_get_str(in);
        g->mig_mode = (int)get_int(in, -1, 1);
        g->migs = get_array(in, &g->n_migs, sizeof *g->migs);
        size_t n_migs = g->n_migs;
        for (g->n_migs = 0; g->n_migs < n_migs && !in->bad; g->n_migs++) {
            nvb_mig_device *m = &g->migs[g->n_migs];
            m->gpu_index = get_uint(in);
            m->mig_index = get_uint(in);
            m->gi = get_uint(in);
            m->ci = get_uint(in);
            m->uuid = nvb_bytes_get_str(in);
            m->memory_mib = get_int(in, INT64_MIN, INT64_MAX);
            m->profile = nvb_bytes_get_str(in);
            get_nodes(in, &m->nodes);
        }
    }
    get_nodes(in, &h->nodes);
    get_nodes(in, &h->cap_nodes);
    h->comps = get_array(in, &h->n_comps, sizeof *h->comps);
    h->cap_comps = h->n_comps;
    size_t n_comps = h->n_comps;
    for (h->n_comps = 0; h->n_comps < n_comps && !in->bad; h->n_comps++) {
        nvb_component *c = &h->comps[h->n_comps];
        c->kind = (enum nvb_component_kind)nvb_bytes_get_max(in, NVB_COMP__COUNT - 1);
        c->host_path = nvb_bytes_get_str(in);
        c->container_path = nvb_bytes_get_str(in);
        c->caps = (unsigned)nvb_bytes_get_max(in, NVB_CAP_ALL);
        c->is_dir = nvb_bytes_get_max(in, 1);
        c->soname = nvb_bytes_get_str(in);
        if (!c->host_path || !c->container_path)
            in->bad = true;
    }
    size_t n_warn = (size_t)nvb_bytes_get_max(in, MAX_ITEMS);
    for (size_t i = 0; i < n_warn && !in->bad; i++) {
        char *w = nvb_bytes_get_str(in);
        if (!w || nvb_strv_push(&h->warnings, w) < 0)
            in->bad = true;
        free(w);
    }
    h->drm_gpus = get_array(in, &h->n_drm_gpus, sizeof *h->drm_gpus);
    size_t n_drm = h->n_drm_gpus;
    for (h->n_drm_gpus = 0; h->n_drm_gpus < n_drm && !in->bad; h->n_drm_gpus++) {
        nvb_drm_gpu *g = &h->drm_gpus[h->n_drm_gpus];
        g->driver = nvb_bytes_get_str(in);
        g->index = get_uint(in);
        g->bus_id = nvb_bytes_get_str(in);
        g->vendor_id = get_uint(in);
        g->device_id = get_uint(in);
        g->numa_node = (int)get_int(in, INT_MIN, INT_MAX);
        g->render_minor = get_uint(in);
        g->kfd_node = (int)get_int(in, INT_MIN, INT_MAX);
        g->kfd_gpu_id = get_uint(in);
        get_nodes(in, &g->nodes);
        g->vendor = nvb_pci_vendor_name(g->vendor_id);
        g->kind = g->driver ? nvb_drm_kind(g->driver, &g->kind_buf) : NULL;
        if (!g->bus_id || (g->driver && !g->kind))
            in->bad = true;
    }
    if (!h->root || !h->driver_root || in->p != in->end)
        in->bad = true;
    if (in->bad) {
        nvb_host_free(h);
        return NULL;
    }
    return h;
}
