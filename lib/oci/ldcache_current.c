/* Is an image's ld.so.cache current? See ldcache_current.h.
 *
 * ldconfig's configuration, as glibc's ldconfig (parse_conf) reads it: one folder per line;
 * '#' starts a comment; "include PATTERN..." reads the files a glob pattern names (relative
 * to the including file's folder); "hwcap ..." lines are ignored; "DIR=TYPE" names DIR.
 * Every file and folder is looked up inside the container's root. */
#include "oci/ldcache_current.h"
#include "ldcache/elf_soname.h"
#include "oci/ldcache_ahead.h"
#include "oci/ldcache_names.h"
#include "oci/safepath.h"
#include "util/cleanup.h"
#include "util/clock.h"
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

/* The work one walk may do, counted rather than timed, so that an image's configuration
 * cannot hold up the runtime (which runs this as root before the container starts) for
 * long: a line may name a folder again, or list a folder again with another pattern, and
 * 256 files of 64 KiB hold millions of lines. Folder lines and include patterns: Debian's
 * and Ubuntu's configuration have a handful, a CUDA image a few more. Folder entries read,
 * by include patterns and by library folders together: a Debian or Ubuntu image reads a
 * few thousand at most (its multiarch folder; a full desktop's holds several thousand), so
 * 100000 leaves room for an image with many large library folders, and is read in tens of
 * milliseconds. ELF headers read (about 20 us each): only for names the cache does not
 * account for by themselves, a few in an image. Over any: not current, and ldconfig does
 * the work. */
#define MAX_LINES 4096
#define MAX_PATTERNS 256
#define MAX_ENTRIES 100000
#define MAX_HEADERS 4096
#define MAX_WALK_MS 1000
#define STR_(x) #x
#define STR(x) STR_(x)

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
    unsigned files, lines, patterns, entries, headers; /* the budget spent, see MAX_LINES */
    int64_t deadline;       /* and a time limit (nvb_mono_ms), since the image sets what one
                             * lookup costs (up to 40 links of 4 KiB each) */
    const char *why;
};

static bool not_current(struct walk *w, const char *why)
{
    w->why = why;
    return false;
}

/* Within the walk's time: false, with why, after MAX_WALK_MS. */
static bool in_time(struct walk *w)
{
    return nvb_mono_ms() < w->deadline ||
           not_current(w, "the loader configuration takes longer than " STR(MAX_WALK_MS) " ms to read");
}

/* One more folder entry read: false, with why, past the walk's budget. */
static bool entry_read(struct walk *w)
{
    return (++w->entries <= MAX_ENTRIES ||
            not_current(w, "the loader configuration asks for more than " STR(MAX_ENTRIES) " folder entries to be read")) &&
           ((w->entries & 1023) || in_time(w));
}

/* One more library header read: false, with why, past the walk's budget. */
static bool header_read(struct walk *w)
{
    return (++w->headers <= MAX_HEADERS ||
            not_current(w, "the library folders hold more than " STR(MAX_HEADERS) " names the cache does not list")) &&
           ((w->headers & 63) || in_time(w));
}

/* Made ahead of the runtime: a mount it makes later covers what is read at path, as
 * written or where the image's links take the lookup (/opt/lib with /opt -> /data, a mount
 * at /data; or a folder not there yet, which the mount may bring). */
static bool covered(struct walk *w, const char *path)
{
    if (!in_time(w))
        return true;
    if (!nvb_ldcache_ahead_reaches(w->ahead, w->rootfd, path))
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

/* Does the folder hold no library the cache does not account for, that ldconfig would list:
 * a "lib*.so*" name (other than a folder, and other than an unversioned link, which the
 * loader is never asked for by SONAME) that neither the cache nor the driver's files name
 * (by itself or as its library and major version), nor names under the SONAME in its ELF
 * header? Files added after the cache are found so even when their copy kept older times
 * (tar, COPY --from, cp -a). The dynamic loader (ld-*) is never looked up in the cache. Only
 * names the cache does not account for have their header read. false with why when it does
 * (or with the budget's when the folder is more than the walk may read). */
static bool all_listed(struct walk *w, const char *path, const struct stat *folder, const char *why)
{
    int fd = nvb_root_open(w->rootfd, path, O_RDONLY | O_DIRECTORY);
    DIR *d = fd < 0 ? NULL : fdopendir(fd);
    if (!d) {
        if (fd >= 0)
            close(fd);
        return true;    /* ldconfig skips a folder it cannot read */
    }
    bool found = false, ok = true;
    struct dirent *de;
    while (!found && (de = readdir(d)) && (ok = entry_read(w))) {
        const char *n = de->d_name;
        if (strncmp(n, "lib", 3) || !strstr(n, ".so") || de->d_type == DT_DIR)
            continue;
        struct stat st;
        if (de->d_type == DT_UNKNOWN && fstatat(dirfd(d), n, &st, AT_SYMLINK_NOFOLLOW) == 0)
            de->d_type = S_ISDIR(st.st_mode) ? DT_DIR : S_ISLNK(st.st_mode) ? DT_LNK : DT_REG;
        if (de->d_type == DT_DIR || (de->d_type == DT_LNK && !strstr(n, ".so.")))
            continue;
        if (nvb_folder_names_has(w->names, folder, n))
            continue;
        if (!(ok = header_read(w)))
            break;
        found = filed_elsewhere(w, path, folder, n);
        if (found)
            nvb_log(NVB_LOG_DEBUG, "update-ldcache: %s/%s is not in the image's cache", path, n);
    }
    closedir(d);
    return ok && (!found || not_current(w, why));
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
        return system || all_listed(w, path, &st, "no cache, and the loader configuration names a folder with libraries");
    if (fstatat(fd, "glibc-hwcaps", &hw, AT_SYMLINK_NOFOLLOW) == 0)
        return not_current(w, "a library folder has glibc-hwcaps subfolders");
    return system || all_listed(w, path, &st, "a library folder holds a library the cache does not list");
}

static bool parse_file(struct walk *w, const char *path, unsigned depth);

/* The files an include pattern names, relative to the folder of the file at `from`. */
static bool include(struct walk *w, const char *from, const char *pattern, unsigned depth)
{
    if (++w->patterns > MAX_PATTERNS)
        return not_current(w, "the loader configuration has more than " STR(MAX_PATTERNS) " include patterns");
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
    while (ok && (de = readdir(d)) && (ok = entry_read(w))) {
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

/* A folder line of n bytes: trailing slashes go, as ldconfig trims them ("/" stays). */
static bool folder_line(struct walk *w, char *line, size_t n)
{
    while (n > 1 && line[n - 1] == '/')
        line[--n] = '\0';
    return check_dir(w, line, false);
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
    if (++w->lines > MAX_LINES)
        return not_current(w, "the loader configuration names more than " STR(MAX_LINES) " folders");
    char *eq = strchr(line, '=');
    if (!folder_line(w, line, n))
        return false;
    if (!eq)
        return true;
    /* "DIR=TYPE" (TYPE libc4, libc5 or libc6, for libraries ldconfig cannot type): glibc
     * 2.36's ldconfig cuts at the first '=' and trims the spaces before it, 2024's reads the
     * line as written (above). Both folders are checked, whichever ldconfig runs. */
    n = (size_t)(eq - line);
    *eq = '\0';
    while (n && isspace((unsigned char)line[n - 1]))
        line[--n] = '\0';
    return !n || folder_line(w, line, n);
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
    w.deadline = nvb_mono_ms() + MAX_WALK_MS;
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
