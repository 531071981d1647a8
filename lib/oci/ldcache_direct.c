/* The update-ldcache hook's fast path; see ldcache_direct.h. */
#include "oci/ldcache_direct.h"
#include "ldcache/ldcache.h"
#include "ldcache/ldcache_write.h"
#include "nvbind.h"
#include "oci/ldcache_ahead.h"
#include "oci/ldcache_current.h"
#include "oci/ldcache_names.h"
#include "oci/safepath.h"
#include "util/cleanup.h"
#include "util/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CACHE_NAME "ld.so.cache"

/* The image's cache file, read whole (not mapped: a process sharing the root could
 * truncate a mapped file under us), and only when it is a regular file. 1 read, 0 absent,
 * -1 not usable (*why). */
static int read_image_cache(int rootfd, void **buf, size_t *len, struct stat *st, const char **why)
{
    /* /etc resolved inside the root; the cache itself not followed. */
    int path_fd = nvb_root_open(rootfd, "/etc/" CACHE_NAME, O_PATH | O_NOFOLLOW);
    if (path_fd < 0 && errno == ENOENT)
        return 0;
    _cleanup_close_ int fd = nvb_reopen_regular(path_fd, st);
    if (fd < 0)
        return *why = "the image's /etc/ld.so.cache is not a regular file, or cannot be opened", -1;
    if (st->st_size > NVB_LDCACHE_MAX_SIZE)
        return *why = "the image's /etc/ld.so.cache is larger than a cache can be", -1;
    size_t got = 0;
    char *p = nvb_read_fd(fd, NVB_LDCACHE_MAX_SIZE + 1, &got);
    if (!p || got != (size_t)st->st_size) {   /* a read error, or the file changed size while read */
        free(p);
        return *why = "the image's /etc/ld.so.cache could not be read whole", -1;
    }
    *buf = p;
    *len = got;
    return 1;
}

/* Whether the file or link name is in the folder dir of the root. The folder is opened
 * once for each run of libraries in it (*dirfd, dir_len bytes of *dir_at): the libraries
 * come grouped by folder, and this runs for each at every container start. */
static bool present(int rootfd, const char *path, int *dirfd, const char **dir_at, size_t *dir_len,
                    const nvb_ldcache_ahead *ahead)
{
    const char *slash = strrchr(path, '/');
    size_t len = (size_t)(slash - path);
    if (*dirfd < 0 || len != *dir_len || memcmp(path, *dir_at, len)) {
        if (*dirfd >= 0)
            close(*dirfd);
        char dir[PATH_MAX];
        nvb_container_folder(path, dir);
        *dirfd = nvb_root_open(rootfd, dir, O_PATH | O_DIRECTORY);
        *dir_at = path;
        *dir_len = len;
    }
    struct stat st;
    /* Not followed: a name without a slash, in a folder resolved inside the root. The
     * links are the hook's own, made just before, to files the runtime mounted (or, ahead
     * of the runtime, will mount). */
    if (*dirfd >= 0 && fstatat(*dirfd, slash + 1, &st, AT_SYMLINK_NOFOLLOW) == 0)
        return S_ISREG(st.st_mode) || S_ISLNK(st.st_mode);
    return nvb_ldcache_ahead_file(ahead, path);
}

/* The driver's entries: each library that is there, under the last part of its path. */
static nvb_ldcache_entry *driver_entries(int rootfd, const nvb_ldcache_lib *libs, size_t nlibs,
                                         const nvb_ldcache_ahead *ahead, size_t *n, const char **why)
{
    nvb_ldcache_entry *v = calloc(nlibs ? nlibs : 1, sizeof *v);
    if (!v)
        return *why = "out of memory", NULL;
    *n = 0;
    int dirfd = -1;
    const char *dir_at = NULL;
    size_t dir_len = 0;
    for (size_t i = 0; i < nlibs; i++) {
        int flags = nvb_ldcache_native_flags(libs[i].is32);
        if (flags < 0) {
            free(v);
            v = NULL;
            *why = "this machine's library flags are not known";
            break;
        }
        if (!present(rootfd, libs[i].path, &dirfd, &dir_at, &dir_len, ahead))
            continue;   /* ldconfig lists only libraries that are there */
        v[(*n)++] = (nvb_ldcache_entry){ .name = strrchr(libs[i].path, '/') + 1, .path = libs[i].path,
                                         .flags = flags };
    }
    if (dirfd >= 0)
        close(dirfd);
    return v;
}

/* The names the cache accounts for, and the driver's files: each library, each link and
 * each link's target in the link's folder (the file the runtime mounted). targets gets the
 * strings made for those, which names points into. NULL when out of memory or the cache
 * names too many folders. */
static nvb_folder_names *known_names(int rootfd, const nvb_ldcache *img, const nvb_ldcache_lib *libs, size_t nlibs,
                                     const nvb_link_spec *links, size_t nlinks, char ***targets)
{
    nvb_folder_names *names = nvb_folder_names_new(rootfd);
    *targets = calloc(nlinks ? nlinks : 1, sizeof **targets);
    int r = names && *targets ? 0 : -1;
    for (size_t i = 0; r == 0 && i < img->n; i++)
        r = nvb_folder_names_add(names, img->entries[i].path);
    for (size_t i = 0; r == 0 && i < nlibs; i++)
        r = nvb_folder_names_add(names, libs[i].path);
    for (size_t i = 0; r == 0 && i < nlinks; i++) {
        const char *slash = strrchr(links[i].link, '/');
        r = nvb_folder_names_add(names, links[i].link);
        if (r == 0 && !strchr(links[i].target, '/')) {
            if (asprintf(&(*targets)[i], "%.*s/%s", (int)(slash - links[i].link), links[i].link,
                         links[i].target) < 0)
                (*targets)[i] = NULL, r = -1;
            else
                r = nvb_folder_names_add(names, (*targets)[i]);
        }
    }
    if (r < 0) {
        nvb_folder_names_free(names);
        return NULL;
    }
    return names;
}

static void free_targets(char **targets, size_t n)
{
    for (size_t i = 0; targets && i < n; i++)
        free(targets[i]);
    free(targets);
}

int nvb_ldcache_direct_build(int rootfd, const nvb_ldcache_lib *libs, size_t nlibs, const nvb_link_spec *links,
                             size_t nlinks, const char *const *folders, size_t nfolders,
                             const nvb_ldcache_ahead *ahead, void **out, size_t *len, const char **why, nvb_err *err)
{
    _cleanup_free_ void *text = NULL;
    size_t text_len = 0;
    struct stat st;
    int have = read_image_cache(rootfd, &text, &text_len, &st, why);
    if (have < 0)
        return 0;
    nvb_ldcache img = { 0 };
    nvb_err parse_err = { 0 };
    if (have && nvb_ldcache_parse(&img, text, text_len, "/etc/ld.so.cache", &parse_err) < 0)
        return *why = "the image's /etc/ld.so.cache does not parse", 0;
    int r = 0;
    size_t nadd = 0, n = 0;
    nvb_ldcache_entry *add = NULL, *merged = NULL;
    char **targets = NULL;
    nvb_folder_names *names = NULL;
    if (!nvb_ldcache_sorted(img.entries, img.n))
        *why = "the image's /etc/ld.so.cache is not in ldconfig's order";
    else if (!(names = known_names(rootfd, &img, libs, nlibs, links, nlinks, &targets)))
        *why = "the image's /etc/ld.so.cache names too many folders";
    else if (!nvb_ldcache_current(rootfd, have ? &st : NULL, names, folders, nfolders, ahead, why))
        ;
    else if (!(add = driver_entries(rootfd, libs, nlibs, ahead, &nadd, why)))
        ;
    else if (nvb_ldcache_merge(img.entries, img.n, add, nadd, &merged, &n) < 0)
        r = nvb_errf_errno(err, NVB_EXIT_IO, ENOMEM, "ld.so.cache: %zu entries", img.n + nadd);
    else {
        char generator[64];
        snprintf(generator, sizeof generator, "nvbind %d.%d.%d update-ldcache", NVBIND_VERSION_MAJOR,
                 NVBIND_VERSION_MINOR, NVBIND_VERSION_PATCH);
        /* A cache too large or odd to write is left to ldconfig, as any other it cannot use. */
        nvb_err werr = { 0 };
        r = nvb_ldcache_serialize(merged, n, generator, out, len, &werr) < 0 ? 0 : 1;
        if (r == 0)
            *why = "the merged cache cannot be written (too large, or too many glibc-hwcaps subfolders)";
        /* A restart finds the cache of its last start: nothing to write (a rename costs a
         * journal commit on some file systems). */
        if (r == 1 && *len == text_len && memcmp(*out, text, text_len) == 0) {
            free(*out);
            *out = NULL;
        }
    }
    free(merged);
    free(add);
    nvb_folder_names_free(names);
    free_targets(targets, nlinks);
    nvb_ldcache_close(&img);
    return r;
}

int nvb_ldcache_direct_write(int rootfd, const void *bytes, size_t len, nvb_err *err)
{
    if (!bytes)
        return 0;
    _cleanup_close_ int etc = nvb_root_mkdir_p(rootfd, "/etc", 0755, err);
    if (etc < 0)
        return -1;
    /* Not fsync'ed: the hook writes it again at every start (nvb_ldconf_write's reason). */
    return nvb_write_file_volatile_at(etc, "/etc", CACHE_NAME, bytes, len, 0644, err);
}
