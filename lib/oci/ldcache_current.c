/* Is an image's ld.so.cache current? See ldcache_current.h.
 *
 * ldconfig's configuration, as glibc's ldconfig (parse_conf) reads it: one folder per line;
 * '#' starts a comment; "include PATTERN..." reads the files a glob pattern names (relative
 * to the including file's folder); "hwcap ..." lines are ignored. Every file and folder is
 * looked up inside the container's root. */
#include "oci/ldcache_current.h"
#include "oci/safepath.h"
#include "util/cleanup.h"

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
    struct stat *skip;
    size_t nskip;
    unsigned files, dirs;
    const char *why;
};

static bool not_current(struct walk *w, const char *why)
{
    w->why = why;
    return false;
}

/* Changed after the cache was written (see the header for equal times). */
static bool newer(const struct walk *w, const struct stat *st)
{
    const struct timespec *c = &w->cache->st_mtim, *m = &st->st_mtim;
    if (m->tv_sec != c->tv_sec)
        return m->tv_sec > c->tv_sec;
    return m->tv_nsec > c->tv_nsec || c->tv_nsec == 0;
}

static bool skipped(const struct walk *w, const struct stat *st)
{
    for (size_t i = 0; i < w->nskip; i++)
        if (w->skip[i].st_dev == st->st_dev && w->skip[i].st_ino == st->st_ino)
            return true;
    return false;
}

/* Does the folder hold anything ldconfig would look at: a non-folder named "lib*.so*" or
 * "ld-*.so*"? A folder that changed after the cache but holds none changed by a folder
 * added to it (the runtime's mount points: /usr/lib/firmware, /usr/lib/xorg), which
 * ldconfig does not enter. */
static bool holds_libraries(const struct walk *w, const char *path)
{
    int fd = nvb_root_open(w->rootfd, path, O_RDONLY | O_DIRECTORY);
    DIR *d = fd < 0 ? NULL : fdopendir(fd);
    if (!d) {
        if (fd >= 0)
            close(fd);
        return true;
    }
    bool found = false;
    struct dirent *de;
    while (!found && (de = readdir(d))) {
        const char *n = de->d_name;
        if ((strncmp(n, "lib", 3) && strncmp(n, "ld-", 3)) || !strstr(n, ".so"))
            continue;
        struct stat st;
        found = de->d_type != DT_DIR &&
                (de->d_type != DT_UNKNOWN || fstatat(dirfd(d), n, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
                 !S_ISDIR(st.st_mode));
    }
    closedir(d);
    return found;
}

static bool check_dir(struct walk *w, const char *path, bool system)
{
    if (++w->dirs > MAX_DIRS)
        return not_current(w, "the loader configuration names too many folders");
    _cleanup_close_ int fd = nvb_root_open(w->rootfd, path, O_PATH | O_DIRECTORY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || skipped(w, &st))
        return true;    /* ldconfig skips a folder that is not there */
    if (!w->cache)
        return system || not_current(w, "no cache, and the loader configuration names a library folder");
    if (newer(w, &st) && holds_libraries(w, path))
        return not_current(w, "a library folder changed after the cache was written");
    if (fstatat(fd, "glibc-hwcaps", &st, AT_SYMLINK_NOFOLLOW) == 0)
        return not_current(w, "a library folder has glibc-hwcaps subfolders");
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
    int fd = nvb_root_open(w->rootfd, dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return true;    /* the pattern matches nothing */
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return not_current(w, "an included folder cannot be listed");
    }
    struct stat st;
    bool ok = fstat(fd, &st) == 0 && (!w->cache || !newer(w, &st)) ? true
              : not_current(w, "a loader configuration folder changed after the cache was written");
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
    _cleanup_close_ int fd = nvb_root_open(w->rootfd, path, O_RDONLY | O_NONBLOCK | O_NOCTTY);
    if (fd < 0)
        return errno == ENOENT ? true : not_current(w, "a loader configuration file cannot be opened");
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > MAX_CONF)
        return not_current(w, "a loader configuration file is not a small regular file");
    if (w->cache && newer(w, &st))
        return not_current(w, "the loader configuration changed after the cache was written");
    _cleanup_free_ char *text = malloc((size_t)st.st_size + 1);
    ssize_t len = text ? pread(fd, text, (size_t)st.st_size, 0) : -1;
    if (len < 0)
        return not_current(w, "a loader configuration file cannot be read");
    text[len] = '\0';
    char *rest = text, *line;
    bool ok = true;
    while (ok && (line = strsep(&rest, "\n")))
        ok = parse_line(w, path, line, depth);
    return ok;
}

bool nvb_ldcache_current(int rootfd, const struct stat *cache, const char *const *skip, size_t nskip,
                         const char **why)
{
    struct walk w = { .rootfd = rootfd, .cache = cache, .skip = calloc(nskip ? nskip : 1, sizeof *w.skip) };
    if (!w.skip)
        return *why = "out of memory", false;
    for (size_t i = 0; i < nskip; i++) {
        _cleanup_close_ int fd = nvb_root_open(rootfd, skip[i], O_PATH | O_DIRECTORY);
        if (fd >= 0 && fstat(fd, &w.skip[w.nskip]) == 0)
            w.nskip++;
    }
    bool ok = parse_file(&w, "/etc/ld.so.conf", 0);
    for (size_t i = 0; ok && i < sizeof system_dirs / sizeof *system_dirs; i++)
        ok = check_dir(&w, system_dirs[i], true);
    free(w.skip);
    *why = w.why;
    return ok;
}
