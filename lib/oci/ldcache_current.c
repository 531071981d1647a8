/* Is an image's ld.so.cache current? See ldcache_current.h.
 *
 * ldconfig's configuration, as glibc's ldconfig (parse_conf) reads it: one folder per line;
 * '#' starts a comment; "include PATTERN..." reads the files a glob pattern names (relative
 * to the including file's folder); "hwcap ..." lines are ignored. Every file and folder is
 * looked up inside the container's root. */
#include "oci/ldcache_current.h"
#include "ldcache/elf_soname.h"
#include "oci/ldcache_ahead.h"
#include "oci/ldcache_names.h"
#include "oci/safepath.h"
#include "util/cleanup.h"
#include "util/fileio.h"
#include "util/grow.h"
#include "util/log.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

enum { MAX_DEPTH = 8, MAX_FILES = 256, MAX_DIRS = 1024, MAX_CONF = 64 * 1024 };

#if defined(__x86_64__)
#define TRIPLET "x86_64-linux-gnu"
#elif defined(__aarch64__)
#define TRIPLET "aarch64-linux-gnu"
#endif

static const char *const system_dirs[] = {
#ifdef TRIPLET
    "/lib/" TRIPLET, "/usr/lib/" TRIPLET,
#endif
    "/lib64", "/usr/lib64", "/lib", "/usr/lib",
};

struct walk {
    int rootfd;
    const struct stat *cache;
    nvb_folder_names *names;
    const nvb_ldcache_ahead *ahead;
    struct stat *seen;      /* folders checked already (merged /usr names them twice) */
    size_t nseen, cap_seen;
    unsigned files;
    const char *why;
};

static bool not_current(struct walk *w, const char *why)
{
    w->why = why;
    return false;
}

/* Made ahead of the runtime: a mount it makes later covers what is read at path. */
static bool covered(struct walk *w, const char *path)
{
    if (!nvb_ldcache_ahead_covers(w->ahead, path))
        return false;
    w->why = "a mount of the container covers a folder or file the loader reads";
    return true;
}

/* Changed after the cache was written: a configuration file edited afterwards may order
 * the folders otherwise. (An equal time is not after: the library names are checked too.) */
static bool newer(const struct walk *w, const struct stat *st)
{
    const struct timespec *c = &w->cache->st_mtim, *m = &st->st_mtim;
    return m->tv_sec != c->tv_sec ? m->tv_sec > c->tv_sec : m->tv_nsec > c->tv_nsec;
}

/* Whether the folder was checked already; else remembered. false also on no memory (then
 * it is checked again). */
static bool seen_before(struct walk *w, const struct stat *st)
{
    for (size_t i = 0; i < w->nseen; i++)
        if (w->seen[i].st_dev == st->st_dev && w->seen[i].st_ino == st->st_ino)
            return true;
    struct stat *ns = nvb_grow(w->seen, &w->cap_seen, w->nseen, sizeof *ns, 16);
    if (!ns)
        return false;
    w->seen = ns;
    w->seen[w->nseen++] = *st;
    return false;
}

/* Whether ldconfig would file folder/name under a name the cache does not list in that
 * folder: it reads the library's SONAME (links followed inside the root) and files it under
 * that, or under the file's own name when it has none ("libelf-0.188.so" is filed as
 * libelf.so.1, a "libGLX_indirect.so.0" link as its target's SONAME). Not an ELF file, or
 * not there: nothing to file. A header this cannot read counts as missing. */
static bool filed_elsewhere(struct walk *w, const char *folder, const struct stat *fst, const char *name)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s", folder, name) >= (int)sizeof path)
        return true;
    struct stat st;
    _cleanup_close_ int fd = nvb_reopen_regular(nvb_root_open(w->rootfd, path, O_PATH), &st);
    if (fd < 0)
        return false;
    char soname[NAME_MAX + 1];
    bool known = false;
    if (!nvb_elf_soname(fd, soname, sizeof soname, &known))
        return false;
    return !known || strchr(soname, '/') || !nvb_folder_names_has(w->names, fst, *soname ? soname : name);
}

/* Does the folder hold a library the cache does not account for, that ldconfig would list:
 * a "lib*.so*" name (other than a folder, and other than an unversioned link, which the
 * loader is never asked for by SONAME) that neither the cache nor the driver's files name
 * (by itself or as its library and major version), nor names under the SONAME in its ELF
 * header? Files added after the cache are found so even when their copy kept older times
 * (tar, COPY --from, cp -a). The dynamic loader (ld-*) is never looked up in the cache. Only
 * names the cache does not account for have their header read. */
static bool unlisted_library(struct walk *w, const char *path, const struct stat *folder)
{
    int fd = nvb_root_open(w->rootfd, path, O_RDONLY | O_DIRECTORY);
    DIR *d = fd < 0 ? NULL : fdopendir(fd);
    if (!d) {
        if (fd >= 0)
            close(fd);
        return false;   /* ldconfig skips a folder it cannot read */
    }
    bool found = false;
    struct dirent *de;
    while (!found && (de = readdir(d))) {
        const char *n = de->d_name;
        if (strncmp(n, "lib", 3) || !strstr(n, ".so") || de->d_type == DT_DIR)
            continue;
        struct stat st;
        if (de->d_type == DT_UNKNOWN && fstatat(dirfd(d), n, &st, AT_SYMLINK_NOFOLLOW) == 0)
            de->d_type = S_ISDIR(st.st_mode) ? DT_DIR : S_ISLNK(st.st_mode) ? DT_LNK : DT_REG;
        if (de->d_type == DT_DIR || (de->d_type == DT_LNK && !strstr(n, ".so.")))
            continue;
        found = !nvb_folder_names_has(w->names, folder, n) && filed_elsewhere(w, path, folder, n);
        if (found)
            nvb_log(NVB_LOG_DEBUG, "update-ldcache: %s/%s is not in the image's cache", path, n);
    }
    closedir(d);
    return found;
}

/* One folder ldconfig scans. System folders only matter through glibc-hwcaps: the loader
 * searches them anyway when the cache lacks a name, and finds the same file. */
static bool check_dir(struct walk *w, const char *path, bool system)
{
    if (covered(w, path))
        return false;
    _cleanup_close_ int fd = nvb_root_open(w->rootfd, path, O_PATH | O_DIRECTORY);
    struct stat st, hw;
    if (fd < 0 || fstat(fd, &st) < 0)
        return true;    /* ldconfig skips a folder that is not there */
    if (w->nseen >= MAX_DIRS)
        return not_current(w, "the loader configuration names too many folders");
    if (seen_before(w, &st))
        return true;
    if (!w->cache)
        return system || !unlisted_library(w, path, &st) ||
               not_current(w, "no cache, and the loader configuration names a folder with libraries");
    if (fstatat(fd, "glibc-hwcaps", &hw, AT_SYMLINK_NOFOLLOW) == 0)
        return not_current(w, "a library folder has glibc-hwcaps subfolders");
    if (!system && unlisted_library(w, path, &st))
        return not_current(w, "a library folder holds a library the cache does not list");
    return true;
}

static bool parse_file(struct walk *w, const char *path, unsigned depth);

/* The files an include pattern names, relative to the folder of the file at `from`. */
static bool include(struct walk *w, const char *from, const char *pattern, unsigned depth)
{
    char full[PATH_MAX];
    const char *slash = strrchr(from, '/');
    int n = pattern[0] == '/' ? snprintf(full, sizeof full, "%s", pattern)
                              : snprintf(full, sizeof full, "%.*s/%s", slash ? (int)(slash - from) : 0, from, pattern);
    if (n < 0 || (size_t)n >= sizeof full)
        return not_current(w, "an include pattern is too long");
    char *base = strrchr(full, '/');
    *base++ = '\0';
    if (strpbrk(full, "*?["))
        return not_current(w, "an include pattern has a wildcard in a folder part");
    if (!strpbrk(base, "*?[")) {
        base[-1] = '/';
        return parse_file(w, full, depth + 1);
    }
    const char *dir = *full ? full : "/";
    if (covered(w, dir))
        return false;
    int fd = nvb_root_open(w->rootfd, dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return true;    /* the pattern matches nothing */
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return not_current(w, "an included folder cannot be listed");
    }
    bool ok = true;
    struct dirent *de;
    while (ok && (de = readdir(d))) {
        if (fnmatch(base, de->d_name, FNM_PERIOD) != 0)
            continue;
        char file[PATH_MAX];
        if (snprintf(file, sizeof file, "%s/%s", *full ? full : "", de->d_name) >= (int)sizeof file)
            ok = not_current(w, "an included file's path is too long");
        else
            ok = parse_file(w, file, depth + 1);
    }
    closedir(d);
    return ok;
}

static bool parse_line(struct walk *w, const char *path, char *line, unsigned depth)
{
    *strchrnul(line, '#') = '\0';
    while (isspace((unsigned char)*line))
        line++;
    size_t n = strlen(line);
    while (n && isspace((unsigned char)line[n - 1]))
        line[--n] = '\0';
    if (!n)
        return true;
    if (!strncmp(line, "include", 7) && isblank((unsigned char)line[7])) {
        char *rest = line + 8, *pat;
        bool ok = true;
        while (ok && (pat = strsep(&rest, " \t")))
            if (*pat)
                ok = include(w, path, pat, depth);
        return ok;
    }
    if (!strncasecmp(line, "hwcap", 5) && isblank((unsigned char)line[5]))
        return true;
    while (n > 1 && line[n - 1] == '/')
        line[--n] = '\0';
    return check_dir(w, line, false);
}

static bool parse_file(struct walk *w, const char *path, unsigned depth)
{
    if (depth > MAX_DEPTH)
        return not_current(w, "loader configuration includes nest too deeply");
    if (++w->files > MAX_FILES)
        return not_current(w, "the loader configuration has too many files");
    if (covered(w, path))
        return false;
    int path_fd = nvb_root_open(w->rootfd, path, O_PATH);
    if (path_fd < 0 && errno == ENOENT)
        return true;
    struct stat st;
    _cleanup_close_ int fd = nvb_reopen_regular(path_fd, &st);
    if (fd < 0 || st.st_size > MAX_CONF)
        return not_current(w, "a loader configuration file is not a small regular file, or cannot be opened");
    if (w->cache && newer(w, &st))
        return not_current(w, "the loader configuration changed after the cache was written");
    size_t len = 0;
    _cleanup_free_ char *text = nvb_read_fd(fd, MAX_CONF + 1, &len);
    if (!text)
        return not_current(w, "a loader configuration file cannot be read");
    if (memchr(text, '\0', len)) /* ldconfig reads on past it; strsep would stop */
        return not_current(w, "a loader configuration file holds a NUL byte");
    char *rest = text, *line;
    bool ok = true;
    while (ok && (line = strsep(&rest, "\n")))
        ok = parse_line(w, path, line, depth);
    return ok;
}

bool nvb_ldcache_current(int rootfd, const struct stat *cache, nvb_folder_names *names,
                         const char *const *driver_folders, size_t nfolders, const nvb_ldcache_ahead *ahead,
                         const char **why)
{
    struct walk w = { .rootfd = rootfd, .cache = cache, .names = names, .ahead = ahead };
    bool ok = parse_file(&w, "/etc/ld.so.conf", 0);
    /* The driver's folders: the hook's ldconfig would scan them first, the driver's own
     * files in them are in names. */
    for (size_t i = 0; ok && cache && i < nfolders; i++)
        ok = check_dir(&w, driver_folders[i], false);
    for (size_t i = 0; ok && i < sizeof system_dirs / sizeof *system_dirs; i++)
        ok = check_dir(&w, system_dirs[i], true);
    free(w.seen);
    *why = w.why;
    return ok;
}
