/* The update-ldcache hook's fast path: the container's /etc/ld.so.cache written by nvbind
 * itself, the driver's libraries added to the image's own cache, where ldconfig would have
 * read the ELF header of every library of the image to arrive at the same entries. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include "oci/symlinks.h"
#include "util/error.h"

typedef struct nvb_ldcache_lib {
    const char *path;   /* container path FOLDER/SONAME: the SONAME link, or the file itself */
    bool is32;          /* of the machine's 32-bit companion ABI (i386 on x86-64) */
} nvb_ldcache_lib;

/* The bytes of the container's new cache, built without writing anything, when the fast
 * path applies: the image's /etc/ld.so.cache is a regular file that parses, is in ldconfig's
 * order and is current (nvb_ldcache_current; the driver's files in its folders are libs,
 * the links and their targets), or is absent where the image's loader needs none; the
 * machine's library flags are known. Each library in
 * libs that is a file in the root is added under its SONAME (the path's last part).
 * With ahead (oci/ldcache_ahead.h; NULL in the hook), the driver's mounts count as made
 * and a later mount over anything read makes the cache not current.
 * Returns 1 with *out (malloc'd) and *len, *out NULL when the image's cache holds exactly
 * those bytes already (a restart); 0 when ldconfig must run instead, *why saying why; -1
 * with err on no memory. */
typedef struct nvb_ldcache_ahead nvb_ldcache_ahead;
int nvb_ldcache_direct_build(int rootfd, const nvb_ldcache_lib *libs, size_t nlibs, const nvb_link_spec *links,
                             size_t nlinks, const char *const *folders, size_t nfolders,
                             const nvb_ldcache_ahead *ahead, void **out, size_t *len, const char **why, nvb_err *err);

/* Replace the root's /etc/ld.so.cache with those bytes, atomically (a file of its own
 * renamed into place; nothing at that name is followed); nothing when bytes is NULL.
 * NVB_EXIT_IO on failure. */
int nvb_ldcache_direct_write(int rootfd, const void *bytes, size_t len, nvb_err *err);
