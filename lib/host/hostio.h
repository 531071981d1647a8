/* Reading the host's small files and listing its folders with as few system calls as the
 * kernel allows: discovery does this a few hundred times per run, and on a busy or
 * virtualised host each call costs more than the work around it. */
#pragma once
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <sys/types.h>
#include "host/rootpath.h"
#include "util/error.h"

/* How much of a file one read(2) returns. */
enum nvb_read_mode {
    /* Read until read(2) returns 0: any file. */
    NVB_READ_TO_EOF,
    /* The kernel hands out the whole file in one piece when the buffer can hold it: sysfs
     * attributes, procfs files made by a single show() (the driver's /proc/driver/nvidia
     * files), regular files. A short read is the end, without a second call to see 0. */
    NVB_READ_ONE_PIECE,
};

/* Read the regular file `path` inside rp's root (opened by nvb_rootpath_open: its links
 * followed, never out of the root) into buf, NUL-terminated. Returns the length, or -errno:
 * -EFBIG when the file does not fit in size - 1 bytes, -NVB_ENOTREG for a FIFO, device or
 * socket (never blocks on one), -EISDIR for a folder. */
ssize_t nvb_read_small(nvb_rootpath *rp, const char *path, char *buf, size_t size, enum nvb_read_mode mode);

/* The exit status for a driver file nvb_read_small could not read (errnum > 0): the file is
 * not what the driver makes (missing, a folder, too large, a path through a non-folder or a
 * link loop, a FIFO or device) -> NVB_EXIT_HOST_DATA; the system failed to read it -> NVB_EXIT_IO. */
static inline int nvb_host_read_exit(int errnum)
{
    return errnum == ENOENT || errnum == EISDIR || errnum == EFBIG || errnum == ENOTDIR || errnum == ELOOP ||
                   errnum == NVB_ENOTREG
               ? NVB_EXIT_HOST_DATA
               : NVB_EXIT_IO;
}

/* A folder listing straight from getdents64(2): no stdio-style stream, no fstat. */
typedef struct nvb_dir {
    int fd;
    nvb_rootpath *rp;  /* closes fd */
    long dep;          /* the listing's note in rp->deps (host/deps.h), -1 when none */
    size_t pos, len;
    char buf[8192] __attribute__((aligned(8)));
} nvb_dir;

/* Open the folder `path` inside rp's root (nvb_rootpath_open: links followed inside the
 * root). 0 or -errno. */
int nvb_dir_open(nvb_dir *d, nvb_rootpath *rp, const char *path);
/* The next entry's name (not "." or ".."), its d_type in *type when type is not NULL;
 * NULL at the end or on a read error (then errno is set, else errno is 0). */
const char *nvb_dir_next(nvb_dir *d, unsigned char *type);
void nvb_dir_close(nvb_dir *d);

/* out = a + b + c (c may be NULL), NUL-terminated in cap bytes; false when it does not
 * fit. Cheaper than snprintf for the few hundred paths discovery builds. */
static inline bool nvb_path_cat(char *out, size_t cap, const char *a, const char *b, const char *c)
{
    const char *parts[3] = {a, b, c};
    size_t n = 0;
    for (int i = 0; i < 3; i++) {
        if (!parts[i])
            continue;
        size_t l = strlen(parts[i]);
        if (l >= cap - n)
            return false;
        memcpy(out + n, parts[i], l);
        n += l;
    }
    out[n] = '\0';
    return true;
}
