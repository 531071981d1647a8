/* The update-ldcache hook, as a library call: the nvbind CLI's `nvbind hook update-ldcache`
 * is a thin skin over it, and an embedding runtime can run it in-process. */
#pragma once
#include <stddef.h>
#include <stdio.h>
#include "oci/ldcache_direct.h"
#include "oci/symlinks.h"
#include "util/error.h"

typedef struct nvb_hook_ldcache_opts {
    int state_fd;                   /* the OCI container state (the hook's stdin) */
    const char *root_path;          /* root.path of the bundle's config.json when the hook's
                                     * writer said it (--root-path); NULL: read it there.
                                     * Ahead of the runtime: the root's host path */
    const char *ldconfig;           /* host ldconfig override, NULL: the usual places */
    const char *const *folders;     /* container folders the driver's libraries are in */
    size_t nfolders;
    const char *host_driver_version;/* enables CUDA forward compatibility; NULL: off */
    unsigned timeout_ms;            /* for ldconfig, and for the wait on the root's lock */
    const nvb_link_spec *links;     /* made first, as create-symlinks makes them (one hook
                                     * process instead of two at every container start) */
    size_t nlinks;
    FILE *warn;                     /* a link's path that is not a symlink is named here */
    const nvb_ldcache_lib *libs;    /* the driver's libraries under their SONAMEs, each in one
                                     * of folders: when given, the cache may be written
                                     * without ldconfig (nvb_ldcache_direct_build) */
    size_t nlibs;
} nvb_hook_ldcache_opts;

/* Open the host ldconfig before anything of the container is looked at; find and lock the
 * container's root; make the links (nvb_root_make_links: before ldconfig scans the folders,
 * so that no development link dangles there); keep /etc/ld.so.conf.d/NVB_LDCONF_DRIVER listing the folders (and
 * NVB_LDCONF_COMPAT naming /usr/local/cuda/compat when it holds a libcuda newer than the
 * host driver, removed otherwise); then rebuild /etc/ld.so.cache: with libs given, no
 * compat folder wanted and the image's cache current, by adding libs to the image's cache
 * (nvb_ldcache_direct_build); otherwise with the confined host ldconfig, the compat folder
 * and then the driver folders first. */
int nvb_hook_update_ldcache(const nvb_hook_ldcache_opts *o, nvb_err *err);

/* The same work done by nvbind-runtime's create before the runtime runs (oci/ldcache_ahead.h),
 * so that the hook can be left out of config.json: o->root_path is the root's host path,
 * state_fd and ldconfig are not used. Only when nvbind can write the cache itself and no
 * mount of the container (ahead->covered) is at, above or inside the loader's files, the
 * driver's folders and links, /usr, /lib*, or a folder or file the loader configuration
 * names. Returns 1 when the links, the loader configuration and the cache are in place; 0
 * when the hook must do it in the container's view (*why; links made here are made again
 * there, unchanged); -1 with err. Files and folders are made under umask 022, as the hook
 * makes them; the caller's umask is restored. */
typedef struct nvb_ldcache_ahead nvb_ldcache_ahead;
int nvb_ldcache_ahead_of_runtime(const nvb_hook_ldcache_opts *o, const nvb_ldcache_ahead *ahead, const char **why,
                                 nvb_err *err);
