#include "util/trust.h"
#include "util/cleanup.h"
#include "util/strv.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* One file, folder or link, as lstat sees it. */
static int check_entry(const char *path, const struct stat *st, uid_t caller, char *why, size_t n)
{
    const char *what = S_ISDIR(st->st_mode) ? "folder " : S_ISLNK(st->st_mode) ? "link " : "";
    if (st->st_uid != 0 && st->st_uid != caller) {
        snprintf(why, n, "%s%s is owned by uid %u, not by root%s", what, path, (unsigned)st->st_uid,
                 caller ? " or you" : "");
        return 1;
    }
    /* A link's own mode means nothing; who may replace it is its folder's business. */
    if (S_ISLNK(st->st_mode) || (S_ISDIR(st->st_mode) && (st->st_mode & S_ISVTX)))
        return 0;
    if (st->st_mode & (S_IWOTH | S_IWGRP)) {
        snprintf(why, n, "%s%s is writable by %s%s", what, path, st->st_mode & S_IWOTH ? "others" : "its group",
                 S_ISDIR(st->st_mode) ? " without the sticky bit" : "");
        return 1;
    }
    return 0;
}

static int cannot(const char *path, char *why, size_t n)
{
    int e = errno;
    snprintf(why, n, "%s: %s", path, strerror(e));
    errno = e;
    return -1;
}

/* path (absolute, without links) and every folder above it. path is cut down as it goes. */
static int check_chain(char *path, uid_t caller, char *why, size_t n)
{
    for (;;) {
        struct stat st;
        if (lstat(path, &st) < 0)
            return cannot(path, why, n);
        int r = check_entry(path, &st, caller, why, n);
        if (r || strcmp(path, "/") == 0)
            return r;
        char *slash = strrchr(path, '/');
        slash[slash == path ? 1 : 0] = '\0';
    }
}

/* The folder path is named in, resolved, and every folder above it. */
static int check_parent_of(const char *path, uid_t caller, char *why, size_t n)
{
    _cleanup_free_ char *dir = strdup(path);
    if (!dir)
        return cannot(path, why, n);
    char *slash = strrchr(dir, '/');
    slash[slash == dir ? 1 : 0] = '\0';
    _cleanup_free_ char *real = realpath(dir, NULL);
    return real ? check_chain(real, caller, why, n) : cannot(dir, why, n);
}

static char *absolute(const char *path)
{
    if (path[0] == '/')
        return strdup(path);
    char cwd[PATH_MAX];
    return getcwd(cwd, sizeof cwd) ? nvb_path_join(cwd, path) : NULL;
}

/* Links are followed at most this deep, as the kernel does (MAXSYMLINKS). */
#define MAX_LINK_DEPTH 40

static int check_links(const char *path, uid_t caller, char *why, size_t n, int depth);

/* A link met on the way: itself, its folder, and every link its target passes through, since
 * whoever may replace any of them chooses the file read. */
static int check_link(const char *link, const struct stat *st, uid_t caller, char *why, size_t n, int depth)
{
    int r = check_entry(link, st, caller, why, n);
    if (r == 0)
        r = check_parent_of(link, caller, why, n);
    if (r)
        return r;
    char target[PATH_MAX];
    ssize_t len = readlink(link, target, sizeof target - 1);
    if (len < 0)
        return cannot(link, why, n);
    target[len] = '\0';
    if (target[0] == '/')
        return check_links(target, caller, why, n, depth + 1);
    /* A relative target is read from the link's folder. */
    _cleanup_free_ char *dir = strdup(link);
    if (!dir)
        return cannot(link, why, n);
    *strrchr(dir, '/') = '\0';
    _cleanup_free_ char *full = nvb_path_join(*dir ? dir : "/", target);
    return full ? check_links(full, caller, why, n, depth + 1) : cannot(link, why, n);
}

/* Every link on the way as named, and the links their targets name, recursively. */
static int check_links(const char *path, uid_t caller, char *why, size_t n, int depth)
{
    if (depth > MAX_LINK_DEPTH) {
        errno = ELOOP;
        return cannot(path, why, n);
    }
    _cleanup_free_ char *abs = absolute(path);
    if (!abs)
        return cannot(path, why, n);
    for (char *p = abs + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        struct stat st;
        int r = lstat(abs, &st) < 0 ? cannot(abs, why, n) : 0;
        if (r == 0 && S_ISLNK(st.st_mode))
            r = check_link(abs, &st, caller, why, n, depth);
        *p = c;
        if (r)
            return r;
        if (!c)
            break;
    }
    return 0;
}

/* An absolute path with no empty, "." or ".." part: when none of its parts is a link, it is
 * its own resolution. */
static bool plain(const char *abs)
{
    for (const char *p = abs; *p;) {
        if (*p++ != '/')
            return false;
        const char *end = strchrnul(p, '/');
        size_t len = (size_t)(end - p);
        if (len == 0 || (len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
            return false;
        p = end;
    }
    return true;
}

/* The common case in one walk down a plain path: each part looked at once, as the links
 * check and the chain check below would both do. 2 when a part is a link (the long way
 * then), else what the long way would answer: a part that cannot be looked at, or else the
 * deepest part refused (the chain check goes upward and stops at the first). */
static int check_plain(char *abs, uid_t caller, char *why, size_t n)
{
    struct stat st;
    if (lstat("/", &st) < 0)
        return cannot("/", why, n);
    /* A refusal's message goes to why at once; a deeper one replaces it. */
    int r = check_entry("/", &st, caller, why, n);
    for (char *p = abs + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        if (lstat(abs, &st) < 0) {
            int e = cannot(abs, why, n);
            *p = c;
            return e;
        }
        if (S_ISLNK(st.st_mode)) {
            *p = c;
            return 2;
        }
        if (check_entry(abs, &st, caller, why, n))
            r = 1;
        *p = c;
        if (!c)
            break;
    }
    return r;
}

int nvb_trust_folder_fd(int fd, const char *shown, const char *because, nvb_err *err)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return nvb_errf_errno(err, NVB_EXIT_IO, errno, "%s", shown);
    if (st.st_uid != 0 && st.st_uid != geteuid())
        return nvb_errf(err, NVB_EXIT_IO, "%s is owned by uid %u, neither root nor you: %s", shown,
                        (unsigned)st.st_uid, because);
    if (st.st_mode & (S_IWGRP | S_IWOTH))
        return nvb_errf(err, NVB_EXIT_IO, "%s is writable by %s (mode %04o): %s", shown,
                        st.st_mode & S_IWOTH ? "everyone" : "its group", (unsigned)(st.st_mode & 07777), because);
    return 0;
}

int nvb_trust_links(const char *path, uid_t caller, char *why, size_t n)
{
    return check_links(path, caller, why, n, 0);
}

int nvb_trust_path(const char *path, uid_t caller, char *why, size_t n)
{
    _cleanup_free_ char *abs = absolute(path);
    if (!abs)
        return cannot(path, why, n);
    int r = plain(abs) ? check_plain(abs, caller, why, n) : 2;
    if (r != 2)
        return r;
    r = check_links(abs, caller, why, n, 0);
    if (r)
        return r;
    /* Then what it resolves to, and every folder above that. */
    _cleanup_free_ char *real = realpath(abs, NULL);
    return real ? check_chain(real, caller, why, n) : cannot(path, why, n);
}
