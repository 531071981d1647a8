/* Paths inside a host root: resolve symlinks the way the host's kernel would if root
 * were "/", but never leave root (an absolute link target restarts at root, ".." stops
 * at root).
 *
 * Discovery resolves a few hundred paths that share a few folders and link chains
 * (libcuda.so -> libcuda.so.1 -> libcuda.so.550.54.14), so every path element resolved once
 * is remembered: a folder or link is asked about once per discovery, whatever the number of
 * files under it. System calls go relative to a descriptor of the root, which saves the
 * kernel the root's own components on each of them. One nvb_rootpath is used by one thread
 * at a time (the memo, and the walk's buffers kept with it, are not locked). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

struct nvb_rootpath_memo;
struct nvb_deps;

typedef struct nvb_rootpath {
    const char *root;   /* "/" or a directory without trailing slash */
    size_t root_len;    /* 0 when root is "/" */
    int fd;             /* the root folder (O_PATH), -1 while not opened or when unavailable */
    bool fd_tried;      /* opening fd was attempted */
    bool no_openat2;    /* openat2(2) was refused: nvb_rootpath_open walks instead */
    struct nvb_rootpath_memo *memo;  /* resolved path elements, allocated on first use */
    int deferred[32];   /* descriptors whose close is put off, see nvb_rootpath_close */
    unsigned n_deferred;
    /* When not NULL, every element resolved and every path opened is noted there, for the
     * host cache (host/deps.h). Set by the caller; not owned. */
    struct nvb_deps *deps;
} nvb_rootpath;

/* Set up; allocates nothing (a root used only for nvb_rootpath_host needs no clear). */
void nvb_rootpath_init(nvb_rootpath *rp, const char *root);
/* Release the memo and the root descriptor; rp can be used again afterwards. */
void nvb_rootpath_clear(nvb_rootpath *rp);

/* Resolve `path` (absolute, relative to root). Returns the resolved path relative to
 * root ("/usr/lib/.../libcuda.so.550.54.14"), malloc'd; NULL with errno on failure
 * (ENOENT when a component is missing, ELOOP after 40 links). */
char *nvb_rootpath_resolve(nvb_rootpath *rp, const char *path);

/* The same into out (PATH_MAX bytes); when st is not NULL, also stat the result (as
 * stat(2) would, links followed inside root). 0, or -errno. */
int nvb_rootpath_lookup(nvb_rootpath *rp, const char *path, char *out, struct stat *st);

/* root + path, the path as this process sees it. malloc'd. */
char *nvb_rootpath_host(const nvb_rootpath *rp, const char *path);

/* Open `path` (relative to root, "/proc/devices"), its links followed inside the root as
 * the walk above follows them (an absolute target restarts at root, ".." stops there, /proc
 * magic links refused): one openat2(2) with RESOLVE_IN_ROOT, or the walk and an
 * O_NOFOLLOW open where openat2 is refused (before Linux 5.6, seccomp). O_NONBLOCK and
 * O_CLOEXEC are added (a FIFO planted in the root must not hang the open). -1 with errno
 * on failure. */
int nvb_rootpath_open(nvb_rootpath *rp, const char *path, int flags);
/* The same, and the index of its note in rp->deps in *dep (-1 when none): a listing's
 * names are noted under it (nvb_dir). */
int nvb_rootpath_open_noted(nvb_rootpath *rp, const char *path, int flags, long *dep);

/* Does `path` lead to a file of any kind, links followed inside root (nvb_rootpath_lookup
 * would succeed)? One O_PATH open. */
bool nvb_rootpath_exists(nvb_rootpath *rp, const char *path);

/* readlink(2) of `path` inside root, whose folder is resolved already ("/usr/lib/x/libcuda.so.1",
 * as nvb_rootpath_lookup gives a folder): the target, NUL-terminated in buf (size bytes),
 * and its length; -EINVAL when it is no link, -ENAMETOOLONG when it needs size - 1 bytes or
 * more, -errno otherwise. An element a walk asked
 * about is answered from the memo, without a system call. */
int nvb_rootpath_readlink(nvb_rootpath *rp, const char *path, char *buf, size_t size);

/* Close a descriptor opened with nvb_rootpath_open, later: discovery opens and closes a
 * hundred files one after the other, and their descriptors, numbered one after the
 * other, are closed together with close_range(2). Flushed when 32 are pending, by
 * nvb_rootpath_flush_closes and by nvb_rootpath_clear. */
void nvb_rootpath_close(nvb_rootpath *rp, int fd);
void nvb_rootpath_flush_closes(nvb_rootpath *rp);
