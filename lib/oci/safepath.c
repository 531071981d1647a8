#include "oci/safepath.h"
#include "util/cleanup.h"

#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<linux/openat2.h>)
#include <linux/openat2.h>
#endif
#endif

/* Older kernel headers lack openat2; the ABI is fixed, so spell it out. */
#ifndef RESOLVE_IN_ROOT
struct open_how {
    uint64_t flags;
    uint64_t mode;
    uint64_t resolve;
};
#define RESOLVE_NO_XDEV 0x01
#define RESOLVE_NO_MAGICLINKS 0x02
#define RESOLVE_NO_SYMLINKS 0x04
#define RESOLVE_BENEATH 0x08
#define RESOLVE_IN_ROOT 0x10
#endif
#ifndef SYS_openat2
#define SYS_openat2 437
#endif

int nvb_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve)
{
    struct open_how how = {.flags = flags, .mode = mode, .resolve = resolve};
    /* RESOLVE_IN_ROOT answers EAGAIN when a rename races the lookup: retry a few times. */
    for (int attempt = 0; attempt < 64; attempt++) {
        long fd = syscall(SYS_openat2, dirfd, path, &how, sizeof how);
        if (fd >= 0)
            return (int)fd;
        if (errno != EINTR && errno != EAGAIN)
            return -1;
    }
    return -1;
}

void nvb_container_folder(const char *path, char out[PATH_MAX])
{
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : 0;
    snprintf(out, PATH_MAX, "%.*s", n ? (int)n : 1, n ? path : "/");
}

/* Append "/name" (name of n bytes) to the container path at (PATH_MAX bytes). */
static bool path_append(char *at, const char *name, size_t n)
{
    size_t len = strlen(at);
    if (len + 1 + n >= PATH_MAX)
        return false;
    at[len] = '/';
    memcpy(at + len + 1, name, n);
    at[len + 1 + n] = '\0';
    return true;
}

int nvb_root_resolve(int rootfd, const char *path, char out[PATH_MAX], bool (*visit)(const char *at, void *ctx),
                     void *ctx)
{
    /* Most paths have no link on the way to their longest existing part: one lookup. */
    int fd = nvb_root_open_no_links(rootfd, path, O_PATH);
    if (fd >= 0 || errno == ENOENT) {
        if (fd >= 0)
            close(fd);
        if (snprintf(out, PATH_MAX, "%s", path) >= PATH_MAX)
            return errno = ENAMETOOLONG, -1;
        return visit && visit(out, ctx) ? 1 : 0;
    }
    if (errno != ELOOP)
        return -1;
    /* Part by part, as the kernel resolves inside the root: out is the resolved folder so
     * far (no link in it), rest what is left to walk. */
    char rest[2 * PATH_MAX];
    if (snprintf(rest, sizeof rest, "%s", path) >= (int)sizeof rest)
        return errno = ENAMETOOLONG, -1;
    out[0] = '\0';
    unsigned links = 0, steps = 0;
    for (char *p = rest; *p;) {
        /* Each step a lookup whose cost the image sets: bounded. */
        if (++steps > 256)
            return errno = ELOOP, -1;
        while (*p == '/')
            p++;
        size_t n = strcspn(p, "/");
        if (n == 0)
            break;
        const char *name = p;
        p += n;
        if (n == 1 && name[0] == '.')
            continue;
        if (n == 2 && name[0] == '.' && name[1] == '.') {
            /* The folder stepped out of is a place the lookup went through: a mount above
             * it changes where ".." lands. */
            if (out[0] && visit && visit(out, ctx))
                return 1;
            if (out[0])
                *strrchr(out, '/') = '\0'; /* never above the root ("" stays "") */
            continue;
        }
        size_t before = strlen(out);
        if (!path_append(out, name, n))
            return errno = ENAMETOOLONG, -1;
        fd = nvb_root_open(rootfd, out, O_PATH | O_NOFOLLOW);
        if (fd < 0) {
            if (errno != ENOENT)
                return -1;
            /* Not there: the rest as written (a runtime makes it as plain folders). */
            if (*p && !path_append(out, p + 1, strlen(p + 1)))
                return errno = ENAMETOOLONG, -1;
            break;
        }
        struct stat st = {0};
        char target[PATH_MAX];
        ssize_t len = -1;
        if (fstat(fd, &st) == 0 && S_ISLNK(st.st_mode))
            len = readlinkat(fd, "", target, sizeof target);
        int e = errno;
        close(fd);
        if (!S_ISLNK(st.st_mode))
            continue;
        if (len <= 0 || (size_t)len >= sizeof target)
            return errno = len < 0 ? e : ENAMETOOLONG, -1;
        if (++links > 40)
            return errno = ELOOP, -1;
        if (visit && visit(out, ctx))
            return 1;
        /* The link's target replaces its name: from the root when absolute, else from the
         * folder holding the link. */
        out[target[0] == '/' ? 0 : before] = '\0';
        size_t left = strlen(p);
        if ((size_t)len + left + 1 >= sizeof rest)
            return errno = ENAMETOOLONG, -1;
        memmove(rest + len, p, left + 1);
        memcpy(rest, target, (size_t)len);
        p = rest;
    }
    if (!out[0])
        strcpy(out, "/");
    return visit && visit(out, ctx) ? 1 : 0;
}

int nvb_root_open_as_runtime(const char *bundle, const char *value)
{
    int at = AT_FDCWD;
    _cleanup_close_ int bundle_fd = -1;
    if (value[0] != '/') {
        if ((bundle_fd = open(bundle, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
            return -1;
        at = bundle_fd;
    }
    return nvb_openat2(at, value, O_PATH | O_DIRECTORY | O_CLOEXEC, 0, RESOLVE_NO_SYMLINKS);
}

static int root_open(int rootfd, const char *path, int flags, uint64_t resolve)
{
    /* A leading "/" would be read against rootfd anyway under RESOLVE_IN_ROOT; strip it
     * so the empty path (the root itself) becomes ".". */
    while (*path == '/')
        path++;
    if (!*path)
        path = ".";
    return nvb_openat2(rootfd, path, (uint64_t)(flags | O_CLOEXEC), 0, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | resolve);
}

int nvb_root_open(int rootfd, const char *path, int flags)
{
    return root_open(rootfd, path, flags, 0);
}

int nvb_root_open_no_links(int rootfd, const char *path, int flags)
{
    return root_open(rootfd, path, flags, RESOLVE_NO_SYMLINKS);
}

bool nvb_container_path_ok(const char *p, bool allow_root, const char **why)
{
    const char *dummy;
    if (!why)
        why = &dummy;
    if (!p || p[0] != '/') {
        *why = "not an absolute path";
        return false;
    }
    size_t len = strlen(p);
    if (len >= PATH_MAX) {
        *why = "path too long";
        return false;
    }
    if (len == 1) {
        *why = "is the root itself";
        return allow_root;
    }
    if (p[len - 1] == '/') {
        *why = "has a trailing '/'";
        return false;
    }
    const char *c = p + 1;
    while (*c) {
        const char *end = strchr(c, '/');
        size_t n = end ? (size_t)(end - c) : strlen(c);
        if (n == 0) {
            *why = "has an empty component (\"//\")";
            return false;
        }
        if ((n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.')) {
            *why = "has a '.' or '..' component";
            return false;
        }
        if (n > NAME_MAX) {
            *why = "has a component longer than NAME_MAX";
            return false;
        }
        c += n;
        if (*c == '/')
            c++;
    }
    return true;
}

/* The error for a failed lookup inside the root; ENOSYS gets its own explanation. */
static int lookup_error(nvb_err *err, int e, const char *what, const char *path)
{
    if (e == ENOSYS)
        return nvb_errf(err, NVB_EXIT_IO,
                        "%s %s: openat2() is not available (Linux 5.6 or later is needed to resolve paths "
                        "safely inside a container)",
                        what, path);
    return nvb_errf_errno(err, NVB_EXIT_IO, e, "%s %s", what, path);
}

int nvb_root_mkdir_p(int rootfd, const char *dir, mode_t mode, nvb_err *err)
{
    const char *why;
    if (!nvb_container_path_ok(dir, true, &why))
        return nvb_errf(err, NVB_EXIT_INPUT, "container path %s: %s", dir, why);
    /* Usually the folder is there: one lookup. The walk below also says which part failed. */
    int whole = nvb_root_open(rootfd, dir, O_PATH | O_DIRECTORY);
    if (whole >= 0)
        return whole;
    char prefix[PATH_MAX];
    size_t len = strlen(dir);
    memcpy(prefix, dir, len + 1);

    /* Open the root itself first, then each longer prefix. A missing component is created
     * with mkdirat() in the folder the previous prefix resolved to: mkdirat never follows
     * a final symlink, and the folder fd is already inside the root. */
    _cleanup_close_ int cur = nvb_root_open(rootfd, "/", O_PATH | O_DIRECTORY);
    if (cur < 0)
        return lookup_error(err, errno, "container folder", "/");
    size_t pos = 1;
    while (pos < len) {
        const char *slash = strchr(dir + pos, '/');
        size_t end = slash ? (size_t)(slash - dir) : len;
        prefix[end] = '\0';
        const char *name = prefix + pos;
        int fd = nvb_root_open(rootfd, prefix, O_PATH | O_DIRECTORY);
        if (fd < 0 && errno == ENOENT) {
            if (mkdirat(cur, name, mode) < 0 && errno != EEXIST)
                return nvb_errf_errno(err, NVB_EXIT_IO, errno, "container folder %s: cannot create it", prefix);
            fd = nvb_root_open(rootfd, prefix, O_PATH | O_DIRECTORY);
            if (fd < 0 && errno == ENOENT)
                return nvb_errf(err, NVB_EXIT_IO,
                                "container folder %s: is a symlink to a folder that does not exist in the container",
                                prefix);
        }
        if (fd < 0)
            return lookup_error(err, errno, "container folder", prefix);
        close(cur);
        cur = fd;
        prefix[end] = dir[end];
        pos = end + 1;
    }
    return NVB_TAKE_FD(cur);
}

int nvb_root_open_host_dir(const char *host_path, nvb_err *err)
{
    int fd = open(host_path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return nvb_errf_errno(err, NVB_EXIT_IO, errno, "container root %s", host_path);
    return fd;
}
