/* The update-ldcache hook's arguments, read one way: `nvbind hook update-ldcache` reads them
 * from its command line (the runtime runs it with what nvbind's spec wrote, lib/policy/edits.c),
 * and nvbind-runtime reads the same list back from config.json when it does the hook's work
 * before the runtime runs (runtime/cache_ahead.h). One reader, so that both accept and refuse
 * exactly the same values. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include "oci/hook_ldcache.h"
#include "util/error.h"
#include "util/strv.h"

typedef struct nvb_ldcache_hook_args {
    nvb_strv folders;          /* --folder, each once, in order */
    nvb_link_spec *links;      /* --link */
    size_t nlinks;
    nvb_ldcache_lib *libs;     /* --lib64 / --lib32; paths point into the caller's strings */
    size_t nlibs;
    const char *ldconfig;      /* --ldconfig */
    const char *host_version;  /* --host-driver-version */
    const char *root_path;     /* --root-path (checked where it is used: nvb_oci_state_root_open) */
    unsigned timeout_ms;       /* --timeout SECONDS, as milliseconds */
} nvb_ldcache_hook_args;

/* The defaults: no values, the ldconfig timeout NVB_LDCONFIG_TIMEOUT_MS_DEFAULT. */
void nvb_ldcache_hook_args_init(nvb_ldcache_hook_args *a);
void nvb_ldcache_hook_args_free(nvb_ldcache_hook_args *a);

/* Take one option, its long name without dashes ("folder") and its value, which must outlive
 * a. 0; or -1 with err (NVB_EXIT_USAGE) saying "--NAME VALUE: why", also for a name the hook
 * does not have. */
int nvb_ldcache_hook_arg(nvb_ldcache_hook_args *a, const char *name, const char *value, nvb_err *err);

/* The hook's whole argument list as nvbind's edits write it: args[0] the program, then the
 * word "hook", "update-ldcache" and "--NAME VALUE" pairs. false, with err, on anything else. */
bool nvb_ldcache_hook_args_parse(nvb_ldcache_hook_args *a, const char *const *args, size_t n, nvb_err *err);

/* The options for nvb_hook_update_ldcache or nvb_ldcache_ahead_of_runtime that a holds
 * (state_fd and warn left to the caller); they point into a. */
nvb_hook_ldcache_opts nvb_ldcache_hook_args_opts(const nvb_ldcache_hook_args *a);
