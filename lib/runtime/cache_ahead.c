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
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
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

/* docker's own prestart hook: dockerd runs itself again ("/proc/PID/exe") as
 * libnetwork-setkey. Another program under that name is another tool's hook. */
static bool dockers_setkey(const json_t *hook)
{
    json_t *path = json_object_get(hook, "path"), *arg0 = json_array_get(json_object_get(hook, "args"), 0);
    if (!json_is_string(path) || !json_is_string(arg0) || strcmp(json_string_value(arg0), "libnetwork-setkey") != 0)
        return false;
    const char *p = json_string_value(path);
    if (strncmp(p, "/proc/", 6) != 0)
        return false;
    size_t digits = strspn(p + 6, "0123456789");
    return digits > 0 && strcmp(p + 6 + digits, "/exe") == 0;
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
            if (!dockers_setkey(v))
                return true;
        }
    }
    return false;
}

/* A mount whose source brings a tree of its own (a bind of a host folder or a volume, an
 * overlay, a disk): it may hold links, which runc follows for the mounts made inside it
 * after it. Only the kernel's own file systems bring none. */
static bool brings_a_tree(const json_t *m)
{
    static const char *const empty[] = {"proc", "sysfs", "devpts", "mqueue", "cgroup", "cgroup2", "tmpfs"};
    size_t i;
    json_t *o;
    json_array_foreach(json_object_get(m, "options"), i, o) {
        const char *opt = json_string_value(o);
        if (opt && (strcmp(opt, "bind") == 0 || strcmp(opt, "rbind") == 0 || strcmp(opt, "tmpcopyup") == 0))
            return true;
    }
    const char *type = json_string_value(json_object_get(m, "type"));
    for (size_t k = 0; type && k < sizeof empty / sizeof *empty; k++)
        if (strcmp(type, empty[k]) == 0)
            return false;
    return true;
}

/* Whether a place a lookup goes through is at, above or inside a destination in trees. */
static bool behind_a_tree(const char *at, void *trees)
{
    const nvb_strv *t = trees;
    nvb_ldcache_ahead mounts = {.covered = (const char *const *)t->v, .ncovered = t->n};
    return nvb_ldcache_ahead_covers(&mounts, at);
}

/* What the runtime makes in the container before its createContainer hooks run: the
 * destination of every mount in config but the driver's own (a document edited before holds
 * them already) and every device node, each as written and where runc puts it: it follows
 * the image's symbolic links on the way (a mount at "/data" lands in "/usr/local/lib" when
 * the image links one to the other; nvb_root_resolve). A destination whose way passes
 * through an earlier mount that brings a tree is resolved by runc through that tree, which is
 * not on disk here; it, like one that cannot be resolved, counts as "/" (everything). false
 * when one has no path, or on no memory. */
static bool runtime_destinations(const json_t *config, const nvb_edits *all, int root_fd, nvb_strv *out)
{
    nvb_strv trees = {0};
    bool ok = true;
    static const char *const lists[][3] = {{"mounts", NULL, "destination"}, {"linux", "devices", "path"}};
    for (size_t l = 0; ok && l < sizeof lists / sizeof *lists; l++) {
        json_t *list = json_object_get(config, lists[l][0]);
        if (lists[l][1])
            list = json_object_get(list, lists[l][1]);
        size_t i;
        json_t *m;
        json_array_foreach(list, i, m) {
            json_t *d = json_object_get(m, lists[l][2]);
            if (!(ok = json_is_string(d)))
                break;
            const char *dest = json_string_value(d);
            if (l == 0 && nvb_edits_has_mount(all, dest))
                continue;
            char resolved[PATH_MAX];
            int r = nvb_container_path_ok(dest, true, NULL) ? nvb_root_resolve(root_fd, dest, resolved, behind_a_tree, &trees)
                                                            : -1;
            bool known = r == 0 && !behind_a_tree(dest, &trees);
            ok = nvb_strv_push(out, known ? dest : "/") == 0 &&
                 (!known || strcmp(resolved, dest) == 0 || nvb_strv_push(out, resolved) == 0);
            if (ok && l == 0 && brings_a_tree(m))
                ok = nvb_strv_push(&trees, dest) == 0 && (!known || nvb_strv_push(&trees, resolved) == 0);
            if (!ok)
                break;
        }
    }
    nvb_strv_free(&trees);
    return ok;
}

void nvb_cache_ahead(nvb_edits *all, const json_t *config, const char *bundle, const char *hook_path)
{
    long k = our_hook(all, hook_path);
    if (k < 0 || geteuid() != 0 || config_forbids(config))
        return;
    if (!bundle)
        bundle = ".";
    nvb_ldcache_hook_args a;
    nvb_ldcache_hook_args_init(&a);
    nvb_strv covered = {0};
    nvb_err err = {0};
    const char **files = NULL;
    _cleanup_free_ char *root = NULL;
    _cleanup_close_ int root_fd = -1;
    const char *why = NULL;
    /* Arguments the hook would refuse, or any but the ones nvbind's edits write, are the
     * hook's to report: it runs. */
    if (!nvb_ldcache_hook_args_parse(&a, (const char *const *)all->hooks[k].args.v, all->hooks[k].args.n, &err)) {
        why = err.msg;
        goto keep_hook;
    }
    if (!(root = nvb_oci_config_root_host_path(config, bundle, &err))) {
        why = err.msg;
        goto keep_hook;
    }
    /* Opened as runc will take it: a root reached through a symbolic link (which runc
     * refuses anyway) could be swapped for another tree between here and runc. */
    if ((root_fd = nvb_root_open_as_runtime(bundle, nvb_oci_config_root_value(config, bundle, &err))) < 0) {
        why = errno == ELOOP ? "the root is reached through a symbolic link, which the runtime refuses"
                             : "the root cannot be opened";
        goto keep_hook;
    }
    if (!(files = calloc(all->n_mounts + 1, sizeof *files)) || !runtime_destinations(config, all, root_fd, &covered)) {
        why = "the runtime's mounts and devices cannot be told";
        goto keep_hook;
    }
    for (size_t i = 0; i < all->n_mounts; i++)
        files[i] = all->mounts[i].container_path;
    nvb_ldcache_ahead ahead = {.root_fd = root_fd, .files = files, .nfiles = all->n_mounts,
                               .covered = (const char *const *)covered.v, .ncovered = covered.n};
    nvb_hook_ldcache_opts o = nvb_ldcache_hook_args_opts(&a);
    o.root_path = root;
    o.warn = stderr;
    int r = nvb_ldcache_ahead_of_runtime(&o, &ahead, &why, &err);
    if (r == 1)
        nvb_edits_remove_hook(all, (size_t)k);
    else if (r < 0)
        why = err.msg;
keep_hook:
    if (why)
        nvb_log(NVB_LOG_DEBUG, "update-ldcache left to the hook: %s", why);
    free(files);
    nvb_ldcache_hook_args_free(&a);
    nvb_strv_free(&covered);
}
