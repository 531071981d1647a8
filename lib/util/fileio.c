#include "util/fileio.h"
#include "util/cleanup.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *nvb_read_file(const char *path, size_t max, size_t *len)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
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

static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int nvb_write_file_atomic_at(int dirfd, const char *dirname_for_errors, const char *name,
                             const void *data, size_t len, mode_t mode, nvb_err *err)
{
    char tmp[4096];
    int n = snprintf(tmp, sizeof tmp, ".%s.tmp.%ld", name, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof tmp)
        return nvb_errf(err, NVB_EXIT_IO, "%s/%s: file name too long", dirname_for_errors, name);
    _cleanup_close_ int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0)
        return nvb_errf_errno(err, NVB_EXIT_IO, errno, "cannot write %s/%s", dirname_for_errors, name);
    if (fchmod(fd, mode) < 0 || write_all(fd, data, len) < 0 || fsync(fd) < 0) {
        int e = errno;
        unlinkat(dirfd, tmp, 0);
        return nvb_errf_errno(err, NVB_EXIT_IO, e, "cannot write %s/%s", dirname_for_errors, name);
    }
    if (close(NVB_TAKE_FD(fd)) < 0 || renameat(dirfd, tmp, dirfd, name) < 0) {
        int e = errno;
        unlinkat(dirfd, tmp, 0);
        return nvb_errf_errno(err, NVB_EXIT_IO, e, "cannot write %s/%s", dirname_for_errors, name);
    }
    fsync(dirfd); /* make the rename durable; a failure here cannot be undone anyway */
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
