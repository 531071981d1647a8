/* Running the host's ldconfig on a container's root filesystem, confined to it. */
#pragma once
#include <stddef.h>
#include "util/error.h"

#define NVB_LDCONFIG_TIMEOUT_MS_DEFAULT 10000u

typedef struct nvb_ldconfig_job {
    int exe_fd;                 /* host ldconfig, opened and checked (nvb_host_ldconfig_open) */
    const char *exe_path;       /* its path, for messages */
    const char *root_path;      /* host path of the container's root (from config.json) */
    int root_fd;                /* that root opened O_PATH in our mount namespace */
    const char *const *folders; /* container folders to add to the cache (validated) */
    size_t nfolders;
    unsigned timeout_ms;        /* the child is killed after this long */
} nvb_ldconfig_job;

/* Build /etc/ld.so.cache inside the container: start a child (sharing our memory until its
 * exec); in it make a private mount namespace, hide kernel interface mounts beneath the
 * root, apply Landlock, chroot into the root, keep only CAP_DAC_OVERRIDE, set no_new_privs,
 * a seccomp filter and small rlimits, then execute the host ldconfig by fd with a fixed
 * environment (PATH=/usr/sbin:/usr/bin:/sbin:/bin) and arguments
 * "ldconfig -i -C /etc/ld.so.cache -f /etc/ld.so.conf FOLDER...".
 * ldconfig writes the cache to a temporary file and renames it into place, so a symlink
 * at /etc/ld.so.cache is replaced, not followed. Errors: NVB_EXIT_RUNTIME (setup failed,
 * ldconfig failed, timed out). */
int nvb_ldconfig_run(const nvb_ldconfig_job *job, nvb_err *err);
