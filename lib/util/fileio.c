#include "util/fileio.h"
#include "util/cleanup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
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

char *nvb_read_file(const char *path, size_t max, size_t *len)
{
    /* O_NONBLOCK: a FIFO planted where a file was expected must not hang the open; it, a
     * device or a socket is then refused by the check. */
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0 || nvb_check_regular(fd) < 0)
        return NULL;
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
                         : "not a regular file";
}

/* A temporary of this name whose writer is gone: a writer killed between creating its
 * temporary and renaming it (kill -9, a crash) leaves ".<name>.tmp.<pid>" behind. Its pid no
 * longer runs here, and no writer holds its lock: every writer flocks its temporary while it
 * writes, which also covers a writer in another pid namespace whose pid means nothing here. */
static bool stale_temporary(int dirfd, const char *entry, const char *prefix, size_t prefix_len)
{
    if (strncmp(entry, prefix, prefix_len) != 0)
        return false;
    const char *digits = entry + prefix_len;
    char *end;
    errno = 0;
    long pid = strtol(digits, &end, 10);
    if (end == digits || *end || errno || pid <= 0 || pid == (long)getpid())
        return false;
    if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
        return false;
    _cleanup_close_ int fd = openat(dirfd, entry, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
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

int nvb_write_file_atomic_at(int dirfd, const char *dirname_for_errors, const char *name,
                             const void *data, size_t len, mode_t mode, nvb_err *err)
{
    char tmp[4096];
    int n = snprintf(tmp, sizeof tmp, ".%s.tmp.%ld", name, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof tmp)
        return nvb_errf(err, NVB_EXIT_IO, "%s/%s: file name too long", dirname_for_errors, name);
    /* rename(2) would replace a device node or FIFO with a regular file: `--output /dev/null`
     * must not turn /dev/null into a spec. Only regular files (or nothing) are replaced. */
    struct stat st;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode))
        return nvb_errf(err, NVB_EXIT_IO, "cannot write %s/%s: it is %s; nvbind replaces only regular files",
                        dirname_for_errors, name, file_type_name(st.st_mode));
    _cleanup_close_ int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0)
        return nvb_errf_errno(err, NVB_EXIT_IO, errno, "cannot write %s/%s", dirname_for_errors, name);
    /* Held until the rename: tells remove_stale_temporaries this temporary is in use. */
    flock(fd, LOCK_EX);
    if (fchmod(fd, mode) < 0 || nvb_write_all(fd, data, len) < 0 || fsync(fd) < 0) {
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
    close(NVB_TAKE_FD(fd)); /* the data was fsync'ed above: a late close error cannot lose it */
    fsync(dirfd); /* make the rename durable; a failure here cannot be undone anyway */
    remove_stale_temporaries(dirfd, name);
    return 0;
}

int nvb_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, nvb_err *err)
{
    _cleanup_free_ char *d = strdup(path), *b = strdup(path);
    if (!d || !b)
        return nvb_errf(err, NVB_EXIT_IO, "%s: out of memory", path);
    const char *dir = dirname(d), *base = basename(b);
    _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return nvb_errf_errno(err, NVB_EXIT_IO, errno, "cannot write %s: folder %s", path, dir);
    return nvb_write_file_atomic_at(dfd, dir, base, data, len, mode, err);
}
