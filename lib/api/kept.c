/* The host model the manager keeps between calls (issue 16). Discovery of an 8-GPU host costs
 * several hundred microseconds; an embedding runtime asks for every capsule. So the manager
 * keeps the last model and, before each use, revalidates it with a fingerprint of what can
 * change under a running daemon: a few small reads and stats, no folder walk of the driver's
 * files. Only when the fingerprint differs is the host discovered again.
 *
 * The fingerprint is the exact bytes read (not a hash), so two different states can never
 * compare equal. It is taken BEFORE the discovery it is stored with: a change during that
 * discovery leaves a fingerprint that differs from the next one, and the next call discovers
 * again. What is and is not covered is documented in libnvbind(3), "THE KEPT HOST MODEL". */
#include "api/api.h"
#include "host/hostio.h"
#include "util/grow.h"

#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct nvb_api_kept {
    pthread_mutex_t lock;
    nvb_api_model *model;  /* NULL until the first successful discovery */
    char *fp;           /* the fingerprint taken before that discovery */
    size_t fp_len;
    unsigned long discoveries;  /* how many times the host was discovered (tests, bench) */
    int rootfd;         /* the host root (O_PATH), opened once; -1 for "/" or until opened */
    bool rootfd_tried;
};

typedef struct fp_buf {
    char *v;
    size_t n, cap;
    bool oom;
} fp_buf;

static void fp_put(fp_buf *b, const void *data, size_t len)
{
    while (!b->oom && b->n + len > b->cap) {
        char *q = nvb_grow(b->v, &b->cap, b->cap ? b->cap : 1, 1, 4096);
        if (!q)
            b->oom = true;
        else
            b->v = q;
    }
    if (!b->oom) {
        memcpy(b->v + b->n, data, len);
        b->n += len;
    }
}

/* A tagged record: the tag, the length, the bytes (so no two records run into each other). */
static void fp_record(fp_buf *b, char tag, const void *data, size_t len)
{
    fp_put(b, &tag, 1);
    fp_put(b, &len, sizeof len);
    fp_put(b, data, len);
}

/* A small file's content, or the error reading it gave. */
static void fp_file(fp_buf *b, nvb_rootpath *rp, char tag, const char *path, char *buf, size_t size,
                    enum nvb_read_mode mode)
{
    ssize_t n = nvb_read_small(rp, path, buf, size, mode);
    if (n < 0) {
        int e = (int)-n;
        fp_record(b, (char)(tag | 0x80), &e, sizeof e);
    } else {
        fp_record(b, tag, buf, (size_t)n);
    }
}

/* A folder's entry names in the order the kernel lists them (an unchanged folder lists the
 * same; a reordering only costs one more discovery). */
static void fp_listing(fp_buf *b, nvb_rootpath *rp, char tag, const char *path)
{
    nvb_dir d;
    int r = nvb_dir_open(&d, rp, path);
    if (r < 0) {
        fp_record(b, (char)(tag | 0x80), &r, sizeof r);
        return;
    }
    fp_put(b, &tag, 1);
    const char *name;
    while ((name = nvb_dir_next(&d, NULL)))
        fp_put(b, name, strlen(name) + 1);
    int e = errno;
    fp_put(b, &e, sizeof e);
    nvb_dir_close(&d);
}

/* A file's identity: device, inode, size, change and modification times (a file replaced or
 * rewritten in place shows a new inode or new times); or the error stat gave. */
static void fp_stat(fp_buf *b, int dirfd, const char *root, char tag, const char *path)
{
    char full[PATH_MAX];
    const char *p = path;
    if (dirfd == AT_FDCWD) {
        if (!nvb_path_cat(full, sizeof full, strcmp(root, "/") ? root : "", path, NULL))
            return fp_record(b, (char)(tag | 0x80), "", 0);
        p = full;
    } else {
        p = path + 1;
    }
    struct stat st;
    if (fstatat(dirfd, p, &st, 0) < 0) {
        int e = errno;
        return fp_record(b, (char)(tag | 0x80), &e, sizeof e);
    }
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

/* The fingerprint of m's host into b; rootfd is the host root's descriptor (or -1 for "/"). */
static void fingerprint(const nvbind_gpu_manager *m, int rootfd, const fp_hints *hint, fp_buf *b)
{
    nvb_rootpath rp;
    nvb_rootpath_init(&rp, m->host_root);
    rp.fd_tried = true; /* the kept descriptor: nothing to open per call */
    rp.fd = rootfd;
    char buf[16384];
    /* The driver loaded, reloaded or upgraded: its version file (absent on WSL2). */
    fp_file(b, &rp, 'V', "/proc/driver/nvidia/version", buf, sizeof buf, NVB_READ_ONE_PIECE);
    /* Device majors renumbered, a module (nvidia-uvm, nvidia-caps) loaded or unloaded. */
    fp_file(b, &rp, 'D', "/proc/devices", buf, sizeof buf, NVB_READ_TO_EOF);
    /* A GPU added or removed (or bound to another driver): /proc folders have no times that
     * follow their entries, so the listing itself. */
    fp_listing(b, &rp, 'G', "/proc/driver/nvidia/gpus");
    if (hint->drm)
        fp_listing(b, &rp, 'R', "/sys/class/drm");
    int dirfd = rootfd >= 0 ? rootfd : AT_FDCWD;
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
        fp_stat(b, dirfd, m->host_root, (char)('a' + i), stats[i]);
    if (hint->wsl2) {
        fp_stat(b, dirfd, m->host_root, 'w', "/usr/lib/wsl/lib");
        fp_stat(b, dirfd, m->host_root, 'x', "/usr/lib/wsl/drivers");
    }
    /* The driver root's own library cache (given, or the GPU operator's). */
    char p[PATH_MAX];
    if (hint->drv_root && nvb_path_cat(p, sizeof p, hint->drv_root, "/etc/ld.so.cache", NULL))
        fp_stat(b, dirfd, m->host_root, 'L', p);
    /* Folders named by [host] library_search_path: a library added to one. */
    for (size_t i = 0; i < m->config.host.library_search_path.n; i++)
        fp_stat(b, dirfd, m->host_root, 'S', m->config.host.library_search_path.v[i]);
    rp.fd = -1; /* not ours to close */
    nvb_rootpath_clear(&rp);
}

struct nvb_api_kept *nvb_api_kept_new(void)
{
    struct nvb_api_kept *k = calloc(1, sizeof *k);
    if (k && pthread_mutex_init(&k->lock, NULL) != 0) {
        free(k);
        return NULL;
    }
    if (k)
        k->rootfd = -1;
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

/* The host root's descriptor, opened on first use; -1 for "/". */
static int root_fd(const nvbind_gpu_manager *m)
{
    struct nvb_api_kept *k = m->kept;
    pthread_mutex_lock(&k->lock);
    if (!k->rootfd_tried && strcmp(m->host_root, "/") != 0) {
        /* The root folder itself: a root replaced later (a new folder at the same path) is a
         * new host, which the manager does not follow; see libnvbind(3). */
        k->rootfd = open(m->host_root, O_PATH | O_DIRECTORY | O_CLOEXEC);
        k->rootfd_tried = true;
    }
    int fd = k->rootfd;
    pthread_mutex_unlock(&k->lock);
    return fd;
}

/* Take the fingerprint of m's host with the given hints; NULL when out of memory. */
static char *take_with(const nvbind_gpu_manager *m, const fp_hints *hint, size_t *len)
{
    fp_buf b = {0};
    fingerprint(m, root_fd(m), hint, &b);
    if (b.oom) {
        free(b.v);
        return NULL;
    }
    *len = b.n;
    return b.v ? b.v : malloc(1);
}

/* Take the fingerprint of m's host, as the kept model hints; NULL when out of memory. */
static char *take(const nvbind_gpu_manager *m, fp_hints *hint, char *drv, size_t *len)
{
    struct nvb_api_kept *k = m->kept;
    pthread_mutex_lock(&k->lock);
    *hint = hints_of(k->model ? k->model->host : NULL, drv, PATH_MAX);
    pthread_mutex_unlock(&k->lock);
    return take_with(m, hint, len);
}

static bool same(const struct nvb_api_kept *k, const char *fp, size_t len)
{
    return k->model && k->fp_len == len && memcmp(k->fp, fp, len) == 0;
}

int nvb_api_kept_check(const nvbind_gpu_manager *m)
{
    size_t len;
    fp_hints hint;
    char drv[PATH_MAX];
    char *fp = take(m, &hint, drv, &len);
    if (!fp)
        return -1;
    pthread_mutex_lock(&m->kept->lock);
    int r = same(m->kept, fp, len);
    pthread_mutex_unlock(&m->kept->lock);
    free(fp);
    return r;
}

unsigned long nvb_api_kept_discoveries(const nvbind_gpu_manager *m)
{
    pthread_mutex_lock(&m->kept->lock);
    unsigned long n = m->kept->discoveries;
    pthread_mutex_unlock(&m->kept->lock);
    return n;
}

nvb_api_model *nvb_api_host_acquire(const nvbind_gpu_manager *m, nvbind_error **err)
{
    if (!m)
        return nvb_api_failf(err, NVB_EXIT_USAGE, "the GPU manager is NULL"), NULL;
    struct nvb_api_kept *k = m->kept;
    size_t len;
    fp_hints hint;
    char drv[PATH_MAX];
    char *fp = take(m, &hint, drv, &len);
    if (!fp)
        return nvb_api_oom(err, "revalidating the host model"), NULL;
    pthread_mutex_lock(&k->lock);
    if (same(k, fp, len)) {
        nvb_api_model *km = k->model;
        __atomic_add_fetch(&km->refs, 1, __ATOMIC_RELAXED);
        pthread_mutex_unlock(&k->lock);
        free(fp);
        return km;
    }
    pthread_mutex_unlock(&k->lock);
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
        if (!(fp = take_with(m, &now, &len))) {
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
