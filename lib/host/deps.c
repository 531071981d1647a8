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
#include <sys/vfs.h>
#include <unistd.h>

typedef struct dep {
    char *path;      /* as this process names it: root + element; NULL for an opened path */
    size_t root_len; /* where the element begins in it */
    size_t len;      /* the path's length */
    char *root;      /* opened, not yet resolved: the root and the path inside it */
    char *rel;
    unsigned what;
    bool pseudo;     /* on procfs or sysfs */
    bool names_end;  /* the listing was read to its end */
    int err;         /* what fstatat(2) gave, 0 when found */
    int64_t id[11];  /* see ident() */
    char *names;     /* a listing's entry names, each NUL-terminated */
    size_t names_len, names_cap;
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
    free(e->names);
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

long nvb_deps_opened(nvb_deps *d, const char *root, size_t root_len, const char *path, unsigned what)
{
    if (!d || d->oom)
        return -1;
    dep *e = push(d);
    if (!e)
        return -1;
    e->root = malloc(root_len + 2);
    e->rel = strdup(path);
    e->what = what;
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

void nvb_deps_name(nvb_deps *d, long idx, const char *name)
{
    if (!d || d->oom || idx < 0 || (size_t)idx >= d->n)
        return;
    dep *e = &d->v[idx];
    if (!name) {
        e->names_end = true;
        return;
    }
    size_t l = strlen(name) + 1;
    while (e->names_len + l > e->names_cap) {
        char *q = nvb_grow(e->names, &e->names_cap, e->names_cap, 1, 256);
        if (!q) {
            d->oom = true;
            return;
        }
        e->names = q;
    }
    memcpy(e->names + e->names_len, name, l);
    e->names_len += l;
}

/* Plain 64-bit fields: the same bytes for the same file, whatever the padding of struct stat. */
static void ident(int64_t id[11], const struct stat *st)
{
    int64_t v[11] = {(int64_t)st->st_dev,         (int64_t)st->st_ino,          (int64_t)st->st_mode,
                     (int64_t)st->st_uid,         (int64_t)st->st_gid,          (int64_t)st->st_rdev,
                     (int64_t)st->st_size,        (int64_t)st->st_mtim.tv_sec,  (int64_t)st->st_mtim.tv_nsec,
                     (int64_t)st->st_ctim.tv_sec, (int64_t)st->st_ctim.tv_nsec};
    memcpy(id, v, sizeof v);
}

static bool same_ident(const dep *e, const int64_t now[11])
{
    const int64_t *was = e->id;
    if (!(e->what & ~NVB_DEP_PASS)) /* walked through: the same folder (or file), of the same type */
        return was[0] == now[0] && was[1] == now[1] && (was[2] & S_IFMT) == (now[2] & S_IFMT);
    if (e->pseudo) /* device, inode, mode, device number: procfs and sysfs times do not move */
        return was[0] == now[0] && was[1] == now[1] && was[2] == now[2] && was[5] == now[5];
    return memcmp(was, now, 11 * sizeof *was) == 0;
}

/* The folder part of a path ("/a/b" -> "/a"), its length; 0 for "/x" and "/". */
static size_t parent_len(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash && slash != path ? (size_t)(slash - path) : 0;
}

/* A folder's entry names, each NUL-terminated, into *out (malloc'd). 0 or -errno. */
static int list_names(const char *path, char **out, size_t *len)
{
    nvb_rootpath rp;
    nvb_rootpath_init(&rp, "/");
    nvb_dir dir;
    int r = nvb_dir_open(&dir, &rp, path);
    dep names = {0}; /* appended as a listing's names are (nvb_deps_name) */
    nvb_deps sink = {.v = &names, .n = 1};
    if (r == 0) {
        const char *name;
        while ((name = nvb_dir_next(&dir, NULL)))
            nvb_deps_name(&sink, 0, name);
        r = errno ? -errno : sink.oom ? -ENOMEM : 0;
        nvb_dir_close(&dir);
    }
    nvb_rootpath_clear(&rp);
    if (r < 0) {
        free(names.names);
        return r;
    }
    *out = names.names;
    *len = names.names_len;
    return 0;
}

/* Whether the file system of st_dev is procfs or sysfs (its times do not move); asked of
 * the kernel once per device. */
static bool on_pseudo_fs(const char *path, dev_t dev, dev_t *seen, bool *seen_pseudo, size_t *n_seen)
{
    for (size_t i = 0; i < *n_seen; i++)
        if (seen[i] == dev)
            return seen_pseudo[i];
    struct statfs fs;
    bool pseudo = statfs(path, &fs) == 0 && (fs.f_type == PROC_SUPER_MAGIC || fs.f_type == SYSFS_MAGIC);
    if (*n_seen < 16) {
        seen[*n_seen] = dev;
        seen_pseudo[(*n_seen)++] = pseudo;
    }
    return pseudo;
}

/* Resolve the paths opened in one system call, element by element, through a walk that
 * records into d (so their elements become entries), and merge what was asked of each into
 * its resolved element's entry. One walk (and its memo) per root: discovery has one or two. */
static void resolve_opened(nvb_deps *d)
{
    enum { MAX_ROOTS = 4 };
    nvb_rootpath rps[MAX_ROOTS];
    char *roots[MAX_ROOTS];
    size_t n_rps = 0, n = d->n;
    for (size_t i = 0; i < n && !d->oom; i++) {
        if (!d->v[i].rel)
            continue;
        nvb_rootpath *rp = NULL;
        for (size_t r = 0; r < n_rps && !rp; r++)
            if (strcmp(roots[r], d->v[i].root) == 0)
                rp = &rps[r];
        if (!rp && n_rps == MAX_ROOTS) {
            d->oom = true; /* never with discovery's roots: refuse rather than guess */
            break;
        }
        if (!rp) {
            roots[n_rps] = d->v[i].root; /* kept until the end */
            d->v[i].root = NULL;
            rp = &rps[n_rps++];
            nvb_rootpath_init(rp, roots[n_rps - 1]);
            rp->deps = d;
        }
        char out[PATH_MAX];
        int r = nvb_rootpath_lookup(rp, d->v[i].rel, out, NULL);
        if (r == 0) { /* else the walk noted the element that failed */
            size_t ol = strcmp(out, "/") == 0 ? 0 : strlen(out);
            unsigned what = d->v[i].what;
            dep *e = entry(d, rp->root, rp->root_len, out, ol), *from = &d->v[i];
            if (e)
                e->what |= what;
            if (e && (from->names || from->names_end) && (!e->names_end || !e->names)) {
                /* A listing: the one read to its end wins when a folder was listed twice. */
                if (!e->names_end || from->names_end) {
                    free(e->names);
                    e->names = from->names;
                    e->names_len = from->names_len;
                    e->names_cap = from->names_cap;
                    e->names_end = from->names_end;
                    from->names = NULL;
                }
            }
        }
        dep *from = &d->v[i];
        free(from->rel);
        free(from->root);
        free(from->names);
        from->rel = from->root = from->names = NULL;
        from->what = 0;
    }
    for (size_t r = 0; r < n_rps; r++) {
        nvb_rootpath_clear(&rps[r]);
        free(roots[r]);
    }
}

/* Whether the entry for path p[0..n) is a folder listed on a disk file system. */
static bool listed_on_disk(const nvb_deps *d, const dep *child)
{
    size_t n = parent_len(child->path);
    if (n <= child->root_len) /* the root itself, or above it: not noted as an element */
        return false;
    uint32_t *s = slot_of(d, child->path, child->root_len, child->path + child->root_len, n - child->root_len);
    const dep *e = *s ? &d->v[*s - 1] : NULL;
    return e && (e->what & NVB_DEP_LISTED) && !e->pseudo && !e->err;
}

bool nvb_deps_settle(nvb_deps *d, const struct timespec *started)
{
    if (!d || d->oom || !index_grow(d))
        return false;
    resolve_opened(d);
    if (d->oom)
        return false;
    dev_t seen[16];
    bool seen_pseudo[16];
    size_t n_seen = 0;
    for (size_t i = 0; i < d->n; i++) {
        dep *e = &d->v[i];
        if (!e->path || !e->what)
            continue;
        struct stat st;
        if (fstatat(AT_FDCWD, e->path, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            e->err = errno;
            continue;
        }
        ident(e->id, &st);
        e->pseudo = on_pseudo_fs(e->path, st.st_dev, seen, seen_pseudo, &n_seen);
        if ((e->what & NVB_DEP_READ) && S_ISLNK(st.st_mode))
            return false; /* read through a link (the library cache by its path): its target is not kept */
        bool own = e->what & ~NVB_DEP_PASS;
        if (own && !e->pseudo && st.st_ctim.tv_sec + 1 >= started->tv_sec)
            return false; /* changed during the discovery, or too recently to tell a later change */
        if ((e->what & NVB_DEP_LISTED) && e->pseudo) {
            /* The names now, which must be those discovery saw (all of them, or the first
             * ones when it stopped early): else the folder changed under it. */
            char *now = NULL;
            size_t now_len = 0;
            if (list_names(e->path, &now, &now_len) < 0)
                return false;
            bool same = e->names_end ? now_len == e->names_len : now_len >= e->names_len;
            same = same && (e->names_len == 0 || memcmp(now, e->names, e->names_len) == 0);
            free(e->names);
            e->names = now;
            e->names_len = now_len;
            if (!same)
                return false;
        }
    }
    /* What a listed folder (on a disk file system) holds, other than device nodes, files read
     * and folders listed: discovery takes nothing from it but its presence, name and type
     * (or that it is missing), and it cannot be added, removed, renamed or replaced without
     * the folder's modification and change times moving, which the folder's entry compares.
     * Device nodes stay (their owner and mode are in the model), so do files read (their
     * content) and folders listed (their own entries). */
    for (size_t i = 0; i < d->n; i++) {
        dep *e = &d->v[i];
        mode_t type = (mode_t)e->id[2] & S_IFMT;
        bool node = !e->err && (type == S_IFCHR || type == S_IFBLK);
        if (e->path && e->what && !e->pseudo && !node && !(e->what & (NVB_DEP_READ | NVB_DEP_LISTED)) &&
            listed_on_disk(d, e))
            e->what |= 0x100; /* not kept */
    }
    return true;
}

static bool kept(const dep *e)
{
    return e->path && e->what && !(e->what & 0x100);
}

size_t nvb_deps_count(const nvb_deps *d)
{
    size_t n = 0;
    for (size_t i = 0; d && i < d->n; i++)
        n += kept(&d->v[i]);
    return n;
}

void nvb_deps_encode(nvb_bytes_out *o, const nvb_deps *d)
{
    nvb_bytes_u64(o, nvb_deps_count(d));
    for (size_t i = 0; i < d->n; i++) {
        const dep *e = &d->v[i];
        if (!kept(e))
            continue;
        nvb_bytes_str(o, e->path);
        nvb_bytes_u64(o, e->what | (unsigned)e->pseudo << 8);
        nvb_bytes_u64(o, (uint64_t)e->err);
        if (!e->err)
            nvb_bytes_put(o, e->id, sizeof e->id);
        nvb_bytes_blob(o, e->names, (e->what & NVB_DEP_LISTED) && e->pseudo ? e->names_len : 0);
    }
}

bool nvb_deps_check(nvb_bytes_in *in)
{
    size_t n = (size_t)nvb_bytes_get_max(in, 1u << 20);
    char path[PATH_MAX];
    for (size_t i = 0; i < n && !in->bad; i++) {
        size_t plen;
        /* A string as nvb_bytes_str wrote it: its length + 1, then the bytes. */
        uint64_t l = nvb_bytes_get_max(in, PATH_MAX - 1);
        const char *p = in->bad || l == 0 || l - 1 > (uint64_t)(in->end - in->p) ? NULL : in->p;
        if (!p)
            return false;
        plen = (size_t)l - 1;
        in->p += plen;
        memcpy(path, p, plen);
        path[plen] = '\0';
        dep e = {.path = path};
        uint64_t w = nvb_bytes_get_max(in, 0x1ff);
        e.what = (unsigned)w & 0xff;
        e.pseudo = w >> 8;
        e.err = (int)nvb_bytes_get_max(in, INT_MAX);
        if (!e.err) {
            if ((size_t)(in->end - in->p) < sizeof e.id)
                return false;
            memcpy(e.id, in->p, sizeof e.id);
            in->p += sizeof e.id;
        }
        size_t names_len;
        const char *names = nvb_bytes_get_blob(in, &names_len);
        if (in->bad || memchr(path, '\0', plen))
            return false;
        struct stat st;
        int err = fstatat(AT_FDCWD, path, &st, AT_SYMLINK_NOFOLLOW) < 0 ? errno : 0;
        if (err != e.err)
            return false;
        if (err)
            continue;
        int64_t now[11];
        ident(now, &st);
        if (!same_ident(&e, now))
            return false;
        if ((e.what & NVB_DEP_LISTED) && e.pseudo) {
            char *v = NULL;
            size_t vl = 0;
            bool same = list_names(path, &v, &vl) == 0 && vl == names_len && (vl == 0 || memcmp(v, names, vl) == 0);
            free(v);
            if (!same)
                return false;
        }
    }
    return !in->bad;
}
