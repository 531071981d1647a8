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

/* The spec-wide edits of the manager's workload on a model, with their public arrays: made
 * once per kept model (nvb_api_model_cache), shared by every result made from it. */
typedef struct shared_edits {
    nvb_edits edits;
    nvbind_edit_device_node *nodes;
    nvbind_edit_mount *mounts;
    nvbind_edit_hook *hooks;
} shared_edits;

/* The public result first, so the handle the caller frees is the box. It holds the model
 * (and so the shared edits its pointers lead into) until it is freed. */
typedef struct edits_box {
    nvbind_capsule_edits pub;
    nvb_api_model *model;
    nvb_edits dev;                    /* the selected devices' edits, merged */
    const char **env;
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

static nvbind_edit_device_node node_of(const nvb_devnode *n)
{
    return (nvbind_edit_device_node){
        .path = n->path, .host_path = n->host_path, .type = n->type, .major = n->major,
        .minor = n->minor, .file_mode = n->mode, .uid = n->uid, .gid = n->gid,
    };
}

static size_t count_of(const char *const *v)
{
    size_t n = 0;
    while (v[n])
        n++;
    return n;
}

static nvbind_edit_mount mount_of(const nvb_mount *mt)
{
    return (nvbind_edit_mount){
        .host_path = mt->host_path,
        .container_path = mt->container_path,
        .options = mt->writable ? nvb_mount_options_ipc : nvb_mount_options_ro,
        .option_count = count_of(mt->writable ? nvb_mount_options_ipc : nvb_mount_options_ro),
    };
}

static nvbind_edit_hook hook_of(const nvb_hook *h)
{
    return (nvbind_edit_hook){
        .hook_name = h->hook_name,
        .path = h->path,
        .args = (const char *const *)h->args.v,
        .arg_count = h->args.n,
    };
}

static void shared_free(void *p)
{
    shared_edits *c = p;
    if (!c)
        return;
    nvb_edits_clear(&c->edits);
    free(c->nodes);
    free(c->mounts);
    free(c->hooks);
    free(c);
}

/* The spec-wide edits of m's workload on h (what nvb_cdi_generate puts in the spec's
 * containerEdits), or NULL on failure (the caller builds them again for the error). */
static int shared_build(const nvbind_gpu_manager *m, const nvb_host *h, nvb_edits *out, nvbind_error **err)
{
    nvb_edits extra = {0};
    unsigned caps = 0;
    int r = nvb_api_workload_edits(m, h, nvb_api_manager_workload(m), NULL, &caps, &extra, err);
    if (r == 0 && (nvb_edits_shared(out, h, caps ? caps : NVB_CAP_ALL, m->hook_path) < 0 ||
                   nvb_edits_merge(out, &extra) < 0))
        r = nvb_api_oom(err, "nvbind_get_capsule_edits");
    nvb_edits_clear(&extra);
    return r;
}

static void *shared_make(const nvbind_gpu_manager *m, const nvb_host *h)
{
    shared_edits *c = calloc(1, sizeof *c);
    if (!c || shared_build(m, h, &c->edits, NULL) < 0)
        goto fail;
    const nvb_edits *e = &c->edits;
    if ((e->nodes.n && !(c->nodes = calloc(e->nodes.n, sizeof *c->nodes))) ||
        (e->n_mounts && !(c->mounts = calloc(e->n_mounts, sizeof *c->mounts))) ||
        (e->n_hooks && !(c->hooks = calloc(e->n_hooks, sizeof *c->hooks))))
        goto fail;
    for (size_t i = 0; i < e->nodes.n; i++)
        c->nodes[i] = node_of(&e->nodes.v[i]);
    for (size_t i = 0; i < e->n_mounts; i++)
        c->mounts[i] = mount_of(&e->mounts[i]);
    for (size_t i = 0; i < e->n_hooks; i++)
        c->hooks[i] = hook_of(&e->hooks[i]);
    return c;
fail:
    shared_free(c);
    return NULL;
}

/* The env entry of kv's key among v[0..n-1], or n. */
static size_t env_find(const char **v, size_t n, const char *kv)
{
    size_t kl = strcspn(kv, "=");
    for (size_t i = 0; i < n; i++)
        if (strncmp(v[i], kv, kl) == 0 && v[i][kl] == '=')
            return i;
    return n;
}

/* The public arrays: the shared edits, then the devices' merged on top as a CDI runtime
 * merges them (env by key, nodes and mounts by path, hooks appended). */
static int publish(edits_box *b, const shared_edits *c)
{
    const nvb_edits *s = &c->edits, *d = &b->dev;
    size_t ne = s->env.n + d->env.n, nn = s->nodes.n + d->nodes.n, nm = s->n_mounts + d->n_mounts,
           nh = s->n_hooks + d->n_hooks;
    if ((ne && !(b->env = malloc(ne * sizeof *b->env))) || (nn && !(b->nodes = malloc(nn * sizeof *b->nodes))) ||
        (nm && !(b->mounts = malloc(nm * sizeof *b->mounts))) || (nh && !(b->hooks = malloc(nh * sizeof *b->hooks))))
        return -1;
    size_t n_env = s->env.n, n_nodes = s->nodes.n, n_mounts = s->n_mounts, n_hooks = s->n_hooks;
    if (n_env)
        memcpy(b->env, s->env.v, n_env * sizeof *b->env);
    if (n_nodes)
        memcpy(b->nodes, c->nodes, n_nodes * sizeof *b->nodes);
    if (n_mounts)
        memcpy(b->mounts, c->mounts, n_mounts * sizeof *b->mounts);
    if (n_hooks)
        memcpy(b->hooks, c->hooks, n_hooks * sizeof *b->hooks);
    for (size_t i = 0; i < d->env.n; i++) {
        size_t at = env_find(b->env, n_env, d->env.v[i]);
        b->env[at] = d->env.v[i];
        n_env += at == n_env;
    }
    for (size_t i = 0; i < d->nodes.n; i++) {
        bool dup = false;
        for (size_t j = 0; !dup && j < s->nodes.n; j++)
            dup = strcmp(s->nodes.v[j].path, d->nodes.v[i].path) == 0;
        if (!dup)
            b->nodes[n_nodes++] = node_of(&d->nodes.v[i]);
    }
    for (size_t i = 0; i < d->n_mounts; i++) {
        bool dup = false;
        for (size_t j = 0; !dup && j < s->n_mounts; j++)
            dup = strcmp(s->mounts[j].container_path, d->mounts[i].container_path) == 0;
        if (!dup)
            b->mounts[n_mounts++] = mount_of(&d->mounts[i]);
    }
    for (size_t i = 0; i < d->n_hooks; i++)
        b->hooks[n_hooks++] = hook_of(&d->hooks[i]);
    b->pub = (nvbind_capsule_edits){
        .env_count = n_env,
        .env = b->env,
        .device_node_count = n_nodes,
        .device_nodes = b->nodes,
        .mount_count = n_mounts,
        .mounts = b->mounts,
        .hook_count = n_hooks,
        .hooks = b->hooks,
    };
    return 0;
}

/* The edits from the model km: its shared edits (made once), the selected devices' on top. */
static int build(const nvbind_gpu_manager *m, nvb_api_model *km, const char *const *devices, size_t n,
                 edits_box *b, nvbind_error **err)
{
    const nvb_host *h = km->host;
    if (!nvb_host_has_nvidia(h)) {
        nvb_err e = {0};
        nvb_vendor_no_nvidia(h, &e);
        return nvb_api_fail(err, &e);
    }
    const shared_edits *c = nvb_api_model_cache(m, km, shared_make, shared_free);
    if (!c) {
        /* Build them again for the error (a profile the host cannot serve, no memory). */
        nvb_edits tmp = {0};
        int r = shared_build(m, h, &tmp, err);
        nvb_edits_clear(&tmp);
        return r < 0 ? -1 : nvb_api_oom(err, "nvbind_get_capsule_edits");
    }
    if (select_devices(m, h, devices, n, &b->dev, err) < 0)
        return -1;
    return publish(b, c) < 0 ? nvb_api_oom(err, "nvbind_get_capsule_edits") : 0;
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
    b->model = nvb_api_host_acquire(m, err); /* held until the result is freed */
    if (!b->model || build(m, b->model, devices, n, b, err) < 0) {
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
    nvb_edits_clear(&b->dev);
    free(b->env);
    free(b->nodes);
    free(b->mounts);
    free(b->hooks);
    nvb_api_host_release(NULL, b->model);
    free(b);
}
