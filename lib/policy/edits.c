#include "policy/edits.h"
#include "ldcache/driver_libs.h"
#include "ldcache/ldcache_write.h"
#include "oci/cuda_compat.h"
#include "policy/wsl2_edits.h"
#include "util/cleanup.h"
#include "util/grow.h"
#include "util/log.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const nvb_mount_options_ro[] = {"ro", "nosuid", "nodev", "rbind", "rprivate", NULL};
const char *const nvb_mount_options_ipc[] = {"nosuid", "nodev", "noexec", "rbind", "rprivate", NULL};

static void hook_free(nvb_hook *h)
{
    free(h->hook_name);
    free(h->path);
    nvb_strv_free(&h->args);
}

void nvb_edits_clear(nvb_edits *e)
{
    nvb_strv_free(&e->env);
    nvb_devnode_list_clear(&e->nodes);
    for (size_t i = 0; i < e->n_mounts; i++) {
        free(e->mounts[i].host_path);
        free(e->mounts[i].container_path);
    }
    free(e->mounts);
    for (size_t i = 0; i < e->n_hooks; i++)
        hook_free(&e->hooks[i]);
    free(e->hooks);
    memset(e, 0, sizeof *e);
}

int nvb_edits_setenv(nvb_edits *e, const char *key, const char *value)
{
    size_t kl = strlen(key);
    char *kv = NULL;
    if (asprintf(&kv, "%s=%s", key, value) < 0)
        return -1;
    for (size_t i = 0; i < e->env.n; i++) {
        if (strncmp(e->env.v[i], key, kl) == 0 && e->env.v[i][kl] == '=') {
            free(e->env.v[i]);
            e->env.v[i] = kv;
            return 0;
        }
    }
    return nvb_strv_push_take(&e->env, kv);
}

/* Append a mount, no duplicate check. */
static int append_mount(nvb_edits *e, const char *host_path, const char *container_path, bool writable)
{
    nvb_mount *nv = nvb_grow(e->mounts, &e->cap_mounts, e->n_mounts, sizeof *nv, 64);
    if (!nv)
        return -1;
    e->mounts = nv;
    nvb_mount m = {strdup(host_path), strdup(container_path), writable};
    if (!m.host_path || !m.container_path) {
        free(m.host_path);
        free(m.container_path);
        return -1;
    }
    e->mounts[e->n_mounts++] = m;
    return 0;
}

bool nvb_edits_has_mount(const nvb_edits *e, const char *container_path)
{
    for (size_t i = 0; i < e->n_mounts; i++)
        if (strcmp(e->mounts[i].container_path, container_path) == 0)
            return true;
    return false;
}

int nvb_edits_add_mount(nvb_edits *e, const char *host_path, const char *container_path, bool writable)
{
    return nvb_edits_has_mount(e, container_path) ? 0 : append_mount(e, host_path, container_path, writable);
}

/* Mount container paths by hash: the spec-wide edits take every driver file, and the
 * pairwise check of nvb_edits_add_mount grows with the square of their number. */
typedef struct mount_index {
    uint32_t *pos;  /* mount index + 1, 0 when empty */
    size_t mask;
} mount_index;

static uint32_t str_hash(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* Find container_path among e's mounts; when absent, reserve its slot for mount number
 * `next` and return false. */
static bool mount_index_seen(mount_index *x, const nvb_edits *e, const char *container_path, size_t next)
{
    for (size_t i = str_hash(container_path) & x->mask;; i = (i + 1) & x->mask) {
        if (!x->pos[i]) {
            x->pos[i] = (uint32_t)next + 1;
            return false;
        }
        if (strcmp(e->mounts[x->pos[i] - 1].container_path, container_path) == 0)
            return true;
    }
}

/* Add the mounts of h's components that caps selects, skipping container paths e has. */
static int add_component_mounts(nvb_edits *e, const nvb_host *h, unsigned caps)
{
    size_t size = 64;
    while (size < 2 * (e->n_mounts + h->n_comps) + 2)
        size *= 2;
    mount_index x = {calloc(size, sizeof *x.pos), size - 1};
    if (!x.pos || e->n_mounts + h->n_comps >= UINT32_MAX) {
        free(x.pos);
        return -1;
    }
    int r = 0;
    for (size_t i = 0; i < e->n_mounts; i++)
        mount_index_seen(&x, e, e->mounts[i].container_path, i);
    for (size_t i = 0; r == 0 && i < h->n_comps; i++) {
        const nvb_component *c = &h->comps[i];
        /* A file belongs when one of its own groups is asked for; compat32 alone only
         * decides whether the 32-bit copies come along. */
        if (!(c->caps & caps & ~NVB_CAP_COMPAT32))
            continue;
        if ((c->caps & NVB_CAP_COMPAT32) && !(caps & NVB_CAP_COMPAT32))
            continue;
        if (!mount_index_seen(&x, e, c->container_path, e->n_mounts))
            r = append_mount(e, c->host_path, c->container_path, c->kind == NVB_COMP_IPC);
    }
    free(x.pos);
    return r;
}

int nvb_edits_add_node(nvb_edits *e, const nvb_devnode *n)
{
    for (size_t i = 0; i < e->nodes.n; i++)
        if (strcmp(e->nodes.v[i].path, n->path) == 0)
            return 0;
    return nvb_devnode_list_add(&e->nodes, n);
}

nvb_hook *nvb_edits_add_hook(nvb_edits *e, const char *hook_name, const char *path)
{
    nvb_hook *nv = nvb_grow(e->hooks, &e->cap_hooks, e->n_hooks, sizeof *nv, 4);
    if (!nv)
        return NULL;
    e->hooks = nv;
    nvb_hook *h = &e->hooks[e->n_hooks];
    *h = (nvb_hook){strdup(hook_name), strdup(path), {0}};
    if (!h->hook_name || !h->path) {
        free(h->hook_name);
        free(h->path);
        return NULL;
    }
    e->n_hooks++;
    return h;
}

void nvb_edits_remove_hook(nvb_edits *e, size_t i)
{
    hook_free(&e->hooks[i]);
    memmove(&e->hooks[i], &e->hooks[i + 1], (e->n_hooks - i - 1) * sizeof *e->hooks);
    e->n_hooks--;
}

bool nvb_hook_is_nvbinds(const nvb_hook *h, const char *hook_path, const char *sub)
{
    return strcmp(h->path, hook_path) == 0 && h->args.n >= 3 && strcmp(h->args.v[1], "hook") == 0 &&
           strcmp(h->args.v[2], sub) == 0;
}

int nvb_edits_merge(nvb_edits *dst, const nvb_edits *src)
{
    for (size_t i = 0; i < src->env.n; i++) {
        _cleanup_free_ char *key = strdup(src->env.v[i]);
        if (!key)
            return -1;
        char *eq = strchr(key, '=');
        if (!eq)
            continue;
        *eq = '\0';
        if (nvb_edits_setenv(dst, key, eq + 1) < 0)
            return -1;
    }
    for (size_t i = 0; i < src->nodes.n; i++)
        if (nvb_edits_add_node(dst, &src->nodes.v[i]) < 0)
            return -1;
    for (size_t i = 0; i < src->n_mounts; i++)
        if (nvb_edits_add_mount(dst, src->mounts[i].host_path, src->mounts[i].container_path, src->mounts[i].writable) < 0)
            return -1;
    for (size_t i = 0; i < src->n_hooks; i++) {
        nvb_hook *h = nvb_edits_add_hook(dst, src->hooks[i].hook_name, src->hooks[i].path);
        if (!h)
            return -1;
        for (size_t j = 0; j < src->hooks[i].args.n; j++)
            if (nvb_strv_push(&h->args, src->hooks[i].args.v[j]) < 0)
                return -1;
    }
    return 0;
}

int nvb_edits_for_gpu(nvb_edits *e, const nvb_gpu *g)
{
    for (size_t i = 0; i < g->nodes.n; i++)
        if (nvb_edits_add_node(e, &g->nodes.v[i]) < 0)
            return -1;
    return 0;
}

int nvb_edits_for_mig(nvb_edits *e, const nvb_gpu *parent, const nvb_mig_device *m)
{
    for (size_t i = 0; i < parent->nodes.n; i++)
        if (strncmp(parent->nodes.v[i].path, "/dev/nvidia", 11) == 0 && nvb_edits_add_node(e, &parent->nodes.v[i]) < 0)
            return -1;
    for (size_t i = 0; i < m->nodes.n; i++)
        if (nvb_edits_add_node(e, &m->nodes.v[i]) < 0)
            return -1;
    return 0;
}

static char *dir_of(const char *path)
{
    const char *s = strrchr(path, '/');
    return s == path ? strdup("/") : strndup(path, (size_t)(s - path));
}

/* A folder of loader modules that their loader opens by path (libvdpau's vdpau/, the GBM
 * loader's gbm/, the X server's modules): not one for the dynamic loader's search path,
 * where it would only lengthen every ldconfig run and put modules in the cache. */
static bool module_folder(const char *dir)
{
    const char *base = strrchr(dir, '/');
    base = base ? base + 1 : dir;
    return strcmp(base, "vdpau") == 0 || strcmp(base, "gbm") == 0 || strstr(dir, "/xorg/modules") != NULL;
}

/* Is c one of the driver libraries caps selects? */
static bool library_selected(const nvb_component *c, unsigned caps)
{
    return c->kind == NVB_COMP_LIBRARY && (c->caps & caps & ~NVB_CAP_COMPAT32) &&
           (!(c->caps & NVB_CAP_COMPAT32) || (caps & NVB_CAP_COMPAT32));
}

/* c's SONAME; GLVND's vendor library is known by its name when its SONAME was not read. */
static const char *library_soname(const nvb_component *c)
{
    const char *base = strrchr(c->container_path, '/') + 1;
    if (!c->soname && strcmp(base, "libGLX_nvidia.so.0") == 0)
        return base;
    return c->soname;
}

/* Length of the multiarch folder (".../x86_64-linux-gnu") that dir is in or below, 0 when
 * none. */
static size_t multiarch_prefix(const char *dir)
{
    size_t best = 0;
    for (const char *c = dir; (c = strchr(c, '/'));) {
        const char *name = ++c;
        size_t n = strcspn(name, "/");
        const char *gnu = memmem(name, n, "-linux-gnu", 10);
        if (gnu)
            best = (size_t)(name - dir) + n;
        c = name + n;
    }
    return best;
}

/* GLVND dlopens "libGLX_indirect.so.0" by name, and no ldconfig ever lists that link in the
 * cache (its name is not its target's SONAME), so the loader finds it only in a folder it
 * searches by default: the multiarch folder above Debian's nvidia/current, where Debian's
 * own alternatives put it, else dir itself. */
static int glx_indirect_link(const char *dir, const char *soname, nvb_strv *devs)
{
    size_t n = multiarch_prefix(dir);
    if (n && dir[n] == '/')
        return nvb_strv_pushf(devs, "%s/%s::%.*s/libGLX_indirect.so.0", dir + n + 1, soname, (int)n, dir);
    return nvb_strv_pushf(devs, "%s::%s/libGLX_indirect.so.0", soname, dir);
}

/* The links of one library in folder dir: its SONAME link when the file has another name
 * (libcuda.so.1 -> libcuda.so.550.54.14) into sonames, its development link
 * (libcuda.so -> libcuda.so.1) and GLVND's indirect name into devs. The SONAME links are
 * made by the hook, before ldconfig runs, so that no development link dangles while
 * ldconfig scans the folder: ldconfig deletes a dangling "*.so.*" link
 * (libGLX_indirect.so.0) and leaves a dangling one out of the cache (libcuda.so). */
static int library_links(const nvb_component *c, const char *dir, nvb_strv *sonames, nvb_strv *devs)
{
    const char *soname = library_soname(c);
    const char *base = strrchr(c->container_path, '/') + 1;
    if (!soname)
        return 0;
    if (strcmp(soname, base) != 0 && strchr(soname, '/') == NULL &&
        nvb_strv_pushf(sonames, "%s::%s/%s", base, dir, soname) < 0)
        return -1;
    const char *dev = nvb_driver_lib_dev_link(soname);
    if (dev && nvb_strv_pushf(devs, "%s::%s/%s", soname, dir, dev) < 0)
        return -1;
    if (strcmp(soname, "libGLX_nvidia.so.0") == 0 && glx_indirect_link(dir, soname, devs) < 0)
        return -1;
    return 0;
}

/* dir/name into v once. */
static int push_path(nvb_strv *v, const char *dir, const char *name)
{
    char *path = NULL;
    if (asprintf(&path, "%s/%s", dir, name) < 0)
        return -1;
    return nvb_strv_contains(v, path) ? (free(path), 0) : nvb_strv_push_take(v, path);
}

/* c as the hook's --lib64/--lib32 value FOLDER/SONAME, where ldconfig would file it; false
 * when its SONAME is not known (then ldconfig must read the library: *unknown). */
static int cache_lib(const nvb_component *c, const char *dir, nvb_strv *lib64, nvb_strv *lib32, bool *unknown)
{
    const char *soname = library_soname(c);
    if (!soname || strchr(soname, '/')) {
        if (!*unknown)
            nvb_log(NVB_LOG_DEBUG, "library %s: SONAME not known, the update-ldcache hook will run ldconfig",
                    c->container_path);
        *unknown = true;
        return 0;
    }
    nvb_strv *v = c->caps & NVB_CAP_COMPAT32 ? lib32 : lib64;
    if (push_path(v, dir, soname) < 0)
        return -1;
    /* ldconfig also files a link under its own name when the link's target is named like
     * the SONAME ("libcuda.so -> libcuda.so.1"): the development link made beside it. */
    const char *dev = nvb_driver_lib_dev_link(soname);
    return dev ? push_path(v, dir, dev) : 0;
}

/* Each value of vals after flag in hk's arguments; hk, NULL on no memory. */
static nvb_hook *append_flag_values(nvb_hook *hk, const char *flag, const nvb_strv *vals)
{
    for (size_t i = 0; i < vals->n; i++)
        if (nvb_strv_push(&hk->args, flag) < 0 || nvb_strv_push(&hk->args, vals->v[i]) < 0)
            return NULL;
    return hk;
}

/* A createContainer hook "nvbind hook SUB" with each value of vals after flag. */
static nvb_hook *add_nvbind_hook(nvb_edits *e, const char *hook_path, const char *sub, const char *flag,
                                 const nvb_strv *vals)
{
    nvb_hook *hk = nvb_edits_add_hook(e, "createContainer", hook_path);
    if (!hk || nvb_strv_push(&hk->args, "nvbind") < 0 || nvb_strv_push(&hk->args, "hook") < 0 ||
        nvb_strv_push(&hk->args, sub) < 0)
        return NULL;
    return append_flag_values(hk, flag, vals);
}

/* The hooks: the libraries' SONAME and development links (libcuda.so.1, libcuda.so,
 * GLVND's indirect GLX name) first, then one ldconfig run (both by one update-ldcache hook;
 * create-symlinks only when no folder needs the cache) over every folder that received
 * libraries (loader-module folders aside); it also records those folders in the container's /etc/ld.so.conf.d and, given
 * the host driver's version, prefers a newer CUDA forward-compatibility libcuda. */
static int add_hooks(nvb_edits *e, const nvb_host *h, unsigned caps, const char *hook_path)
{
    nvb_strv links = {0}, devs = {0}, folders = {0}, lib64 = {0}, lib32 = {0};
    bool unknown = nvb_ldcache_native_flags(false) < 0;
    int r = 0;
    for (size_t i = 0; r == 0 && i < h->n_comps; i++) {
        const nvb_component *c = &h->comps[i];
        if (!library_selected(c, caps))
            continue;
        _cleanup_free_ char *dir = dir_of(c->container_path);
        bool cached = dir && !module_folder(dir);
        if (!dir || (cached && !nvb_strv_contains(&folders, dir) && nvb_strv_push(&folders, dir) < 0) ||
            library_links(c, dir, &links, &devs) < 0 ||
            (cached && cache_lib(c, dir, &lib64, &lib32, &unknown) < 0))
            r = -1;
    }
    for (size_t i = 0; r == 0 && i < devs.n; i++)
        if (!nvb_strv_contains(&links, devs.v[i]) && nvb_strv_push(&links, devs.v[i]) < 0)
            r = -1;
    if (r == 0 && nvb_wsl2_links(h, caps, &links) < 0) /* WSL2: nvidia-smi onto PATH */
        r = -1;
    /* One hook process where there is a cache to update: update-ldcache makes the links
     * first. Each hook is a process the runtime starts at every container start. */
    if (r == 0 && links.n && !folders.n && !add_nvbind_hook(e, hook_path, "create-symlinks", "--link", &links))
        r = -1;
    nvb_hook *hk;
    if (r == 0 && folders.n) {
        if (!(hk = add_nvbind_hook(e, hook_path, "update-ldcache", "--link", &links)) ||
            !append_flag_values(hk, "--folder", &folders) ||
            (!unknown && (!append_flag_values(hk, "--lib64", &lib64) || !append_flag_values(hk, "--lib32", &lib32))) ||
            (h->driver_version && !h->wsl2 && nvb_driver_version_ok(h->driver_version) &&
             (nvb_strv_push(&hk->args, "--host-driver-version") < 0 ||
              nvb_strv_push(&hk->args, h->driver_version) < 0)))
            r = -1;
    }
    nvb_strv_free(&links);
    nvb_strv_free(&devs);
    nvb_strv_free(&folders);
    nvb_strv_free(&lib64);
    nvb_strv_free(&lib32);
    return r;
}

/* Where the legacy form mounts c's SONAME: the multiarch folder above c's folder (Debian's
 * nvidia/current is no folder the loader searches; Debian's alternatives put the SONAME
 * there on the host), else c's own folder when the file has another name there; NULL when
 * nothing is to be mounted. Sets *fail on no memory. */
static char *soname_mount_path(const nvb_component *c, const char *soname, bool *fail)
{
    const char *base = strrchr(c->container_path, '/') + 1;
    _cleanup_free_ char *dir = dir_of(c->container_path);
    char *path = NULL;
    if (!dir) {
        *fail = true;
        return NULL;
    }
    size_t up = multiarch_prefix(dir);
    bool below = up && dir[up] == '/';
    if (below)
        dir[up] = '\0';
    else if (strcmp(soname, base) == 0)
        return NULL; /* the file is its SONAME, in a folder of its own kind already */
    if (asprintf(&path, "%s/%s", strcmp(dir, "/") ? dir : "", soname) < 0) {
        *fail = true;
        return NULL;
    }
    return path;
}

int nvb_edits_add_soname_mounts(nvb_edits *e, const nvb_host *h)
{
    size_t n = e->n_mounts; /* only the libraries e had on entry */
    for (size_t i = 0; h && i < h->n_comps; i++) { /* no host: --gpu none discovers nothing */
        const nvb_component *c = &h->comps[i];
        const char *soname = c->kind == NVB_COMP_LIBRARY ? library_soname(c) : NULL;
        if (!soname || strchr(soname, '/'))
            continue;
        bool mounted = false, fail = false;
        for (size_t j = 0; !mounted && j < n; j++)
            mounted = strcmp(e->mounts[j].container_path, c->container_path) == 0;
        if (!mounted)
            continue;
        _cleanup_free_ char *path = soname_mount_path(c, soname, &fail);
        if (fail || (path && !nvb_edits_has_mount(e, path) && append_mount(e, c->host_path, path, false) < 0))
            return -1;
    }
    return 0;
}

int nvb_edits_shared(nvb_edits *e, const nvb_host *h, unsigned caps, const char *hook_path)
{
    for (size_t i = 0; i < h->nodes.n; i++) {
        /* nvidia-modeset serves display and graphics only. */
        if (strcmp(h->nodes.v[i].path, "/dev/nvidia-modeset") == 0 && !(caps & (NVB_CAP_DISPLAY | NVB_CAP_GRAPHICS)))
            continue;
        if (nvb_edits_add_node(e, &h->nodes.v[i]) < 0)
            return -1;
    }
    if (add_component_mounts(e, h, caps) < 0)
        return -1;
    if (nvb_edits_setenv(e, "NVIDIA_VISIBLE_DEVICES", "void") < 0)
        return -1;
    return hook_path ? add_hooks(e, h, caps, hook_path) : 0;
}

/* Set o[key] = v, taking v; false when v is NULL (a string that is not UTF-8, no memory). */
static bool set(json_t *o, const char *key, json_t *v)
{
    return v && json_object_set_new_nocheck(o, key, v) == 0;
}

static bool append(json_t *a, json_t *v)
{
    return v && json_array_append_new(a, v) == 0;
}

static json_t *string_array(const char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        if (!append(a, json_string(v[i]))) {
            json_decref(a);
            return NULL;
        }
    return a;
}

static json_t *node_json(const nvb_devnode *n)
{
    json_t *o = json_object();
    if (o && set(o, "path", json_string(n->path)) && set(o, "hostPath", json_string(n->host_path)) &&
        set(o, "type", json_stringn(&n->type, 1)) && set(o, "major", json_integer(n->major)) &&
        set(o, "minor", json_integer(n->minor)) && set(o, "fileMode", json_integer(n->mode)))
        return o;
    json_decref(o);
    return NULL;
}

static json_t *mount_json(const nvb_mount *m)
{
    const char *const *opts = m->writable ? nvb_mount_options_ipc : nvb_mount_options_ro;
    size_t n = 0;
    while (opts[n])
        n++;
    json_t *o = json_object();
    if (o && set(o, "hostPath", json_string(m->host_path)) && set(o, "containerPath", json_string(m->container_path)) &&
        set(o, "options", string_array(opts, n)))
        return o;
    json_decref(o);
    return NULL;
}

static json_t *hook_json(const nvb_hook *h)
{
    json_t *o = json_object();
    if (o && set(o, "hookName", json_string(h->hook_name)) && set(o, "path", json_string(h->path)) &&
        set(o, "args", string_array((const char *const *)h->args.v, h->args.n)))
        return o;
    json_decref(o);
    return NULL;
}

/* NULL when any string is not valid UTF-8 (JSON cannot hold it) or memory runs out: a spec
 * with a mount silently missing would be worse than none. */
json_t *nvb_edits_to_cdi_json(const nvb_edits *e)
{
    json_t *o = json_object(), *a;
    bool ok = o != NULL;
    if (ok && e->env.n)
        ok = set(o, "env", string_array((const char *const *)e->env.v, e->env.n));
    if (ok && e->nodes.n) {
        ok = set(o, "deviceNodes", a = json_array());
        for (size_t i = 0; ok && i < e->nodes.n; i++)
            ok = append(a, node_json(&e->nodes.v[i]));
    }
    if (ok && e->n_mounts) {
        ok = set(o, "mounts", a = json_array());
        for (size_t i = 0; ok && i < e->n_mounts; i++)
            ok = append(a, mount_json(&e->mounts[i]));
    }
    if (ok && e->n_hooks) {
        ok = set(o, "hooks", a = json_array());
        for (size_t i = 0; ok && i < e->n_hooks; i++)
            ok = append(a, hook_json(&e->hooks[i]));
    }
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}
