/* nvbind_get_capsule_edits (NVBIND_0.3): a capsule's edits straight from the kept host model,
 * for runtimes that apply edits themselves. The same edits as the Bolt-kind spec of the
 * manager's workload: spec-wide edits (control nodes, driver files, hooks, profile and capsule
 * variables), then each selected device's, merged as a CDI runtime applies them. Built by the
 * functions that build the spec (policy/edits.c, api/generate.c), so the two cannot drift. */
#include "api/api.h"
#include "policy/cdi_generate.h"
#include "policy/vendor_spec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The public result first, so the handle the caller frees is the box. */
typedef struct edits_box {
    nvbind_capsule_edits pub;
    nvb_edits edits;                  /* owns every string the arrays point to */
    nvbind_edit_device_node *nodes;
    nvbind_edit_mount *mounts;
    nvbind_edit_hook *hooks;
} edits_box;

/* GPU g's device edits (what the spec's "0" / "GPU-..." entry holds) merged into out. */
static int add_gpu(nvb_edits *out, const nvb_host *h, const nvb_gpu *g)
{
    nvb_edits e = {0};
    int r = nvb_edits_for_gpu(&e, g);
    /* WSL2: /dev/dxg reaches every GPU, so a single GPU is one to CUDA only. */
    if (r == 0 && h->wsl2)
        r = nvb_edits_setenv(&e, "CUDA_VISIBLE_DEVICES", g->uuid);
    if (r == 0)
        r = nvb_edits_merge(out, &e);
    nvb_edits_clear(&e);
    return r;
}

/* "all": every GPU's nodes (without the per-GPU WSL2 variable), or /dev/dxg alone on a WSL2
 * guest whose GPUs NVML did not list. */
static int add_all(nvb_edits *out, const nvb_host *h)
{
    nvb_edits all = {0};
    int r = 0;
    for (size_t i = 0; r == 0 && i < h->n_gpus; i++) {
        nvb_edits e = {0};
        r = nvb_edits_for_gpu(&e, &h->gpus[i]);
        if (r == 0)
            r = nvb_edits_merge(&all, &e);
        nvb_edits_clear(&e);
    }
    for (size_t i = 0; r == 0 && !h->n_gpus && i < h->wsl2_nodes.n; i++)
        r = nvb_edits_add_node(&all, &h->wsl2_nodes.v[i]);
    if (r == 0)
        r = nvb_edits_merge(out, &all);
    nvb_edits_clear(&all);
    return r;
}

/* The GPU a device name names under the configured naming; NULL when none. */
static const nvb_gpu *gpu_named(const nvb_host *h, unsigned naming, const char *name)
{
    for (size_t i = 0; i < h->n_gpus; i++) {
        const nvb_gpu *g = &h->gpus[i];
        char buf[40];
        if (naming & NVB_NAMING_INDEX) {
            snprintf(buf, sizeof buf, "%u", g->index);
            if (strcmp(buf, name) == 0)
                return g;
        }
        if ((naming & NVB_NAMING_UUID) && g->uuid && strcmp(g->uuid, name) == 0)
            return g;
        if (naming & NVB_NAMING_TYPE_INDEX) {
            snprintf(buf, sizeof buf, "gpu%u", g->index);
            if (strcmp(buf, name) == 0)
                return g;
        }
    }
    return NULL;
}

static int select_devices(const nvbind_gpu_manager *m, const nvb_host *h, const char *const *devices, size_t n,
                          nvb_edits *out, nvbind_error **err)
{
    unsigned naming = m->config.cdi.naming ? m->config.cdi.naming : NVB_NAMING_INDEX | NVB_NAMING_UUID;
    for (size_t i = 0; i < n; i++) {
        const char *name = devices[i];
        if (!name)
            return nvb_api_failf(err, NVB_EXIT_USAGE, "nvbind_get_capsule_edits: devices[%zu] is NULL", i);
        const nvb_gpu *g = NULL;
        bool all = strcmp(name, "all") == 0 && (h->n_gpus || h->wsl2_nodes.n);
        if (!all && !(g = gpu_named(h, naming, name)))
            return nvb_api_failf(err, NVB_EXIT_USAGE,
                                 "nvbind_get_capsule_edits: devices[%zu]: no device '%s' on this host (%zu GPU%s)", i,
                                 name, h->n_gpus, h->n_gpus == 1 ? "" : "s");
        if ((all ? add_all(out, h) : add_gpu(out, h, g)) < 0)
            return nvb_api_oom(err, "nvbind_get_capsule_edits");
    }
    return 0;
}

/* The public arrays over box->edits. */
static int publish(edits_box *b)
{
    const nvb_edits *e = &b->edits;
    if ((e->nodes.n && !(b->nodes = calloc(e->nodes.n, sizeof *b->nodes))) ||
        (e->n_mounts && !(b->mounts = calloc(e->n_mounts, sizeof *b->mounts))) ||
        (e->n_hooks && !(b->hooks = calloc(e->n_hooks, sizeof *b->hooks))))
        return -1;
    for (size_t i = 0; i < e->nodes.n; i++) {
        const nvb_devnode *n = &e->nodes.v[i];
        b->nodes[i] = (nvbind_edit_device_node){
            .path = n->path, .host_path = n->host_path, .type = n->type, .major = n->major,
            .minor = n->minor, .file_mode = n->mode, .uid = n->uid, .gid = n->gid,
        };
    }
    size_t n_ro = 0, n_ipc = 0;
    while (nvb_mount_options_ro[n_ro])
        n_ro++;
    while (nvb_mount_options_ipc[n_ipc])
        n_ipc++;
    for (size_t i = 0; i < e->n_mounts; i++) {
        const nvb_mount *mt = &e->mounts[i];
        b->mounts[i] = (nvbind_edit_mount){
            .host_path = mt->host_path,
            .container_path = mt->container_path,
            .options = mt->writable ? nvb_mount_options_ipc : nvb_mount_options_ro,
            .option_count = mt->writable ? n_ipc : n_ro,
        };
    }
    for (size_t i = 0; i < e->n_hooks; i++)
        b->hooks[i] = (nvbind_edit_hook){
            .hook_name = e->hooks[i].hook_name,
            .path = e->hooks[i].path,
            .args = (const char *const *)e->hooks[i].args.v,
            .arg_count = e->hooks[i].args.n,
        };
    b->pub = (nvbind_capsule_edits){
        .env_count = e->env.n,
        .env = (const char *const *)e->env.v,
        .device_node_count = e->nodes.n,
        .device_nodes = b->nodes,
        .mount_count = e->n_mounts,
        .mounts = b->mounts,
        .hook_count = e->n_hooks,
        .hooks = b->hooks,
    };
    return 0;
}

/* The spec-wide edits of m's workload on h, then the selected devices', into b->edits. */
static int build(const nvbind_gpu_manager *m, const nvb_host *h, const char *const *devices, size_t n,
                 edits_box *b, nvbind_error **err)
{
    if (!nvb_host_has_nvidia(h)) {
        nvb_err e = {0};
        nvb_vendor_no_nvidia(h, &e);
        return nvb_api_fail(err, &e);
    }
    nvb_edits extra = {0};
    unsigned caps = 0;
    int r = nvb_api_workload_edits(m, h, nvb_api_manager_workload(m), NULL, &caps, &extra, err);
    if (r == 0 && (nvb_edits_shared(&b->edits, h, caps ? caps : NVB_CAP_ALL, m->hook_path) < 0 ||
                   nvb_edits_merge(&b->edits, &extra) < 0))
        r = nvb_api_oom(err, "nvbind_get_capsule_edits");
    nvb_edits_clear(&extra);
    if (r == 0)
        r = select_devices(m, h, devices, n, &b->edits, err);
    return r;
}

NVBIND_EXPORT nvbind_capsule_edits *nvbind_get_capsule_edits(const nvbind_gpu_manager *m, const char *const *devices,
                                                             size_t n, nvbind_error **err)
{
    if (!m)
        return nvb_api_failf(err, NVB_EXIT_USAGE, "nvbind_get_capsule_edits: the GPU manager is NULL"), NULL;
    if (n && !devices)
        return nvb_api_failf(err, NVB_EXIT_USAGE, "nvbind_get_capsule_edits: devices is NULL"), NULL;
    edits_box *b = calloc(1, sizeof *b);
    if (!b)
        return nvb_api_oom(err, "nvbind_get_capsule_edits"), NULL;
    nvb_api_model *km = nvb_api_host_acquire(m, err);
    int r = km ? build(m, km->host, devices, n, b, err) : -1;
    nvb_api_host_release(m, km);
    if (r == 0 && publish(b) < 0)
        r = nvb_api_oom(err, "nvbind_get_capsule_edits");
    if (r < 0) {
        nvbind_capsule_edits_free(&b->pub);
        return NULL;
    }
    return &b->pub;
}

NVBIND_EXPORT void nvbind_capsule_edits_free(nvbind_capsule_edits *e)
{
    if (!e)
        return;
    edits_box *b = (edits_box *)e;
    nvb_edits_clear(&b->edits);
    free(b->nodes);
    free(b->mounts);
    free(b->hooks);
    free(b);
}
