#include "host/deps.h"
#include "host/hostio.h"
#include "host/rootpath.h"
#include "util/grow.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/vfs.h>
#include <unistd.h>

#ifndef OVERLAYFS_SUPER_MAGIC
#define OVERLAYFS_SUPER_MAGIC 0x794c7630
#endif

/* What an entry holds besides its identity: a listing's names or a file's bytes. */
typedef struct blob {
    nvb_bytes_out bytes;
    bool have;  /* recorded (a listing: to its end when `end`) */
    bool end;
} blob;

enum {
    DROPPED = 0x100, /* settled, and not kept: see nvb_deps_settle */
};

enum fs_kind { FS_DISK, FS_PSEUDO, FS_OTHER };

typedef struct dep {
    char *path;      /* as this process names it: root + element; NULL for an opened path */
    size_t root_len; /* where the element begins in it */
    size_t len;      /* the path's length */
    char *root;      /* opened, not yet resolved: the root and the path inside it, */
    char *rel;
    int flags;       /* the open's flags, */
    int open_err;    /* and what it gave (0: opened) */
    unsigned what;   /* enum nvb_dep_what, NVB_DEP_SAW_* and DROPPED */
    enum fs_kind fs;
    int err;         /* what statx(2) gave, 0 when found */
    int64_t id[13];  /* see ident() */
    blob data;       /* a listing's names (NUL-terminated each) or the bytes read */
} dep;

/* Elements are noted each time discovery meets them (a few hundred times for a few hundred
 * elements, most of them more than once): a hash index over the paths keeps one entry each. */
struct nvb_deps {
    dep *v;
    size_t n, cap;
    uint32_t *index;  /* open addressing: entry index + 1, 0 for empty */
    size_t mask, used;
    bool oom;
};

nvb_deps *nvb_deps_new(void)
{
    return calloc(1, sizeof(nvb_deps));
}

static void dep_clear(dep *e)
{
    free(e->path);
    free(e->root);
    free(e->rel);
    free(e->data.bytes.v);
}

void nvb_deps_free(nvb_deps *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n; i++)
        dep_clear(&d->v[i]);
    free(d->v);
    free(d->index);
    free(d);
}

static dep *push(nvb_deps *d)
{
    dep *v = nvb_grow(d->v, &d->cap, d->n, sizeof *v, 64);
    if (!v) {
        d->oom = true;
        return NULL;
    }
    d->v = v;
    dep *e = &d->v[d->n++];
    memset(e, 0, sizeof *e);
    return e;
}

static uint32_t path_hash(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

/* The slot of root[0..rl) + el[0..n) in the index: its entry's, or the empty one where it
 * goes. Hashed over the element alone: a discovery has one or two roots. */
static uint32_t *slot_of(const nvb_deps *d, const char *root, size_t rl, const char *el, size_t n)
{
    for (size_t i = (path_hash(el, n) ^ (uint32_t)rl) & d->mask;; i = (i + 1) & d->mask) {
        uint32_t *s = &d->index[i];
        if (!*s)
            return s;
        const dep *e = &d->v[*s - 1];
        if (e->len == rl + n && memcmp(e->path, root, rl) == 0 && memcmp(e->path + rl, el, n) == 0)
            return s;
    }
}

static bool index_grow(nvb_deps *d)
{
    if (d->index && (d->used + 1) * 2 <= d->mask + 1)
        return true;
    size_t cap = d->index ? (d->mask + 1) * 2 : 512;
    uint32_t *old = d->index;
    size_t old_cap = d->index ? d->mask + 1 : 0;
    d->index = calloc(cap, sizeof *d->index);
    if (!d->index) {
        d->index = old;
        d->oom = true;
        return false;
    }
    d->mask = cap - 1;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i]) {
            const dep *e = &d->v[old[i] - 1];
            *slot_of(d, e->path, e->root_len, e->path + e->root_len, e->len - e->root_len) = old[i];
        }
    free(old);
    return true;
}

/* The entry for root[0..rl) + el[0..n) ("/" when both are empty), made when new; NULL when
 * out of memory. */
static dep *entry(nvb_deps *d, const char *root, size_t rl, const char *el, size_t n)
{
    if (rl + n == 0) {
        el = "/";
        n = 1;
    }
    if (!index_grow(d))
        return NULL;
    uint32_t *s = slot_of(d, root, rl, el, n);
    if (*s)
        return &d->v[*s - 1];
    dep *e = push(d);
    if (!e)
        return NULL;
    if (!(e->path = malloc(rl + n + 1))) {
        d->n--;
        d->oom = true;
        return NULL;
    }
    memcpy(e->path, root, rl);
    memcpy(e->path + rl, el, n);
    e->path[rl + n] = '\0';
    e->root_len = rl;
    e->len = rl + n;
    *s = (uint32_t)d->n;
    d->used++;
    return e;
}

void nvb_deps_element(nvb_deps *d, const char *root, size_t root_len, const char *el, size_t len, unsigned what)
{
    if (!d || d->oom)
        return;
    dep *e = entry(d, root, root_len, el, len);
    if (e)
        e->what |= what;
}

long nvb_deps_opened(nvb_deps *d, const char *root, size_t root_len, const char *path, int flags, unsigned what)
{
    if (!d || d->oom)
        return -1;
    dep *e = push(d);
    if (!e)
        return -1;
    e->root = malloc(root_len + 2);
    e->rel = strdup(path);
    e->what = what;
    e->flags = flags;
    if (!e->root || !e->rel) {
        dep_clear(e);
        d->n--;
        d->oom = true;
        return -1;
    }
    memcpy(e->root, root, root_len);
    e->root[root_len] = '\0';
    if (root_len == 0) /* the real root */
        memcpy(e->root, "/", 2);
    return (long)(d->n - 1);
}

void nvb_deps_open_result(nvb_deps *d, long idx, int err)
{
    if (d && !d->oom && idx >= 0 && (size_t)idx < d->n)
        d->v[idx].open_err = err;
}

static void blob_put(nvb_deps *d, blob *b, const void *p, size_t len)
{
    nvb_bytes_put(&b->bytes, p, len);
    d->oom |= b->bytes.oom;
    b->have = true;
}

void nvb_deps_name(nvb_deps *d, long idx, const char *name)
{
    if (!d || d->oom || idx < 0 || (size_t)idx >= d->n)
        return;
    blob *b = &d->v[idx].data;
    if (!name)
        b->end = b->have = true;
    else
        blob_put(d, b, name, strlen(name) + 1);
}

void nvb_deps_content(nvb_deps *d, long idx, const void *data, size_t len)
{
    if (!d || d->oom || idx < 0 || (size_t)idx >= d->n)
        return;
    blob *b = &d->v[idx].data;
    b->bytes.n = 0;
    blob_put(d, b, data, len);
    b->end = true;
}

/* A file's identity, links not followed: device, inode, mode, owner, group, device number,
 * size, modification, change and birth times (birth 0 where the file system keeps none).
 * Plain 64-bit fields: the same bytes for the same file. 0 or the errno. */
static int ident(const char *path, int64_t id[13])
{
    struct statx sx;
    if (statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW | AT_STATX_SYNC_AS_STAT, STATX_BASIC_STATS | STATX_BTIME, &sx) < 0)
        return errno;
    bool btime = sx.stx_mask & STATX_BTIME;
    int64_t v[13] = {(int64_t)makedev(sx.stx_dev_major, sx.stx_dev_minor),
                     (int64_t)sx.stx_ino,
                     (int64_t)sx.stx_mode,
                     (int64_t)sx.stx_uid,
                     (int64_t)sx.stx_gid,
                     (int64_t)makedev(sx.stx_rdev_major, sx.stx_rdev_minor),
                     (int64_t)sx.stx_size,
                     sx.stx_mtime.tv_sec,
                     sx.stx_mtime.tv_nsec,
                     sx.stx_ctime.tv_sec,
                     sx.stx_ctime.tv_nsec,
                     btime ? sx.stx_btime.tv_sec : 0,
                     btime ? sx.stx_btime.tv_nsec : 0};
    memcpy(id, v, sizeof v);
    return 0;
}

enum { I_DEV, I_INO, I_MODE, I_UID, I_GID, I_RDEV, I_SIZE, I_MSEC, I_MNSEC, I_CSEC, I_CNSEC, I_BSEC, I_BNSEC };

/* Only walked through, and not a link: what matters is that it is the same folder (or file):
 * device, inode, type, and its birth time, which tells a new one that took a freed inode
 * number (ext4 hands them out again at once); without a birth time, its change time. */
static bool walked_only(const dep *e)
{
    return !(e->what & (NVB_DEP_FINAL | NVB_DEP_LISTED | NVB_DEP_READ)) && ((mode_t)e->id[I_MODE] & S_IFMT) != S_IFLNK;
}

static bool same_ident(const dep *e, const int64_t now[13])
{
    const int64_t *was = e->id;
    if (was[I_DEV] != now[I_DEV] || was[I_INO] != now[I_INO])
        return false;
    if (e->fs == FS_PSEUDO) /* times do not move there: mode and device number */
        return was[I_MODE] == now[I_MODE] && was[I_RDEV] == now[I_RDEV];
    if (walked_only(e)) {
        if (((was[I_MODE] ^ now[I_MODE]) & S_IFMT) != 0)
            return false;
        return was[I_BSEC] || was[I_BNSEC] ? was[I_BSEC] == now[I_BSEC] && was[I_BNSEC] == now[I_BNSEC]
                                           : was[I_CSEC] == now[I_CSEC] && was[I_CNSEC] == now[I_CNSEC];
    }
    return memcmp(was, now, 13 * sizeof *was) == 0;
}

/* The folder part of a path ("/a/b" -> "/a"), its length; 0 for "/x" and "/". */
static size_t parent_len(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash && slash != path ? (size_t)(slash - path) : 0;
}

/* A folder's entry names (NUL-terminated each, as nvb_deps_name keeps them), or a file's
 * bytes, into *out (empty). 0 or -errno. */
static int read_now(const char *path, bool listing, nvb_bytes_out *out)
{
    nvb_rootpath rp;
    nvb_rootpath_init(&rp, "/");
    int r;
    if (listing) {
        nvb_dir dir;
        r = nvb_dir_open(&dir, &rp, path);
        if (r == 0) {
            const char *name;
            while ((name = nvb_dir_next(&dir, NULL)))
                nvb_bytes_put(out, name, strlen(name) + 1);
            r = errno ? -errno : 0;
            nvb_dir_close(&dir);
        }
    } else {
        enum { MAX = 65536 };
        char *buf = malloc(MAX);
        ssize_t n = buf ? nvb_read_small(&rp, path, buf, MAX, NVB_READ_TO_EOF) : -ENOMEM;
        r = n < 0 ? (int)n : 0;
        if (n >= 0)
            nvb_bytes_put(out, buf, (size_t)n);
        free(buf);
    }
    nvb_rootpath_clear(&rp);
    if (r == 0 && out->oom)
        r = -ENOMEM;
    if (r < 0) {
        free(out->v);
        *out = (nvb_bytes_out){0};
    }
    return r;
}

static bool same_bytes(const nvb_bytes_out *a, const char *v, size_t n)
{
    return a->n == n && (n == 0 || memcmp(a->v, v, n) == 0);
}

/* What the file system of an entry is: one whose change times follow every change (ext4,
 * tmpfs and devtmpfs, xfs, btrfs, overlayfs, ramfs, squashfs), procfs or sysfs, or another
 * (NFS, FUSE, 9p, vfat: times cached or not kept; nothing there is kept). Asked of the kernel
 * once per device, through the folder for a link (statfs follows one). */
static enum fs_kind fs_of(const dep *e, dev_t *seen, enum fs_kind *kinds, size_t *n_seen)
{
    dev_t dev = (dev_t)e->id[I_DEV];
    for (size_t i = 0; i < *n_seen; i++)
        if (seen[i] == dev)
            return kinds[i];
    char parent[PATH_MAX];
    const char *at = e->path;
    if (((mode_t)e->id[I_MODE] & S_IFMT) == S_IFLNK) {
        size_t n = parent_len(e->path);
        if (n >= sizeof parent)
            return FS_OTHER;
        memcpy(parent, e->path, n);
        parent[n] = '\0';
        at = n ? parent : "/";
    }
    struct statfs fs;
    enum fs_kind k = FS_OTHER;
    if (statfs(at, &fs) == 0) {
        switch ((unsigned long)fs.f_type) {
        case EXT4_SUPER_MAGIC: case TMPFS_MAGIC: case XFS_SUPER_MAGIC: case BTRFS_SUPER_MAGIC:
        case OVERLAYFS_SUPER_MAGIC: case RAMFS_MAGIC: case SQUASHFS_MAGIC:
            k = FS_DISK;
            break;
        case PROC_SUPER_MAGIC: case SYSFS_MAGIC:
            k = FS_PSEUDO;
            break;
        default:
            break;
        }
    }
    if (*n_seen < 16) {
        seen[*n_seen] = dev;
        kinds[(*n_seen)++] = k;
    }
    return k;
}

/* Resolve the paths opened in one system call: open each again as discovery did (through a
 * root without a recorder), which must give what discovery got, then walk it element by
 * element through a walk that records into d, and merge what was asked of it into its
 * resolved element's entry. One walk (and its memo) per root: discovery has one or two.
 * false when an open now gives something else, or the walk fails in a way discovery's
 * open would not have. */
static bool resolve_opened(nvb_deps *d)
{
    enum { MAX_ROOTS = 4 };
    nvb_rootpath rps[MAX_ROOTS], plain[MAX_ROOTS];
    char *roots[MAX_ROOTS];
    size_t n_rps = 0, n = d->n;
    bool ok = true;
    for (size_t i = 0; i < n && ok && !d->oom; i++) {
        if (!d->v[i].rel)
            continue;
        size_t r = 0;
        while (r < n_rps && strcmp(roots[r], d->v[i].root) != 0)
            r++;
        if (r == MAX_ROOTS) {
            ok = false; /* never with discovery's roots: refuse rather than guess */
            break;
        }
        if (r == n_rps) {
            roots[r] = d->v[i].root; /* kept until the end */
            d->v[i].root = NULL;
            nvb_rootpath_init(&rps[r], roots[r]);
            nvb_rootpath_init(&plain[r], roots[r]);
            rps[r].deps = d;
            n_rps++;
        }
        int fd = nvb_rootpath_open(&plain[r], d->v[i].rel, d->v[i].flags);
        int again = fd < 0 ? errno : 0;
        if (fd >= 0)
            close(fd);
        if (again != d->v[i].open_err) {
            ok = false; /* it changed since discovery opened it */
            break;
        }
        char out[PATH_MAX];
        int lr = nvb_rootpath_lookup(&rps[r], d->v[i].rel, out, NULL);
        if (lr == 0) {
            size_t ol = strcmp(out, "/") == 0 ? 0 : strlen(out);
            unsigned what = d->v[i].what;
            dep *e = entry(d, rps[r].root, rps[r].root_len, out, ol), *from = &d->v[i];
            if (e) {
                e->what |= what;
                if (from->data.have && (!e->data.have || (from->data.end && !e->data.end))) {
                    free(e->data.bytes.v);
                    e->data = from->data; /* a listing seen to its end wins */
                    from->data = (blob){0};
                }
            }
        } else if (lr != -ENOENT && lr != -ENOTDIR && lr != -EACCES && lr != -ELOOP) {
            ok = false; /* no element was recorded for this failure (out of memory, too long) */
        }
        dep *from = &d->v[i];
        free(from->rel);
        free(from->root);
        free(from->data.bytes.v);
        from->rel = from->root = NULL;
        from->data = (blob){0};
        from->what = 0;
    }
    for (size_t r = 0; r < n_rps; r++) {
        nvb_rootpath_clear(&rps[r]);
        nvb_rootpath_clear(&plain[r]);
        free(roots[r]);
    }
    return ok && !d->oom;
}

/* Whether the entry of an element's folder is a folder listed on a disk file system. */
static bool listed_on_disk(const nvb_deps *d, const dep *child)
{
    size_t n = parent_len(child->path);
    if (n <= child->root_len) /* the root itself, or above it: not noted as an element */
        return false;
    uint32_t *s = slot_of(d, child->path, child->root_len, child->path + child->root_len, n - child->root_len);
    const dep *e = *s ? &d->v[*s - 1] : NULL;
    return e && (e->what & NVB_DEP_LISTED) && e->fs == FS_DISK && !e->err;
}

/* Whether what discovery saw of an element (missing, a link, something else) is what is
 * there now. */
static bool saw_the_same(const dep *e)
{
    unsigned saw = e->what & (NVB_DEP_SAW_MISSING | NVB_DEP_SAW_LINK | NVB_DEP_SAW_OTHER);
    if (saw & (saw - 1))
        return false; /* it saw two things: it changed during discovery */
    bool link = !e->err && ((mode_t)e->id[I_MODE] & S_IFMT) == S_IFLNK;
    return !saw || (saw == NVB_DEP_SAW_MISSING ? e->err != 0 : saw == NVB_DEP_SAW_LINK ? link : !e->err && !link);
}

bool nvb_deps_settle(nvb_deps *d, const struct timespec *started)
{
    if (!d || d->oom || !index_grow(d) || !resolve_opened(d))
        return false;
    dev_t seen[16];
    enum fs_kind kinds[16];
    size_t n_seen = 0;
    for (size_t i = 0; i < d->n; i++) {
        dep *e = &d->v[i];
        if (!e->path || !e->what)
            continue;
        e->err = ident(e->path, e->id);
        if (!saw_the_same(e))
            return false; /* added, removed or replaced during the discovery */
        if (e->err)
            continue;
        e->fs = fs_of(e, seen, kinds, &n_seen);
        if (e->fs == FS_OTHER)
            return false; /* its times cannot be trusted to move */
        bool link = ((mode_t)e->id[I_MODE] & S_IFMT) == S_IFLNK;
        if ((e->what & NVB_DEP_READ) && link)
            return false; /* read through a link (the library cache by its path): its target is not kept */
        if (e->fs == FS_DISK) {
            /* Changed during the discovery, or too recently for a later change to be told
             * apart (a coarse clock stamps both alike): a folder only walked through by its
             * birth, which a replacement renews; anything else by its change time. */
            bool by_birth = walked_only(e) && (e->id[I_BSEC] || e->id[I_BNSEC]);
            if ((by_birth ? e->id[I_BSEC] : e->id[I_CSEC]) + 1 >= started->tv_sec)
                return false;
            continue;
        }
        /* procfs, sysfs: what discovery saw, and what is there now, must be alike. */
        bool listing = e->what & NVB_DEP_LISTED, read = e->what & NVB_DEP_READ;
        if (!listing && !read)
            continue;
        if (listing && read)
            return false;
        nvb_bytes_out now = {0};
        if (!e->data.have || read_now(e->path, listing, &now) < 0)
            return false; /* read by another way than nvb_read_small or nvb_dir: not kept */
        const nvb_bytes_out *saw = &e->data.bytes;
        bool same = e->data.end ? same_bytes(saw, now.v, now.n)
                                : now.n >= saw->n && (saw->n == 0 || memcmp(now.v, saw->v, saw->n) == 0);
        free(e->data.bytes.v);
        e->data.bytes = now;
        if (!same)
            return false;
    }
    /* What a listed folder (on a disk file system) holds, other than device nodes, files read
     * and folders listed: discovery takes nothing from it but its presence, name and type
     * (or that it is missing), and it cannot be added, removed, renamed or replaced without
     * the folder's modification and change times moving, which the folder's entry compares.
     * Device nodes stay (their owner and mode are in the model), so do files read (their
     * content) and folders listed (their own entries). */
    for (size_t i = 0; i < d->n; i++) {
        dep *e = &d->v[i];
        mode_t type = (mode_t)e->id[I_MODE] & S_IFMT;
        bool node = !e->err && (type == S_IFCHR || type == S_IFBLK);
        if (e->path && e->what && e->fs != FS_PSEUDO && !node && !(e->what & (NVB_DEP_READ | NVB_DEP_LISTED)) &&
            listed_on_disk(d, e))
            e->what |= DROPPED;
    }
    return true;
}

static bool kept(const dep *e)
{
    return e->path && e->what && !(e->what & DROPPED);
}

size_t nvb_deps_count(const nvb_deps *d)
{
    size_t n = 0;
    for (size_t i = 0; d && i < d->n; i++)
        n += kept(&d->v[i]);
    return n;
}

/* An entry's record: its path, what was asked of it (and its file system's kind), the error
 * or its identity, and on procfs and sysfs the names or bytes discovery saw. */
void nvb_deps_encode(nvb_bytes_out *o, const nvb_deps *d)
{
    nvb_bytes_u64(o, nvb_deps_count(d));
    for (size_t i = 0; i < d->n; i++) {
        const dep *e = &d->v[i];
        if (!kept(e))
            continue;
        nvb_bytes_str(o, e->path);
        nvb_bytes_u64(o, (e->what & 0xff) | (unsigned)(e->fs == FS_PSEUDO) << 8);
        nvb_bytes_u64(o, (uint64_t)e->err);
        if (!e->err)
            nvb_bytes_put(o, e->id, sizeof e->id);
        bool data = e->fs == FS_PSEUDO && (e->what & (NVB_DEP_LISTED | NVB_DEP_READ));
        nvb_bytes_blob(o, data ? e->data.bytes.v : NULL, data ? e->data.bytes.n : 0);
    }
}

bool nvb_deps_check(nvb_bytes_in *in)
{
    size_t n = (size_t)nvb_bytes_get_max(in, 1u << 20);
    char path[PATH_MAX];
    for (size_t i = 0; i < n && !in->bad; i++) {
        size_t plen;
        const char *p = nvb_bytes_get_strn(in, &plen);
        if (!p || plen == 0 || plen >= sizeof path)
            return false;
        memcpy(path, p, plen);
        path[plen] = '\0';
        dep e = {.path = path};
        uint64_t w = nvb_bytes_get_max(in, 0x1ff);
        e.what = (unsigned)w & 0xff;
        e.fs = w >> 8 ? FS_PSEUDO : FS_DISK;
        e.err = (int)nvb_bytes_get_max(in, INT_MAX);
        if (!e.err) {
            if ((size_t)(in->end - in->p) < sizeof e.id)
                return false;
            memcpy(e.id, in->p, sizeof e.id);
            in->p += sizeof e.id;
        }
        size_t data_len;
        const char *data = nvb_bytes_get_blob(in, &data_len);
        if (in->bad)
            return false;
        int64_t now[13];
        int err = ident(path, now);
        if (err != e.err)
            return false;
        if (err)
            continue;
        if (!same_ident(&e, now))
            return false;
        bool listing = e.what & NVB_DEP_LISTED, read = e.what & NVB_DEP_READ;
        if (e.fs == FS_PSEUDO && (listing || read)) {
            nvb_bytes_out b = {0};
            bool same = read_now(path, listing, &b) == 0 && same_bytes(&b, data, data_len);
            free(b.v);
            if (!same)
                return false;
        }
    }
    return !in->bad;
}
