/* See cache_ahead.h. */
#include "runtime/cache_ahead.h"
#include "oci/bundle_root.h"
#include "oci/hook_ldcache.h"
#include "oci/ldcache_ahead.h"
#include "oci/root_lock.h"
#include "oci/safepath.h"
#include "util/cleanup.h"
#include "util/log.h"
#include "util/strv.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The update-ldcache hook nvbind's edits hold, as its index; -1 when there is none, or when
 * any other hook is there too. */
static long our_hook(const nvb_edits *all, const char *hook_path)
{
    long found = -1;
    for (size_t i = 0; i < all->n_hooks; i++) {
        const nvb_hook *hk = &all->hooks[i];
        bool ours = strcmp(hk->hook_name, "createContainer") == 0 && nvb_hook_is_nvbinds(hk, hook_path, "update-ldcache");
        if (!ours || found >= 0)
            return -1;
        found = (long)i;
    }
    return found;
}

/* Does anything run, or stand, between now and the container's createContainer hooks that
 * could change what the hook would see: a user namespace (the hook's files would belong to
 * its root), or another tool's hook that runs before it? docker's libnetwork-setkey
 * (prestart) only sets up the network. */
static bool config_forbids(const json_t *config)
{
    json_t *ns = json_object_get(json_object_get(config, "linux"), "namespaces");
    size_t i;
    json_t *v;
    json_array_foreach(ns, i, v)
        if (json_is_string(json_object_get(v, "type")) && strcmp(json_string_value(json_object_get(v, "type")), "user") == 0)
            return true;
    static const char *const before[] = {"prestart", "createRuntime", "createContainer"};
    json_t *hooks = json_object_get(config, "hooks");
    for (size_t k = 0; k < sizeof before / sizeof *before; k++) {
        json_t *list = json_object_get(hooks, before[k]);
        json_array_foreach(list, i, v) {
            json_t *arg0 = json_array_get(json_object_get(v, "args"), 0);
            if (!json_is_string(arg0) || strcmp(json_string_value(arg0), "libnetwork-setkey") != 0)
                return true;
        }
    }
    return false;
}

/* The destination of every mount in config but the driver's own (a document edited before
 * holds them already); false when one has none. */
static bool mount_destinations(const json_t *config, const nvb_edits *all, nvb_strv *out)
{
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(config, "mounts"), i, m) {
        json_t *d = json_object_get(m, "destination");
        if (!json_is_string(d))
            return false;
        if (!nvb_edits_has_mount(all, json_string_value(d)) && nvb_strv_push(out, json_string_value(d)) < 0)
            return false;
    }
    return true;
}

/* The hook's arguments as nvbind's edits write them (lib/policy/edits.c); false on anything
 * else, which the hook itself then reads. */
typedef struct hook_args {
    nvb_link_spec *links;
    size_t nlinks;
    nvb_strv folders;
    nvb_ldcache_lib *libs;
    size_t nlibs;
    const char *host_version;
} hook_args;

static void hook_args_free(hook_args *a)
{
    for (size_t i = 0; i < a->nlinks; i++)
        nvb_link_spec_free(&a->links[i]);
    free(a->links);
    nvb_strv_free(&a->folders);
    free(a->libs);
}

static bool hook_args_parse(const nvb_strv *args, hook_args *a)
{
    *a = (hook_args){0};
    a->links = calloc(args->n, sizeof *a->links);
    a->libs = calloc(args->n, sizeof *a->libs);
    if (!a->links || !a->libs)
        return false;
    for (size_t i = 3; i < args->n; i += 2) {
        if (i + 1 >= args->n)
            return false;
        const char *flag = args->v[i], *val = args->v[i + 1];
        nvb_err err = {0};
        if (strcmp(flag, "--link") == 0) {
            if (nvb_link_spec_parse(val, &a->links[a->nlinks], &err) < 0)
                return false;
            a->nlinks++;
        } else if (strcmp(flag, "--folder") == 0) {
            if (!nvb_container_path_ok(val, false, NULL) || nvb_strv_push(&a->folders, val) < 0)
                return false;
        } else if (strcmp(flag, "--lib64") == 0 || strcmp(flag, "--lib32") == 0) {
            if (!nvb_container_path_ok(val, false, NULL))
                return false;
            a->libs[a->nlibs++] = (nvb_ldcache_lib){.path = val, .is32 = flag[5] == '3'};
        } else if (strcmp(flag, "--host-driver-version") == 0) {
            a->host_version = val;
        } else if (strcmp(flag, "--root-path") != 0) {
            return false;
        }
    }
    return true;
}

void nvb_cache_ahead(nvb_edits *all, const json_t *config, const char *bundle, const char *hook_path)
{
    long k = our_hook(all, hook_path);
    if (k < 0 || geteuid() != 0 || config_forbids(config))
        return;
    nvb_strv covered = {0};
    hook_args a;
    bool parsed = hook_args_parse(&all->hooks[k].args, &a);
    const char **files = calloc(all->n_mounts + 1, sizeof *files);
    nvb_err err = {0};
    _cleanup_free_ char *root = parsed && files && mount_destinations(config, all, &covered)
                                    ? nvb_oci_config_root_host_path(config, bundle ? bundle : ".", &err)
                                    : NULL;
    if (root) {
        for (size_t i = 0; i < all->n_mounts; i++)
            files[i] = all->mounts[i].container_path;
        nvb_ldcache_ahead ahead = {.files = files, .nfiles = all->n_mounts,
                                   .covered = (const char *const *)covered.v, .ncovered = covered.n};
        nvb_hook_ldcache_opts o = {
            .root_path = root,
            .folders = (const char *const *)a.folders.v,
            .nfolders = a.folders.n,
            .host_driver_version = a.host_version,
            .timeout_ms = NVB_ROOT_LOCK_WAIT_MS_DEFAULT,
            .links = a.links,
            .nlinks = a.nlinks,
            .warn = stderr,
            .libs = a.libs,
            .nlibs = a.nlibs,
        };
        const char *why = NULL;
        int r = nvb_ldcache_ahead_of_runtime(&o, &ahead, &why, &err);
        if (r == 1)
            nvb_edits_remove_hook(all, (size_t)k);
        else
            nvb_log(NVB_LOG_DEBUG, "update-ldcache left to the hook: %s", r < 0 ? err.msg : why);
    }
    free(files);
    hook_args_free(&a);
    nvb_strv_free(&covered);
}
