/* The container's loader cache made ahead of its runtime: nvbind-runtime's create does the
 * update-ldcache hook's work itself, before it hands the bundle to runc, and leaves the
 * hook out of config.json. The runtime's mounts are not made yet then: what the hook would
 * find in the container's mount namespace is told here. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

typedef struct nvb_ldcache_ahead {
    int root_fd;                /* the root, O_PATH, as the runtime will take it
                                 * (nvb_root_open_as_runtime); the caller's to close */
    const char *const *files;   /* destinations of the driver's own mounts: files once mounted */
    size_t nfiles;
    const char *const *covered; /* destinations of every other mount of the container */
    size_t ncovered;
} nvb_ldcache_ahead;

/* Whether one of the container paths a and b is the other or a folder above it, compared by
 * components ("/usr" and "/usr/lib" are, "/usr/lib" and "/usr/lib64" are not). A path that
 * is not normalised (nvb_container_path_ok; "/" is) is related to everything. */
bool nvb_path_related(const char *a, const char *b);

/* Whether a mount the runtime makes later is at path, above it or inside it: what the
 * container sees there is not what the root holds now. false when ahead is NULL. */
bool nvb_ldcache_ahead_covers(const nvb_ldcache_ahead *ahead, const char *path);

/* nvb_ldcache_ahead_covers for where a lookup of path (normalised) inside rootfd goes:
 * path as written, the place of each symbolic link of the image met on the way, and where
 * it ends (nvb_root_resolve). true when that cannot be told. false when ahead is NULL or
 * holds no later mounts. */
bool nvb_ldcache_ahead_reaches(const nvb_ldcache_ahead *ahead, int rootfd, const char *path);

/* Whether path is where one of the driver's mounts puts a file. false when ahead is NULL. */
bool nvb_ldcache_ahead_file(const nvb_ldcache_ahead *ahead, const char *path);
