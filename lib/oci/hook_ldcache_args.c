/* See hook_ldcache_args.h. */
#include "oci/hook_ldcache_args.h"
#include "oci/cuda_compat.h"
#include "oci/ldconfig_run.h"
#include "oci/safepath.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void nvb_ldcache_hook_args_init(nvb_ldcache_hook_args *a)
{
    *a = (nvb_ldcache_hook_args){.timeout_ms = NVB_LDCONFIG_TIMEOUT_MS_DEFAULT};
}

void nvb_ldcache_hook_args_free(nvb_ldcache_hook_args *a)
{
    for (size_t i = 0; i < a->nlinks; i++)
        nvb_link_spec_free(&a->links[i]);
    free(a->links);
    free(a->libs);
    nvb_strv_free(&a->folders);
    nvb_ldcache_hook_args_init(a);
}

/* Whole seconds, 1 to 3600, as milliseconds. */
static bool timeout_ms(const char *s, unsigned *ms)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || v == 0 || v > 3600)
        return false;
    *ms = (unsigned)v * 1000u;
    return true;
}

static int no_memory(const char *name, nvb_err *err)
{
    return nvb_errf_errno(err, NVB_EXIT_IO, ENOMEM, "--%s", name);
}

int nvb_ldcache_hook_arg(nvb_ldcache_hook_args *a, const char *name, const char *value, nvb_err *err)
{
    const char *why = NULL;
    if (strcmp(name, "folder") == 0) {
        if (!nvb_container_path_ok(value, false, &why))
            return nvb_errf(err, NVB_EXIT_USAGE, "--folder %.300s: %s", value, why);
        if (!nvb_strv_contains(&a->folders, value) && nvb_strv_push(&a->folders, value) < 0)
            return no_memory(name, err);
    } else if (strcmp(name, "link") == 0) {
        nvb_link_spec *more = realloc(a->links, (a->nlinks + 1) * sizeof *more);
        if (!more)
            return no_memory(name, err);
        a->links = more;
        if (nvb_link_spec_parse(value, &a->links[a->nlinks], err) < 0)
            return -1;
        a->nlinks++;
    } else if (strcmp(name, "lib64") == 0 || strcmp(name, "lib32") == 0) {
        if (!nvb_container_path_ok(value, false, &why))
            return nvb_errf(err, NVB_EXIT_USAGE, "--%s %.300s: %s", name, value, why);
        nvb_ldcache_lib *more = realloc(a->libs, (a->nlibs + 1) * sizeof *more);
        if (!more)
            return no_memory(name, err);
        a->libs = more;
        a->libs[a->nlibs++] = (nvb_ldcache_lib){.path = value, .is32 = name[3] == '3'};
    } else if (strcmp(name, "ldconfig") == 0) {
        if (value[0] != '/')
            return nvb_errf(err, NVB_EXIT_USAGE, "--ldconfig %.300s: not an absolute path", value);
        a->ldconfig = value;
    } else if (strcmp(name, "host-driver-version") == 0) {
        if (!nvb_driver_version_ok(value))
            return nvb_errf(err, NVB_EXIT_USAGE, "--host-driver-version %.300s: not a driver version like 550.54.14",
                            value);
        a->host_version = value;
    } else if (strcmp(name, "timeout") == 0) {
        if (!timeout_ms(value, &a->timeout_ms))
            return nvb_errf(err, NVB_EXIT_USAGE, "--timeout %.300s: expected whole seconds, 1 to 3600", value);
    } else if (strcmp(name, "root-path") == 0) {
        a->root_path = value;
    } else {
        return nvb_errf(err, NVB_EXIT_USAGE, "--%.100s: not an option of update-ldcache", name);
    }
    return 0;
}

bool nvb_ldcache_hook_args_parse(nvb_ldcache_hook_args *a, const char *const *args, size_t n, nvb_err *err)
{
    if (n < 3 || strcmp(args[1], "hook") != 0 || strcmp(args[2], "update-ldcache") != 0) {
        nvb_errf(err, NVB_EXIT_USAGE, "not an update-ldcache hook");
        return false;
    }
    for (size_t i = 3; i < n; i += 2) {
        if (strncmp(args[i], "--", 2) != 0 || i + 1 >= n) {
            nvb_errf(err, NVB_EXIT_USAGE, "%.300s: expected --NAME VALUE", args[i]);
            return false;
        }
        if (nvb_ldcache_hook_arg(a, args[i] + 2, args[i + 1], err) < 0)
            return false;
    }
    return true;
}

nvb_hook_ldcache_opts nvb_ldcache_hook_args_opts(const nvb_ldcache_hook_args *a)
{
    return (nvb_hook_ldcache_opts){
        .root_path = a->root_path,
        .ldconfig = a->ldconfig,
        .folders = (const char *const *)a->folders.v,
        .nfolders = a->folders.n,
        .host_driver_version = a->host_version,
        .timeout_ms = a->timeout_ms,
        .links = a->links,
        .nlinks = a->nlinks,
        .libs = a->libs,
        .nlibs = a->nlibs,
    };
}
