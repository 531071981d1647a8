#include "host/hostio.h"
#include "host/deps.h"
#include "util/fileio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

ssize_t nvb_read_small(nvb_rootpath *rp, const char *path, char *buf, size_t size, enum nvb_read_mode mode)
{
    if (size < 2)
        return -EINVAL;
    /* O_NONBLOCK and the check: a FIFO planted in the host root would hang the open or the
     * read. sysfs and procfs files are regular files too. */
    long dep;
    int fd = nvb_rootpath_open_noted(rp, path, O_RDONLY | O_NOCTTY | O_NONBLOCK, &dep);
    if (fd < 0)
        return -errno;
    if (nvb_check_regular(fd) < 0) {
        int e = errno;
        nvb_rootpath_close(rp, fd);
        return -e;
    }
    size_t n = 0;
    ssize_t r;
    for (;;) {
        size_t want = size - 1 - n;
        if (want == 0) {
            /* Full: the end only if nothing follows (one byte is enough to know). */
            char probe;
            do
                r = read(fd, &probe, 1);
            while (r < 0 && errno == EINTR);
            if (r != 0) {
                r = r < 0 ? -errno : -EFBIG;
                break;
            }
            break;
        }
        r = read(fd, buf + n, want);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            r = -errno;
            break;
        }
        n += (size_t)r;
        if (r == 0 || (mode == NVB_READ_ONE_PIECE && (size_t)r < want))
            break;
    }
    nvb_rootpath_close(rp, fd);
    if (r < 0)
        return r;
    buf[n] = '\0';
    if (dep >= 0) /* what was read, for the host cache (host/deps.h) */
        nvb_deps_content(rp->deps, dep, buf, n);
    return (ssize_t)n;
}

int nvb_dir_open(nvb_dir *d, nvb_rootpath *rp, const char *path)
{
    d->pos = d->len = 0;
    d->rp = rp;
    d->fd = nvb_rootpath_open_noted(rp, path, O_RDONLY | O_DIRECTORY, &d->dep);
    return d->fd < 0 ? -errno : 0;
}

const char *nvb_dir_next(nvb_dir *d, unsigned char *type)
{
    for (;;) {
        if (d->pos >= d->len) {
            ssize_t n;
            do
                n = getdents64(d->fd, d->buf, sizeof d->buf);
            while (n < 0 && errno == EINTR);
            if (n <= 0) {
                if (n == 0) {
                    errno = 0;
                    if (d->dep >= 0)
                        nvb_deps_name(d->rp->deps, d->dep, NULL); /* seen to its end */
                }
                return NULL;
            }
            d->pos = 0;
            d->len = (size_t)n;
        }
        struct dirent64 *e = (struct dirent64 *)(void *)(d->buf + d->pos);
        if (e->d_reclen == 0 || e->d_reclen > d->len - d->pos) { /* never from a sane kernel */
            errno = EIO;
            return NULL;
        }
        d->pos += e->d_reclen;
        const char *name = e->d_name;
        if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0')))
            continue;
        if (type)
            *type = e->d_type;
        if (d->dep >= 0)
            nvb_deps_name(d->rp->deps, d->dep, name);
        return name;
    }
}

void nvb_dir_close(nvb_dir *d)
{
    nvb_rootpath_close(d->rp, d->fd);
    d->fd = -1;
}
