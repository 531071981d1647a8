/* The host model the manager keeps between calls (issue 16). Discovery of an 8-GPU host costs
 * several hundred microseconds; an embedding runtime asks for every capsule. So the manager
 * keeps the last model and, before each use, revalidates it with a fingerprint of what can
 * change under a running daemon: a few small reads and stats, no folder walk of the driver's
 * files. Only when the fingerprint differs is the host discovered again.
 *
 * The fingerprint is the exact bytes read (not a hash), so two different states can never
 * compare equal. It is taken BEFORE the discovery it is stored with: a change during that
 * discovery leaves a fingerprint that differs from the next one, and the next call discovers
 * again. What is and is not covered is documented in libnvbind(3), "THE KEPT HOST MODEL".
 *
 * A system call costs about a microsecond on a virtual machine, an open(2) three of them: the
 * files and folders the fingerprint reads are kept open between calls (see kept_fd), so a
 * revalidation is one stat per path, a read only for what may have changed, no open (but for
 * the driver's version file on procfs, see nvb_api_kept_new). */
#include "api/api.h"
#include "host/hostio.h"
#include "util/fileio.h"
#include "util/bytes.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

/* A file or folder the fingerprint reads, kept open between calls. Each call stats the path
 * first and opens it again when the path now names another file than the descriptor's (a
 * removed or replaced file stays readable through an old descriptor, with its OLD content; a
 * removed /proc entry answers EIO, a removed folder lists nothing): so what is read is always
 * what the path names, as if it had been opened afresh.
 *
 * On the file systems whose times follow content (ext4, tmpfs, xfs, btrfs: a write, or an
 * entry added, removed or renamed, moves the change time), what was read is kept with the
 * stat it was read under, and not read again while that stat is unchanged. Only when the
 * change time was already a second old at the read: a later change is then stamped with a
 * later time, even where the clock ticks coarsely, so an unchanged stat proves unchanged
 * content. Other file systems, procfs and sysfs among them (times that never move), are read
 * on every call. */
typedef struct kept_fd {
    int fd;          /* -1 when not open */
    dev_t dev;       /* the descriptor's file, to compare with what the path names */
    ino_t ino;
    bool fills;      /* a folder whose getdents64 fills the buffer unless its end came */
    bool times_follow;  /* its file system moves the change time with the content */
    bool on_proc;    /* procfs */
    bool no_hold;    /* a driver's procfs file: opened for each read, never kept (below) */
    bool have_rec;   /* rec is what it holds while its stat is still this: */
    off_t size;
    struct timespec mtime, ctime;
    char *rec;       /* what was read (the record's body) */
    size_t rec_len, rec_cap;
} kept_fd;

struct nvb_api_kept {
    pthread_mutex_t lock;  /* also over the descriptors, the scratch buffer and the fingerprint */
    nvb_api_model *model;  /* NULL until the first successful discovery */
    char *fp;           /* the fingerprint taken before that discovery */
    size_t fp_len;
    unsigned long discoveries;  /* how many times the host was discovered (tests, bench) */
    int rootfd;         /* the host root (O_PATH), opened once; -1 for "/" or until opened */
    bool rootfd_tried;
    kept_fd version, devices, gpus, drm;  /* what the fingerprint reads */
    nvb_bytes_out scratch;     /* the fingerprint being taken, reused from call to call */
};

/* A tagged record: the tag, the length, the bytes (so no two records run into each other). */
static void fp_record(nvb_bytes_out *b, char tag, const void *data, size_t len)
{
    nvb_bytes_put(b, &tag, 1);
    nvb_bytes_put(b, &len, sizeof len);
    nvb_bytes_put(b, data, len);
}

static void fp_error(nvb_bytes_out *b, char tag, int err)
{
    fp_record(b, (char)(tag | 0x80), &err, sizeof err);
}

/* Where the fingerprint's *at() calls go: the host root's descriptor (or "/"). */
typedef struct fp_at {
    const char *root;
    int rootfd;
} fp_at;

/* `path` (absolute, inside the host root) for a *at() call on *dirfd: relative to the root's
 * descriptor; itself for "/"; root + path in full (PATH_MAX bytes) when the root's descriptor
 * could not be had. NULL when that does not fit. No copy in the first two cases. */
static const char *at_path(const fp_at *a, const char *path, char *full, int *dirfd)
{
    *dirfd = a->rootfd >= 0 ? a->rootfd : AT_FDCWD;
    if (a->rootfd >= 0)
        return path + 1;
    if (strcmp(a->root, "/") == 0)
        return path;
    return nvb_path_cat(full, PATH_MAX, a->root, path, NULL) ? full : NULL;
}

static void kept_close(kept_fd *kf)
{
    if (kf->fd >= 0)
        close(kf->fd);
    kf->fd = -1;
    kf->have_rec = false;
}

/* Folders whose readdir emits entries until the buffer cannot take the next one (a
 * getdents64 that leaves room for the largest entry has reached the end, without a second
 * call to see 0; FUSE or NFS may answer a page at a time); file systems whose change time
 * follows every write and every entry added, removed or renamed. */
static void fs_traits(kept_fd *kf, int fd, bool dir)
{
    struct statfs fs;
    kf->fills = kf->times_follow = kf->on_proc = false;
    if (fstatfs(fd, &fs) < 0)
        return;
    kf->on_proc = fs.f_type == PROC_SUPER_MAGIC;
    bool disk = fs.f_type == EXT4_SUPER_MAGIC || fs.f_type == TMPFS_MAGIC || fs.f_type == XFS_SUPER_MAGIC ||
                fs.f_type == BTRFS_SUPER_MAGIC;
    kf->times_follow = disk;
    kf->fills = dir && (fs.f_type == PROC_SUPER_MAGIC || fs.f_type == SYSFS_MAGIC || fs.f_type == EXT4_SUPER_MAGIC ||
                        fs.f_type == TMPFS_MAGIC);
}

/* Open kf again on the file `rel` names now: a regular file, or a folder when dir. The
 * descriptor's identity is its own fstat's (a path replaced between the caller's stat and
 * this open shows at the next call's stat). 0 or -errno. */
static int kept_reopen(kept_fd *kf, int dirfd, const char *rel, bool dir, struct stat *st)
{
    kept_close(kf);
    /* O_NONBLOCK and the check: a FIFO planted in the host root must not hang the open or
     * the read, as for every file discovery reads (nvb_read_small). */
    int fd = openat(dirfd, rel, (dir ? O_DIRECTORY : O_NOCTTY) | O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return -errno;
    int e = 0;
    if (fstat(fd, st) < 0)
        e = errno;
    else if (!dir && !S_ISREG(st->st_mode))
        e = S_ISDIR(st->st_mode) ? EISDIR : NVB_ENOTREG;
    if (e) {
        close(fd);
        return -e;
    }
    kf->fd = fd;
    kf->dev = st->st_dev;
    kf->ino = st->st_ino;
    if (!(kf->no_hold && kf->on_proc)) /* known: opened for each read, the traits stay */
        fs_traits(kf, fd, dir);
    return 0;
}

/* Make kf the file `path` names now: a stat of the path (into st), compared with the
 * descriptor's identity; opened again when they differ. *fresh says it was. 0 or -errno. */
static int kept_follow(kept_fd *kf, const fp_at *a, const char *path, bool dir, bool *fresh, struct stat *st)
{
    char full[PATH_MAX];
    int dirfd;
    const char *rel = at_path(a, path, full, &dirfd);
    if (!rel)
        return -ENAMETOOLONG;
    *fresh = false;
    if (kf->fd < 0) { /* nothing to compare with: the open's own fstat */
        *fresh = true;
        return kept_reopen(kf, dirfd, rel, dir, st);
    }
    if (fstatat(dirfd, rel, st, 0) < 0) {
        int e = errno;
        kept_close(kf);
        return -e;
    }
    if (kf->fd >= 0 && st->st_dev == kf->dev && st->st_ino == kf->ino)
        return 0;
    *fresh = true;
    return kept_reopen(kf, dirfd, rel, dir, st);
}

/* A kept file's content from its start into buf (at most size - 1 bytes), read with pread(2)
 * (procfs makes its files afresh at offset 0). The end: a read of 0; a short read for
 * NVB_READ_ONE_PIECE; or as many bytes as the stat said the file holds (regular files; procfs
 * says 0). The length, or -errno (-EFBIG when it does not fit). */
static ssize_t kept_pread(int fd, char *buf, size_t size, off_t st_size, enum nvb_read_mode mode)
{
    size_t n = 0;
    for (;;) {
        size_t want = size - 1 - n;
        char probe;
        ssize_t r = pread(fd, want ? buf + n : &probe, want ? want : 1, (off_t)n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (want == 0) /* full: the end only if nothing follows */
            return r ? -EFBIG : (ssize_t)n;
        n += (size_t)r;
        if (r == 0 || (mode == NVB_READ_ONE_PIECE && (size_t)r < want) || (st_size > 0 && (off_t)n == st_size))
            return (ssize_t)n;
    }
}

/* The kept file's content into b, its length first. 0 or -errno. */
static int read_content(nvb_bytes_out *b, const kept_fd *kf, char *buf, size_t size, off_t st_size, enum nvb_read_mode mode)
{
    ssize_t n = kept_pread(kf->fd, buf, size, st_size, mode);
    if (n < 0)
        return (int)n;
    nvb_bytes_put(b, &n, sizeof n);
    nvb_bytes_put(b, buf, (size_t)n);
    return 0;
}

/* The largest entry getdents64 can return (a name of NAME_MAX bytes). */
#define MAX_RECLEN ((offsetof(struct dirent64, d_name) + NAME_MAX + 1 + 7) & ~(size_t)7)

/* The kept folder's entry names into b, from its start, and a 0 after them (no name is
 * empty, so it cannot be taken for one). 0 or -errno. */
static int read_names(nvb_bytes_out *b, const kept_fd *kf, bool fresh, char *buf, size_t size)
{
    if (!fresh && lseek(kf->fd, 0, SEEK_SET) < 0)
        return -errno;
    for (;;) {
        ssize_t n = getdents64(kf->fd, buf, size);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            break;
        for (size_t pos = 0; pos < (size_t)n;) {
            struct dirent64 *e = (struct dirent64 *)(void *)(buf + pos);
            if (e->d_reclen == 0 || e->d_reclen > (size_t)n - pos) /* never from a sane kernel */
                return -EIO;
            pos += e->d_reclen;
            const char *name = e->d_name;
            if (!(name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'))))
                nvb_bytes_put(b, name, strlen(name) + 1);
        }
        if (kf->fills && (size_t)n + MAX_RECLEN <= size)
            break; /* the next entry would have fit: there is none */
    }
    int end = 0;
    nvb_bytes_put(b, &end, sizeof end);
    return 0;
}

static bool same_time(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

/* What kf held when its stat was st, read now: kept when the change time was a second old
 * (see kept_fd). */
static void remember(kept_fd *kf, const struct stat *st, const char *body, size_t len, const struct timespec *now)
{
    kf->have_rec = false;
    if (!kf->times_follow || st->st_ctim.tv_sec + 1 >= now->tv_sec)
        return;
    if (len > kf->rec_cap) {
        char *q = realloc(kf->rec, len);
        if (!q)
            return; /* read again next time */
        kf->rec = q;
        kf->rec_cap = len;
    }
    memcpy(kf->rec, body, len);
    kf->rec_len = len;
    kf->size = st->st_size;
    kf->mtime = st->st_mtim;
    kf->ctime = st->st_ctim;
    kf->have_rec = true;
}

/* A kept file's (or folder's, when dir) identity and content (entry names), or the error. */
static void fp_kept(nvb_bytes_out *b, kept_fd *kf, const fp_at *a, char tag, const char *path, bool dir, char *buf,
                    size_t size, enum nvb_read_mode mode, const struct timespec *now)
{
    int r;
    for (int tries = 0;; tries++) {
        bool fresh;
        struct stat st;
        if ((r = kept_follow(kf, a, path, dir, &fresh, &st)) < 0)
            break;
        int64_t id[] = {(int64_t)kf->dev, (int64_t)kf->ino};
        size_t start = b->n;
        fp_record(b, tag, id, sizeof id);
        if (!fresh && kf->have_rec && st.st_size == kf->size && same_time(&st.st_mtim, &kf->mtime) &&
            same_time(&st.st_ctim, &kf->ctime)) {
            nvb_bytes_put(b, kf->rec, kf->rec_len);
            return;
        }
        size_t body = b->n;
        r = dir ? read_names(b, kf, fresh, buf, size) : read_content(b, kf, buf, size, st.st_size, mode);
        if (r == 0) {
            if (!b->oom)
                remember(kf, &st, b->v + body, b->n - body, now);
            if (kf->no_hold && kf->on_proc)
                kept_close(kf);
            return;
        }
        b->n = start;
        /* A /proc entry removed under an old descriptor (EIO): once more by the path. */
        kept_close(kf);
        if (fresh || tries)
            break;
    }
    fp_error(b, tag, -r);
}

/* A file's identity: device, inode, size, change and modification times (a file replaced or
 * rewritten in place shows a new inode or new times); or the error stat gave. */
static void fp_stat(nvb_bytes_out *b, const fp_at *a, char tag, const char *path)
{
    char full[PATH_MAX];
    int dirfd;
    const char *rel = at_path(a, path, full, &dirfd);
    struct stat st;
    if (!rel || fstatat(dirfd, rel, &st, 0) < 0)
        return fp_error(b, tag, rel ? errno : ENAMETOOLONG);
    /* Plain 64-bit fields: no padding whose bytes would differ from call to call. */
    int64_t id[] = {(int64_t)st.st_dev, (int64_t)st.st_rdev, (int64_t)st.st_ino, (int64_t)st.st_size,
                    (int64_t)st.st_mode, (int64_t)st.st_uid, (int64_t)st.st_gid, (int64_t)st.st_mtim.tv_sec,
                    (int64_t)st.st_mtim.tv_nsec, (int64_t)st.st_ctim.tv_sec, (int64_t)st.st_ctim.tv_nsec};
    fp_record(b, tag, id, sizeof id);
}

/* What the kept model says about where to look: the record set follows it. A fingerprint
 * taken with another model's hints differs from the stored one, which costs one more
 * discovery when the host changes kind, never a stale answer. */
typedef struct fp_hints {
    bool wsl2;              /* the WSL2 folders */
    bool drm;               /* other vendors' GPUs, or a host of those alone */
    const char *drv_root;   /* a driver root apart from the host root: its library cache */
} fp_hints;

/* The host root's descriptor, opened on first use; -1 for "/". k->lock held. */
static int root_fd(struct nvb_api_kept *k, const char *root)
{
    if (!k->rootfd_tried && strcmp(root, "/") != 0) {
        /* The root folder itself: a root replaced later (a new folder at the same path) is a
         * new host, which the manager does not follow; see libnvbind(3). */
        k->rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
        k->rootfd_tried = true;
    }
    return k->rootfd;
}

/* The fingerprint of m's host into b, through the kept descriptors. k->lock held. */
static void fingerprint(const nvbind_gpu_manager *m, const fp_hints *hint, nvb_bytes_out *b)
{
    struct nvb_api_kept *k = m->kept;
    fp_at a = {m->host_root, root_fd(k, m->host_root)};
    char buf[16384] __attribute__((aligned(8)));
    struct timespec now; /* from the vDSO: no system call */
    clock_gettime(CLOCK_REALTIME_COARSE, &now);
    /* The driver loaded, reloaded or upgraded: its version file (absent on WSL2). */
    fp_kept(b, &k->version, &a, 'V', "/proc/driver/nvidia/version", false, buf, sizeof buf, NVB_READ_ONE_PIECE, &now);
    /* Device majors renumbered, a module (nvidia-uvm, nvidia-caps) loaded or unloaded. */
    fp_kept(b, &k->devices, &a, 'D', "/proc/devices", false, buf, sizeof buf, NVB_READ_TO_EOF, &now);
    /* A GPU added or removed (or bound to another driver): the folder's entry names, in the
     * order the kernel lists them (an unchanged folder lists the same; a reordering only
     * costs one more discovery). /proc folders have no times that follow their entries. */
    fp_kept(b, &k->gpus, &a, 'G', "/proc/driver/nvidia/gpus", true, buf, sizeof buf, NVB_READ_TO_EOF, &now);
    if (hint->drm)
        fp_kept(b, &k->drm, &a, 'R', "/sys/class/drm", true, buf, sizeof buf, NVB_READ_TO_EOF, &now);
    static const char *const stats[] = {
        /* Device nodes created, removed or replaced, MIG capability nodes among them (MIG
         * reconfigured): the folders that hold them, whose times move with every entry added,
         * removed or renamed (devtmpfs, tmpfs). */
        "/dev", "/dev/dri", "/dev/nvidia-caps",
        /* The library cache's identity: the driver's libraries as the cache lists them. */
        "/etc/ld.so.cache",
        /* IPC endpoints a daemon starts after us. */
        "/run/nvidia-persistenced/socket", "/run/nvidia-fabricmanager/socket", "/tmp/nvidia-mps",
    };
    for (size_t i = 0; i < sizeof stats / sizeof stats[0]; i++)
        fp_stat(b, &a, (char)('a' + i), stats[i]);
    if (hint->wsl2) {
        fp_stat(b, &a, 'w', "/usr/lib/wsl/lib");
        fp_stat(b, &a, 'x', "/usr/lib/wsl/drivers");
    }
    /* The driver root's own library cache (given, or the GPU operator's). */
    char p[PATH_MAX];
    if (hint->drv_root && nvb_path_cat(p, sizeof p, hint->drv_root, "/etc/ld.so.cache", NULL))
        fp_stat(b, &a, 'L', p);
    /* Folders named by [host] library_search_path: a library added to one. */
    for (size_t i = 0; i < m->config.host.library_search_path.n; i++)
        fp_stat(b, &a, 'S', m->config.host.library_search_path.v[i]);
}

struct nvb_api_kept *nvb_api_kept_new(void)
{
    struct nvb_api_kept *k = calloc(1, sizeof *k);
    if (k && pthread_mutex_init(&k->lock, NULL) != 0) {
        free(k);
        return NULL;
    }
    if (k) {
        k->rootfd = k->version.fd = k->devices.fd = k->gpus.fd = k->drm.fd = -1;
        /* Older NVIDIA drivers take a power-management lock in the open of their /proc files
         * and give it back in the close (the open kernel modules only around each read): a
         * descriptor kept open could hold off suspend for as long as the manager lives. */
        k->version.no_hold = true;
    }
    return k;
}

static void model_unref(nvb_api_model *km)
{
    if (km && __atomic_sub_fetch(&km->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        if (km->cache_free)
            km->cache_free(km->cache);
        nvb_host_free(km->host);
        free(km);
    }
}

void nvb_api_kept_free(struct nvb_api_kept *k)
{
    if (!k)
        return;
    model_unref(k->model);
    free(k->fp);
    free(k->scratch.v);
    kept_fd *kept[] = {&k->version, &k->devices, &k->gpus, &k->drm};
    for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++) {
        kept_close(kept[i]);
        free(kept[i]->rec);
    }
    if (k->rootfd >= 0)
        close(k->rootfd);
    pthread_mutex_destroy(&k->lock);
    free(k);
}

/* What a host model says about where to look. */
static fp_hints hints_of(const nvb_host *h, char *drv, size_t cap)
{
    fp_hints hint = {0};
    if (!h)
        return hint;
    hint.wsl2 = h->wsl2;
    hint.drm = h->n_drm_gpus || !nvb_host_has_nvidia(h);
    /* The driver root discovery took, inside the host root ("/" when the same). */
    if (h->driver_root && strcmp(h->driver_root, "/") != 0 && strlen(h->driver_root) < cap) {
        strcpy(drv, h->driver_root);
        hint.drv_root = drv;
    }
    return hint;
}

static bool same_hints(const fp_hints *a, const fp_hints *b)
{
    return a->wsl2 == b->wsl2 && a->drm == b->drm && !a->drv_root == !b->drv_root &&
           (!a->drv_root || strcmp(a->drv_root, b->drv_root) == 0);
}

/* Take the fingerprint of m's host with the given hints into the kept scratch buffer (no
 * allocation once it has grown). k->lock held. false when out of memory. */
static bool take_locked(const nvbind_gpu_manager *m, const fp_hints *hint)
{
    nvb_bytes_out *b = &m->kept->scratch;
    b->n = 0;
    b->oom = false;
    fingerprint(m, hint, b);
    return !b->oom;
}

/* A copy of the fingerprint just taken, to keep with a model. k->lock held. */
static char *scratch_copy(const struct nvb_api_kept *k, size_t *len)
{
    char *fp = malloc(k->scratch.n ? k->scratch.n : 1);
    if (fp && k->scratch.n)
        memcpy(fp, k->scratch.v, k->scratch.n);
    *len = k->scratch.n;
    return fp;
}

/* The fingerprint just taken equals the kept model's. k->lock held. */
static bool same(const struct nvb_api_kept *k)
{
    return k->model && k->fp_len == k->scratch.n && memcmp(k->fp, k->scratch.v, k->scratch.n) == 0;
}

int nvb_api_kept_check(const nvbind_gpu_manager *m)
{
    struct nvb_api_kept *k = m->kept;
    char drv[PATH_MAX];
    pthread_mutex_lock(&k->lock);
    fp_hints hint = hints_of(k->model ? k->model->host : NULL, drv, sizeof drv);
    int r = take_locked(m, &hint) ? same(k) : -1;
    pthread_mutex_unlock(&k->lock);
    return r;
}

unsigned long nvb_api_kept_discoveries(const nvbind_gpu_manager *m)
{
    pthread_mutex_lock(&m->kept->lock);
    unsigned long n = m->kept->discoveries;
    pthread_mutex_unlock(&m->kept->lock);
    return n;
}

/* The fingerprint of m's host with the given hints, to keep; NULL when out of memory. */
static char *take_copy(const nvbind_gpu_manager *m, const fp_hints *hint, size_t *len)
{
    struct nvb_api_kept *k = m->kept;
    pthread_mutex_lock(&k->lock);
    char *fp = take_locked(m, hint) ? scratch_copy(k, len) : NULL;
    pthread_mutex_unlock(&k->lock);
    return fp;
}

nvb_api_model *nvb_api_host_acquire(const nvbind_gpu_manager *m, nvbind_error **err)
{
    if (!m)
        return nvb_api_failf(err, NVB_EXIT_USAGE, "the GPU manager is NULL"), NULL;
    struct nvb_api_kept *k = m->kept;
    size_t len;
    char drv[PATH_MAX];
    pthread_mutex_lock(&k->lock);
    fp_hints hint = hints_of(k->model ? k->model->host : NULL, drv, sizeof drv);
    bool taken = take_locked(m, &hint);
    if (taken && same(k)) {
        nvb_api_model *km = k->model;
        __atomic_add_fetch(&km->refs, 1, __ATOMIC_RELAXED);
        pthread_mutex_unlock(&k->lock);
        return km;
    }
    char *fp = taken ? scratch_copy(k, &len) : NULL;
    pthread_mutex_unlock(&k->lock);
    if (!fp)
        return nvb_api_oom(err, "revalidating the host model"), NULL;
    /* Changed (or never discovered): discover outside the lock; callers holding the old
     * model keep it until they release it. A failed discovery is not kept: the next call
     * tries again. */
    nvb_host *h = nvb_api_discover_any(m, false, err);
    char drv2[PATH_MAX];
    fp_hints now = hints_of(h, drv2, sizeof drv2);
    if (h && !same_hints(&hint, &now)) {
        /* The host changed kind (WSL2, other vendors, a driver root): the fingerprint for
         * its record set, taken before a second discovery, so that it predates its model. */
        free(fp);
        if (!(fp = take_copy(m, &now, &len))) {
            nvb_host_free(h);
            return nvb_api_oom(err, "revalidating the host model"), NULL;
        }
        nvb_host_free(h);
        h = nvb_api_discover_any(m, false, err);
    }
    nvb_api_model *km = h ? calloc(1, sizeof *km) : NULL;
    if (!km) {
        if (h)
            nvb_api_oom(err, "keeping the host model");
        nvb_host_free(h);
        free(fp);
        return NULL;
    }
    km->host = h;
    km->refs = 2; /* the slot's and the caller's */
    pthread_mutex_lock(&k->lock);
    model_unref(k->model);
    k->model = km;
    free(k->fp);
    k->fp = fp;
    k->fp_len = len;
    k->discoveries++;
    pthread_mutex_unlock(&k->lock);
    return km;
}

void nvb_api_host_release(const nvbind_gpu_manager *m, nvb_api_model *km)
{
    (void)m;
    model_unref(km); /* atomic: a result holding the model may outlive its manager */
}

void *nvb_api_model_cache(const nvbind_gpu_manager *m, nvb_api_model *km, void *(*make)(const nvbind_gpu_manager *, const nvb_host *),
                          void (*drop)(void *))
{
    pthread_mutex_lock(&m->kept->lock);
    if (!km->cache && (km->cache = make(m, km->host)))
        km->cache_free = drop;
    void *c = km->cache;
    pthread_mutex_unlock(&m->kept->lock);
    return c;
}
