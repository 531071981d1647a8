/* See cache_ahead.h. */
#include "runtime/cache_ahead.h"
#include "oci/bundle_root.h"
#include "oci/hook_ldcache.h"
#include "oci/hook_ldcache_args.h"
#include "oci/ldcache_ahead.h"
#include "oci/safepath.h"
#include "util/cleanup.h"
#include "util/log.h"
#include "util/strv.h"

#include <errno.h>
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

void nvb_cache_ahead(nvb_edits *all, const json_t *config, const char *bundle, const char *hook_path)
{
    long k = our_hook(all, hook_path);
    if (k < 0 || geteuid() != 0 || config_forbids(config))
        return;
    nvb_strv covered = {0};
    nvb_ldcache_hook_args a;
    nvb_ldcache_hook_args_init(&a);
    nvb_err err = {0};
    /* Arguments the hook would refuse, or any but the ones nvbind's edits write, are the
     * hook's to report: it runs. */
    bool parsed = nvb_ldcache_hook_args_parse(&a, (const char *const *)all->hooks[k].args.v, all->hooks[k].args.n, &err);
    const char **files = calloc(all->n_mounts + 1, sizeof *files);
    if (!bundle)
        bundle = ".";
    _cleanup_free_ char *root = parsed && files && mount_destinations(config, all, &covered)
                                    ? nvb_oci_config_root_host_path(config, bundle, &err)
                                    : NULL;
    /* Opened as runc will take it: a root reached through a symbolic link (which runc
     * refuses anyway) could be swapped for another tree between here and runc. */
    _cleanup_close_ int root_fd = root ? nvb_root_open_as_runtime(bundle, nvb_oci_config_root_value(config, bundle, &err)) : -1;
    if (root && root_fd < 0) {
        nvb_log(NVB_LOG_DEBUG, "update-ldcache left to the hook: root %s: %s", root,
                errno == ELOOP ? "a symbolic link on the way, which the runtime refuses" : strerror(errno));
    } else if (root) {
        for (size_t i = 0; i < all->n_mounts; i++)
            files[i] = all->mounts[i].container_path;
        nvb_ldcache_ahead ahead = {.root_fd = root_fd, .files = files, .nfiles = all->n_mounts,
                                   .covered = (const char *const *)covered.v, .ncovered = covered.n};
        nvb_hook_ldcache_opts o = nvb_ldcache_hook_args_opts(&a);
        o.root_path = root;
        o.warn = stderr;
        const char *why = NULL;
        int r = nvb_ldcache_ahead_of_runtime(&o, &ahead, &why, &err);
        if (r == 1)
            nvb_edits_remove_hook(all, (size_t)k);
        else
            nvb_log(NVB_LOG_DEBUG, "update-ldcache left to the hook: %s", r < 0 ? err.msg : why);
    } else if (!parsed) {
        nvb_log(NVB_LOG_DEBUG, "update-ldcache left to the hook: its arguments: %s", err.msg);
    }
    free(files);
    nvb_ldcache_hook_args_free(&a);
    nvb_strv_free(&covered);
}
