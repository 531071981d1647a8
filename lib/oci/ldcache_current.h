/* Whether a container image's own /etc/ld.so.cache still says what ldconfig would find in
 * it, so that the update-ldcache hook may add the driver's libraries to it instead of
 * running ldconfig over every library of the image. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

/* The folders ldconfig scans in the root rootfd: those /etc/ld.so.conf names (its include
 * patterns followed, as ldconfig does, inside the root), the driver's folders (container
 * paths, which the hook's ldconfig scans first) and the system folders (/lib/<triplet>,
 * /usr/lib/<triplet>, /lib64, /usr/lib64, /lib, /usr/lib).
 *
 * With cache (the image's cache file's stat; names: the folder names of its entries and of
 * the driver's files, nvb_ldcache_names.h): true when no configuration file changed after
 * the cache was written, no folder has a glibc-hwcaps subfolder, and every ELF library
 * ("lib*.so*", not an unversioned link) in a configured or driver folder is accounted for
 * by names. System folders are not listed: the loader searches them when the cache lacks a
 * name, and finds the same file.
 * Without a cache (NULL): true when no configured folder but the system ones holds a
 * library, so that the container's loader finds every library of the image without a
 * cache as before.
 *
 * false also when the configuration is more than this reads (includes nested deeper than 8,
 * more than 256 files, 256 include patterns, 4096 folder lines or 1024 folders, 100000 folder
 * entries listed or 4096 library headers read in all, a file over 64 KiB or with a NUL byte,
 * a wildcard in a folder part of an include pattern), and, with ahead (made ahead of the runtime, oci/ldcache_ahead.h),
 * when a mount the runtime makes later is at, above or inside any file or folder read, by
 * its path as written or as reached through the image's links (or, for one not there, the
 * nearest folder above it that is). *why says why in a few words when false. */
typedef struct nvb_folder_names nvb_folder_names;
typedef struct nvb_ldcache_ahead nvb_ldcache_ahead;
bool nvb_ldcache_current(int rootfd, const struct stat *cache, nvb_folder_names *names,
                         const char *const *driver_folders, size_t nfolders, const nvb_ldcache_ahead *ahead,
                         const char **why);
