/* Whether a container image's own /etc/ld.so.cache still says what ldconfig would find in
 * it, so that the update-ldcache hook may add the driver's libraries to it instead of
 * running ldconfig over every library of the image. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

/* The folders ldconfig scans in the root rootfd: those /etc/ld.so.conf names (its include
 * patterns followed, as ldconfig does, inside the root) and the system folders
 * (/lib/<triplet>, /usr/lib/<triplet>, /lib64, /usr/lib64, /lib, /usr/lib), less the
 * folders in skip (the driver's, container paths: the runtime has just mounted files into
 * them, and the hook adds their driver entries itself).
 *
 * With cache (the image's cache file's stat): true when none of those folders that holds
 * libraries ("lib*.so*", "ld-*.so*"), none of the configuration files and none of the
 * folders those live in changed after the cache was written (a modification time equal to
 * the cache's counts as after when the cache's has no fraction of a second: layers stored
 * with whole seconds cannot tell the order). A folder with a glibc-hwcaps subfolder is not
 * judged (false).
 * Without a cache (NULL): true when no folder beyond the system ones exists, so that the
 * container's loader finds every library of the image without a cache as before.
 *
 * false also when the configuration is more than this reads (includes nested deeper than 8,
 * more than 256 files or 1024 folders, a file over 64 KiB, a wildcard in a folder part of
 * an include pattern). *why says why in a few words when false. */
bool nvb_ldcache_current(int rootfd, const struct stat *cache, const char *const *skip, size_t nskip,
                         const char **why);
