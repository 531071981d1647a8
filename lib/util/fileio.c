#include "util/fileio.h"
#include "util/cleanup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

int nvb_check_regular(int fd)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -1;
    if (S_ISREG(st.st_mode))
        return 0;
    errno = S_ISDIR(st.st_mode) ? EISDIR : NVB_ENOTREG;
    return -1;
}

char *nvb_read_fd(int fd, size_t max, size_t *len)
{
    size_t cap = 4096, n = 0;
    _cleanup_free_ char *buf = malloc(cap + 1);
    if (!buf)
        return NULL;
    for (;;) {
        if (n == cap) {
            if (cap >= max) {
                errno = EFBIG;
                return NULL;
            }
            cap *= 2;
            char *nb = realloc(buf, cap + 1);
            if (!nb)
                return NULL;
            buf = nb;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return NULL;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    buf[n] = '\0';
    if (len)
        *len = n;
    return NVB_TAKE(buf);
}

char *nvb_read_file(const char *path, size_t max, size_t *len)
{
    /* O_NONBLOCK: a FIFO planted where a file was expected must not hang the open; it, a
     * device or a socket is then refused by the check. */
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0 || nvb_check_regular(fd) < 0)
        return NULL;
    return nvb_read_fd(fd, max, len);
}

char *nvb_read_input(const char *path, size_t max, size_t *len)
{
    /* Named by the user on the command line: `/dev/stdin`, a pipe or `<(...)` is what they
     * meant, and waiting for its writer is theirs to choose. Folders and sockets stay out. */
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
        return NULL;
    if (S_ISDIR(st.st_mode) || S_ISSOCK(st.st_mode) || S_ISBLK(st.st_mode)) {
        errno = S_ISDIR(st.st_mode) ? EISDIR : NVB_ENOTREG;
        return NULL;
    }
    return nvb_read_fd(fd, max, len);
}

int nvb_make_dirs(const char *path, mode_t mode, const char *what, nvb_err *err)
{
    char *p = strdup(path);
    if (!p)
        return nvb_errf(err, NVB_EXIT_IO, "%s: out of memory", path);
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/')
        p[--n] = '\0';
    int r = 0;
    for (char *s = p + 1;; s++) {
        bool last = *s == '\0';
        if (*s != '/' && !last)
            continue;
        char keep = *s;
        *s = '\0';
        if (mkdir(p, last ? mode : 0755) < 0 && errno != EEXIST) {
            r = nvb_errf_errno(err, NVB_EXIT_IO, errno, "cannot create folder %s %s", p, what);
            break;
        }
        if (last)
            break;
        *s = keep;
    }
    free(p);
    return r;
}

int nvb_write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w == 0)
                errno = EIO;
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

static const char *file_type_name(mode_t m)
{
    return S_ISCHR(m)    ? "a character device"
           : S_ISBLK(m)  ? "a block device"
           : S_ISFIFO(m) ? "a FIFO"
           : S_ISSOCK(m) ? "a socket"
           : S_ISDIR(m)  ? "a folder"
           : S_ISLNK(m)  ? "a symbolic link"
                         : "not a regular file";
}

int nvb_reopen_regular(int pathfd, struct stat *st)
{
    if (pathfd < 0)
        return -1;
    int fd = -1;
    if (fstat(pathfd, st) == 0) {
        if (S_ISREG(st->st_mode)) {
            char proc[64];
            snprintf(proc, sizeof proc, "/proc/self/fd/%d", pathfd);
            fd = open(proc, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        } else {
            errno = EINVAL;
        }
    }
    int e = errno;
    close(pathfd);
    errno = e;
    return fd;
}

int nvb_open_regular_at(int dirfd, const char *name, struct stat *st)
{
    return nvb_reopen_regular(openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC), st);
}

/* ---- temporaries ---- */

/* A temporary of this name whose writer is gone: a writer killed between creating its
 * temporary and renaming it (kill -9, a crash) leaves ".<name>.tmp.<pid>.<random>" behind
 * (".<name>.tmp.<pid>" from older versions). Its pid no longer runs here, and no writer
 * holds its lock: every writer flocks its temporary while it writes, which also covers a
 * writer in another pid namespace whose pid means nothing here. */
static bool stale_temporary(int dirfd, const char *entry, const char *prefix, size_t prefix_len)
{
    if (strncmp(entry, prefix, prefix_len) != 0)
        return false;
    const char *digits = entry + prefix_len;
    char *end;
    errno = 0;
    long pid = strtol(digits, &end, 10);
    if (end == digits || (*end && *end != '.') || errno || pid <= 0 || pid == (long)getpid())
        return false;
    if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
        return false;
    /* Never opened unless a regular file: the folder may be a container's, whose image can
     * put a device node or a FIFO under such a name (its driver's open() would act, for a
     * root process outside the container's device cgroup). */
    struct stat st;
    _cleanup_close_ int fd = nvb_open_regular_at(dirfd, entry, &st);
    return fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0;
}

/* Remove the stale temporaries of `name` in dirfd (see stale_temporary). Engines skip
 * dot-files, so these only take space; the next successful write of the same file clears
 * them. Best effort: a failure here does not fail the write that already succeeded. */
static void remove_stale_temporaries(int dirfd, const char *name)
{
    char prefix[NAME_MAX + 1];
    int n = snprintf(prefix, sizeof prefix, ".%s.tmp.", name);
    if (n < 0 || (size_t)n >= sizeof prefix)
        return;
    int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return;
    }
    for (struct dirent *de; (de = readdir(d));)
        if (de->d_name[0] == '.' && stale_temporary(dirfd, de->d_name, prefix, (size_t)n))
            unlinkat(dirfd, de->d_name, 0);
    closedir(d);
}

/* 64 bits nobody else can guess. getrandom() does not block once the kernel's pool is
 * ready; before that (early boot) the clock and a counter still make names that differ,
 * and O_EXCL keeps a guessed one harmless. */
static uint64_t random_bits(void)
{
    static uint64_t counter;
    uint64_t r;
    if (getrandom(&r, sizeof r, GRND_NONBLOCK) == (ssize_t)sizeof r)
        return r;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ ((uint64_t)getpid() << 40) ^ ++counter * 0x9e3779b97f4a7c15u;
}

/* Create the temporary ".<name>.tmp.<pid>.<16 hex digits>" in dirfd, flock'ed; its name in
 * tmp. The name cannot be guessed and O_EXCL refuses anything already there (another
 * user's file, a FIFO, a link): whoever can write to the folder cannot make root's output
 * theirs, or make the open hang. The pid lets remove_stale_temporaries find a dead
 * writer's leftovers. Returns the descriptor, or -1 with errno set. */
static int create_temporary(int dirfd, const char *name, mode_t mode, char *tmp, size_t cap)
{
    for (int tries = 0; tries < 32; tries++) {
        int n = snprintf(tmp, cap, ".%s.tmp.%ld.%016" PRIx64, name, (long)getpid(), random_bits());
        if (n < 0 || (size_t)n >= cap || n > NAME_MAX) {
            errno = ENAMETOOLONG;
            return -1;
        }
        int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, mode);
        if (fd < 0 && errno == EEXIST)
            continue;
        if (fd < 0)
            return -1;
        /* O_EXCL made it, so it is ours and regular; checked anyway, before writing into it. */
        struct stat st;
        int bad = fstat(fd, &st) < 0 ? errno : !S_ISREG(st.st_mode) || st.st_nlink != 1 ? EEXIST : 0;
        if (bad) {
            close(fd);
            errno = bad;
            return -1;
        }
        /* Held until the rename: tells remove_stale_temporaries this temporary is in use. */
        flock(fd, LOCK_EX);
        return fd;
    }
    errno = EEXIST;
    return -1;
}

/* ---- writing ---- */

static int write_atomic_at(int dirfd, const char *dirname_for_errors, const char *name, const void *data,
                           size_t len, mode_t mode, bool durable, nvb_err *err)
{
    /* rename(2) would replace a device node or FIFO with a regular file (`--output
     * /dev/null` must not turn /dev/null into a spec), and a link with a file (the link's
     * owner meant its target). Only regular files (or nothing) are replaced here. */
    struct stat st;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISREG(st.st_mode))
        return nvb_errf(err, NVB_EXIT_IO, "cannot write %s/%s: it is %s; nvbind replaces only regular files",
                        dirname_for_errors, name, file_type_name(st.st_mode));
    char tmp[NAME_MAX + 1];
    _cleanup_close_ int fd = create_temporary(dirfd, name, mode, tmp, sizeof tmp);
    if (fd < 0)
        return nvb_errf_errno(err, NVB_EXIT_IO, errno, "cannot write %s/%s", dirname_for_errors, name);
    if (fchmod(fd, mode) < 0 || nvb_write_all(fd, data, len) < 0 || (durable && fsync(fd) < 0)) {
        int e = errno;
        unlinkat(dirfd, tmp, 0);
        return nvb_errf_errno(err, NVB_EXIT_IO, e, "cannot write %s/%s", dirname_for_errors, name);
    }
    /* Rename before closing, so the lock covers the temporary for as long as it exists. */
    if (renameat(dirfd, tmp, dirfd, name) < 0) {
        int e = errno;
        unlinkat(dirfd, tmp, 0);
        return nvb_errf_errno(err, NVB_EXIT_IO, e, "cannot write %s/%s", dirname_for_errors, name);
    }
    /* Durable: fsync'ed above, a late close error cannot lose it. Volatile: the caller writes
     * the file again at its next run. */
    close(NVB_TAKE_FD(fd));
    if (durable)
        fsync(dirfd); /* make the rename durable; a failure here cannot be undone anyway */
    remove_stale_temporaries(dirfd, name);
    return 0;
}

int nvb_write_file_atomic_at(int dirfd, const char *dirname_for_errors, const char *name,
                             const void *data, size_t len, mode_t mode, nvb_err *err)
{
    return write_atomic_at(dirfd, dirname_for_errors, name, data, len, mode, true, err);
}

int nvb_write_file_volatile_at(int dirfd, const char *dirname_for_errors, const char *name,
                               const void *data, size_t len, mode_t mode, nvb_err *err)
{
    return write_atomic_at(dirfd, dirname_for_errors, name, data, len, mode, false, err);
}

/* The descriptor a path names by number: /dev/stdout, /dev/stderr, /dev/fd/N,
 * /proc/self/fd/N, /proc/thread-self/fd/N. -1 for any other path. Written to as it is: its
 * link in /proc names a pipe or socket no open(2) can reach, or a file the shell opened
 * (`> out.json`, `>> log`) whose offset and append mode the caller meant. */
static int fd_alias(const char *path)
{
    if (strcmp(path, "/dev/stdout") == 0)
        return STDOUT_FILENO;
    if (strcmp(path, "/dev/stderr") == 0)
        return STDERR_FILENO;
    static const char *const dirs[] = {"/dev/fd/", "/proc/self/fd/", "/proc/thread-self/fd/"};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        size_t l = strlen(dirs[i]);
        if (strncmp(path, dirs[i], l) != 0 || path[l] < '0' || path[l] > '9')
            continue;
        char *end;
        errno = 0;
        long fd = strtol(path + l, &end, 10);
        return *end || errno || fd > INT_MAX ? -1 : (int)fd;
    }
    return -1;
}

/* Character devices written to as streams: /dev/null and terminals (the console, virtual
 * terminals, serial lines, pseudo-terminals). Any other device is refused unopened: opening
 * one can have effects of its own. */
static bool stream_device(dev_t rdev)
{
    unsigned ma = major(rdev), mi = minor(rdev);
    return (ma == 1 && mi == 3) || ma == 4 || (ma == 5 && mi <= 1) || (ma >= 136 && ma <= 143);
}

/* Write to the FIFO or device `name` in dirfd in place (a stream has nothing to rename
 * over). Blocks on a FIFO until a reader opens it, as the shell's `>` does. */
static int write_stream(int dirfd, const char *path, const char *name, const void *data, size_t len, nvb_err *err)
{
    _cleanup_close_ int fd = openat(dirfd, name, O_WRONLY | O_NOCTTY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
        return nvb_errf_errno(err, NVB_EXIT_IO, errno, "cannot write %s", path);
    if (!S_ISFIFO(st.st_mode) && !(S_ISCHR(st.st_mode) && stream_device(st.st_rdev)))
        return nvb_errf(err, NVB_EXIT_IO, "cannot write %s: it was replaced while being opened", path);
    if (nvb_write_all(fd, data, len) < 0)
        return nvb_errf_errno(err, NVB_EXIT_IO, errno, "cannot write %s", path);
    return 0;
}

bool nvb_path_is_stream(const char *path)
{
    struct stat st;
    return fd_alias(path) >= 0 ||
           (stat(path, &st) == 0 && (S_ISFIFO(st.st_mode) || (S_ISCHR(st.st_mode) && stream_device(st.st_rdev))));
}

/* Whether the folder `dir` (resolved, absolute) is /dev or under it: device nodes live there,
 * and nvbind never creates or renames a file there. */
static bool in_dev(const char *dir)
{
    return strncmp(dir, "/dev", 4) == 0 && (dir[4] == '\0' || dir[4] == '/');
}

static int write_path(const char *path, const void *data, size_t len, mode_t mode, bool followed, nvb_err *err)
{
    int alias = fd_alias(path);
    if (alias >= 0)
        return nvb_write_all(alias, data, len) < 0 ? nvb_errf_errno(err, NVB_EXIT_IO, errno, "cannot write %s", path)
                                                    : 0;
    _cleanup_free_ char *d = strdup(path), *b = strdup(path);
    if (!d || !b)
        return nvb_errf(err, NVB_EXIT_IO, "%s: out of memory", path);
    const char *dir = dirname(d), *base = basename(b);
    _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return nvb_errf_errno(err, NVB_EXIT_IO, errno, "cannot write %s: folder %s", path, dir);
    struct stat st;
    bool exists = fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0;
    if (exists && S_ISLNK(st.st_mode)) {
        /* Written through to the link's target, atomically there; the link stays. */
        _cleanup_free_ char *target = realpath(path, NULL);
        if (followed || !target)
            return nvb_errf_errno(err, NVB_EXIT_IO, followed ? ELOOP : errno,
                                  "cannot write %s: it is a symbolic link whose target cannot be resolved", path);
        return write_path(target, data, len, mode, true, err);
    }
    if (exists && (S_ISFIFO(st.st_mode) || (S_ISCHR(st.st_mode) && stream_device(st.st_rdev))))
        return write_stream(dfd, path, base, data, len, err);
    _cleanup_free_ char *real_dir = realpath(dir, NULL);
    if (!real_dir)
        return nvb_errf_errno(err, NVB_EXIT_IO, errno, "cannot write %s: folder %s", path, dir);
    if (in_dev(real_dir) && (!exists || S_ISREG(st.st_mode)))
        return nvb_errf(err, NVB_EXIT_IO, "cannot write %s: nvbind creates and replaces no files in /dev", path);
    return nvb_write_file_atomic_at(dfd, dir, base, data, len, mode, err);
}

int nvb_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, nvb_err *err)
{
    return write_path(path, data, len, mode, false, err);
}

int nvb_pread_full(int fd, void *buf, size_t len, off_t off)
{
    size_t got = 0;
    while (got < len) {
        ssize_t r = pread(fd, (char *)buf + got, len - got, off + (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (r == 0)
                errno = 0;
            return -1;
        }
        got += (size_t)r;
    }
    return 0;
}
