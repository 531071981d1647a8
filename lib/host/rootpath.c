#include "host/rootpath.h"
#include "host/deps.h"
#include "oci/safepath.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<linux/openat2.h>)
#include <linux/openat2.h>
#endif
#endif
#ifndef RESOLVE_IN_ROOT /* older kernel headers: the ABI is fixed */
#define RESOLVE_NO_MAGICLINKS 0x02
#define RESOLVE_IN_ROOT 0x10
#endif

#define MAX_HOPS 40

/* ---- memo ----
 * Keys are path elements whose parent is already resolved ("/usr/lib" + "/libcuda.so.1");
 * the value is that element fully resolved, or the errno its lookup gave. A key names one
 * file whatever path led to it, so the memo answers for every later path through it. */

struct arena {
    struct arena *next;
    size_t used, cap;
    char data[];
};

struct slot {
    const char *key;  /* NULL: empty slot; for a link, its target follows the key's NUL */
    const char *val;
    uint32_t hash;
    uint32_t vhash;   /* hash of val, so a walk continuing from val need not rehash it */
    uint16_t klen, vlen;  /* both < PATH_MAX */
    int16_t err;
    uint16_t llen;    /* a link: its target's length (> 0); 0: not a link */
};

struct nvb_rootpath_memo {
    struct slot *slots;
    size_t mask, used;
    struct arena *arena;
    /* The walk's path buffers. Here rather than in its stack frame: the walk runs at a
     * dozen stack depths, and every 4 KiB of frame pushes what is called from there onto
     * fresh stack pages, each first touch a page fault (the dearest thing discovery does
     * on a virtual machine); these are touched once per discovery. */
    char *rest, *target, *buf;
    char *block_end;  /* the memo's one allocation ends here (see memo_of) */
};

/* The memo, its first slots, the walk's buffers and its first arena are one allocation:
 * one malloc instead of four, and, once a discovery frees it, one free chunk large enough
 * for the JSON document written next (info --json, cdi generate), which then lands on
 * pages this discovery has touched already instead of faulting in fresh ones. Below
 * malloc's mmap threshold (128 KiB) so that free() keeps it for reuse. */
#define MEMO_SLOTS 512 /* a discovery's worth without growing */
#define MEMO_BLOCK (96 * 1024)

static bool in_block(const struct nvb_rootpath_memo *m, const void *p)
{
    return (const char *)p > (const char *)m && (const char *)p < m->block_end;
}

/* FNV-1a, which can be carried on: the hash of "/usr/lib" continues into "/usr/lib/x". */
#define HASH_INIT 2166136261u
static uint32_t hash_more(uint32_t h, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

/* A NUL-terminated copy of s[0..n) in the memo's arena, followed by a NUL-terminated copy
 * of t[0..tn) when t is not NULL; NULL when out of memory. */
static const char *intern2(struct nvb_rootpath_memo *m, const char *s, size_t n, const char *t, size_t tn)
{
    size_t need = n + 1 + (t ? tn + 1 : 0);
    struct arena *a = m->arena;
    if (!a || a->cap - a->used < need) {
        size_t cap = need > 8192 ? need : 8192;
        a = malloc(sizeof *a + cap);
        if (!a)
            return NULL;
        a->next = m->arena;
        a->used = 0;
        a->cap = cap;
        m->arena = a;
    }
    char *p = a->data + a->used;
    memcpy(p, s, n);
    p[n] = '\0';
    if (t) {
        memcpy(p + n + 1, t, tn);
        p[n + 1 + tn] = '\0';
    }
    a->used += need;
    return p;
}

static const char *intern(struct nvb_rootpath_memo *m, const char *s, size_t n)
{
    return intern2(m, s, n, NULL, 0);
}

static struct nvb_rootpath_memo *memo_of(nvb_rootpath *rp)
{
    if (!rp->memo) {
        /* [memo][slots][rest][target][buf][arena ...]: only the slots are cleared, the rest
         * is touched as far as it is used. */
        char *block = malloc(MEMO_BLOCK);
        if (!block)
            return NULL;
        struct nvb_rootpath_memo *m = (struct nvb_rootpath_memo *)(void *)block;
        memset(m, 0, sizeof *m);
        char *p = block + ((sizeof *m + 15) & ~(size_t)15);
        m->slots = (struct slot *)(void *)p;
        memset(m->slots, 0, MEMO_SLOTS * sizeof *m->slots);
        m->mask = MEMO_SLOTS - 1;
        p += MEMO_SLOTS * sizeof *m->slots;
        m->rest = p;
        m->target = p + PATH_MAX;
        m->buf = p + 2 * PATH_MAX;
        p += 3 * PATH_MAX;
        m->block_end = block + MEMO_BLOCK;
        struct arena *a = (struct arena *)(void *)p;
        a->next = NULL;
        a->used = 0;
        a->cap = (size_t)(m->block_end - a->data);
        m->arena = a;
        rp->memo = m;
    }
    return rp->memo;
}

static const struct slot *memo_get(const nvb_rootpath *rp, const char *key, size_t klen, uint32_t h)
{
    const struct nvb_rootpath_memo *m = rp->memo;
    if (!m)
        return NULL;
    for (size_t i = h & m->mask;; i = (i + 1) & m->mask) {
        const struct slot *s = &m->slots[i];
        if (!s->key)
            return NULL;
        if (s->hash == h && s->klen == klen && memcmp(s->key, key, klen) == 0)
            return s;
    }
}

static void slot_insert(struct nvb_rootpath_memo *m, const struct slot *in)
{
    size_t i = in->hash & m->mask;
    while (m->slots[i].key)
        i = (i + 1) & m->mask;
    m->slots[i] = *in;
    m->used++;
}

/* Remember key -> val (or key -> err when val is NULL). `key_copy`, when not NULL, is
 * key already in the arena, followed by the link target of llen bytes when llen > 0.
 * Best effort: without memory the memo just stays smaller. */
static void memo_put(nvb_rootpath *rp, const char *key, size_t klen, uint32_t h, const char *key_copy,
                     size_t llen, const char *val, size_t vlen, uint32_t vhash, int err)
{
    if (klen >= PATH_MAX || vlen >= PATH_MAX)
        return;
    struct nvb_rootpath_memo *m = memo_of(rp);
    if (!m || memo_get(rp, key, klen, h))
        return;
    if ((m->used + 1) * 4 > (m->mask + 1) * 3) { /* keep it at most three quarters full */
        size_t n = (m->mask + 1) * 2;
        struct slot *old = m->slots, *nv = calloc(n, sizeof *nv);
        if (!nv)
            return;
        size_t old_n = m->mask + 1;
        m->slots = nv;
        m->mask = n - 1;
        m->used = 0;
        for (size_t i = 0; i < old_n; i++)
            if (old[i].key)
                slot_insert(m, &old[i]);
        if (!in_block(m, old))
            free(old);
    }
    struct slot s = {.hash = h, .klen = (uint16_t)klen, .vlen = (uint16_t)vlen, .vhash = vhash, .err = (int16_t)err};
    s.key = key_copy ? key_copy : intern(m, key, klen);
    s.llen = key_copy ? (uint16_t)llen : 0;
    if (!s.key)
        return;
    if (val) {
        s.val = (vlen == klen && memcmp(val, key, klen) == 0) ? s.key : intern(m, val, vlen);
        if (!s.val)
            return;
    }
    slot_insert(m, &s);
}

/* ---- system calls inside the root ---- */

void nvb_rootpath_init(nvb_rootpath *rp, const char *root)
{
    memset(rp, 0, sizeof *rp);
    size_t n = strlen(root);
    while (n > 1 && root[n - 1] == '/')
        n--;
    rp->root = root;
    rp->root_len = (n == 1 && root[0] == '/') ? 0 : n;
    rp->fd = -1;
}

void nvb_rootpath_flush_closes(nvb_rootpath *rp)
{
    int *v = rp->deferred;
    unsigned n = rp->n_deferred;
    rp->n_deferred = 0;
    for (unsigned i = 1; i < n; i++) { /* insertion sort: at most 32 */
        int x = v[i];
        unsigned j = i;
        for (; j && v[j - 1] > x; j--)
            v[j] = v[j - 1];
        v[j] = x;
    }
    /* Only runs of consecutive numbers, all of them ours: a number in a gap may be
     * another thread's. */
    for (unsigned i = 0; i < n;) {
        unsigned j = i;
        while (j + 1 < n && v[j + 1] == v[j] + 1)
            j++;
        if (j == i || syscall(SYS_close_range, (unsigned)v[i], (unsigned)v[j], 0u) < 0)
            for (unsigned k = i; k <= j; k++)
                close(v[k]);
        i = j + 1;
    }
}

void nvb_rootpath_close(nvb_rootpath *rp, int fd)
{
    if (fd < 0)
        return;
    if (rp->n_deferred == sizeof rp->deferred / sizeof rp->deferred[0])
        nvb_rootpath_flush_closes(rp);
    rp->deferred[rp->n_deferred++] = fd;
}

void nvb_rootpath_clear(nvb_rootpath *rp)
{
    nvb_rootpath_flush_closes(rp);
    if (rp->fd >= 0)
        close(rp->fd);
    rp->fd = -1;
    rp->fd_tried = false;
    if (rp->memo) {
        struct nvb_rootpath_memo *m = rp->memo;
        for (struct arena *a = m->arena, *next; a; a = next) {
            next = a->next;
            if (!in_block(m, a))
                free(a);
        }
        if (!in_block(m, m->slots))
            free(m->slots);
        free(m);
        rp->memo = NULL;
    }
}

char *nvb_rootpath_host(const nvb_rootpath *rp, const char *path)
{
    size_t pl = strlen(path);
    bool slash = path[0] != '/';
    char *out = malloc(rp->root_len + slash + pl + 1);
    if (!out)
        return NULL;
    memcpy(out, rp->root, rp->root_len);
    out[rp->root_len] = '/';
    memcpy(out + rp->root_len + slash, path, pl + 1);
    return out;
}

/* Where a *at() call for `rel` (relative to root, "/usr/lib" or "" for root itself) goes:
 * the root's descriptor and rel without its slash; plain paths when root is "/" or its
 * descriptor cannot be had (then root + rel is built in buf, PATH_MAX bytes). */
static const char *at_path(nvb_rootpath *rp, const char *rel, size_t rlen, char *buf, int *dirfd)
{
    *dirfd = AT_FDCWD;
    if (rp->root_len == 0)
        return rlen ? rel : "/";
    if (!rp->fd_tried) {
        rp->fd_tried = true;
        rp->fd = open(rp->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    }
    if (rp->fd >= 0) {
        *dirfd = rp->fd;
        while (rlen && *rel == '/') { /* "//x" too: an absolute path would ignore the descriptor */
            rel++;
            rlen--;
        }
        return rlen ? rel : "."; /* "/" is the root itself */
    }
    bool slash = rlen && rel[0] != '/';
    if (rp->root_len + slash + rlen >= PATH_MAX) {
        errno = ENAMETOOLONG;
        return NULL;
    }
    memcpy(buf, rp->root, rp->root_len);
    buf[rp->root_len] = '/';
    memcpy(buf + rp->root_len + slash, rel, rlen + 1);
    return buf;
}

static long walk(nvb_rootpath *rp, const char *path, char *out, struct stat *st);

/* The path walked here (every link read and followed inside the root), then opened with
 * O_NOFOLLOW: where openat2(2) is refused (kernels before 5.6, seccomp filters). */
static __attribute__((noinline)) int open_walked(nvb_rootpath *rp, const char *path, int flags)
{
    char out[PATH_MAX], buf[PATH_MAX];
    long n = walk(rp, path, out, NULL);
    if (n < 0) {
        errno = (int)-n;
        return -1;
    }
    int dirfd;
    const char *p = at_path(rp, out, (size_t)n, buf, &dirfd);
    return p ? openat(dirfd, p, flags | O_NOFOLLOW) : -1;
}

int nvb_rootpath_open(nvb_rootpath *rp, const char *path, int flags)
{
    long dep;
    return nvb_rootpath_open_noted(rp, path, flags, &dep);
}

static int open_in_root(nvb_rootpath *rp, const char *path, int flags);

int nvb_rootpath_open_noted(nvb_rootpath *rp, const char *path, int flags, long *dep)
{
    *dep = -1;
    if (!rp->deps)
        return open_in_root(rp, path, flags);
    *dep = nvb_deps_opened(rp->deps, rp->root, rp->root_len, path, flags,
                           NVB_DEP_FINAL | (flags & O_DIRECTORY ? NVB_DEP_LISTED : flags & O_PATH ? 0 : NVB_DEP_READ));
    int fd = open_in_root(rp, path, flags), e = errno;
    nvb_deps_open_result(rp->deps, *dep, fd < 0 ? e : 0);
    errno = e;
    return fd;
}

static int open_in_root(nvb_rootpath *rp, const char *path, int flags)
{
    /* O_NONBLOCK always: opening a FIFO planted in the host root must not hang discovery
     * (for regular files and folders the flag changes nothing). */
    flags |= O_CLOEXEC | (flags & O_PATH ? 0 : O_NONBLOCK); /* openat2 takes no other flag with O_PATH */
    if (rp->root_len == 0) /* the real root: there is nothing to stay inside */
        return openat(AT_FDCWD, *path ? path : "/", flags);
    char buf[PATH_MAX];
    int dirfd;
    const char *p = at_path(rp, path, strlen(path), buf, &dirfd);
    if (!p)
        return -1;
    if (dirfd >= 0 && !rp->no_openat2) {
        /* One system call does what the walk does with one readlinkat(2) per element: an
         * absolute link restarts at the root, ".." stops there. */
        int fd = nvb_openat2(dirfd, p, (uint64_t)flags, 0, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
        if (fd >= 0 || (errno != ENOSYS && errno != EPERM && errno != EAGAIN))
            return fd;
        rp->no_openat2 = errno != EAGAIN; /* refused (ENOSYS, seccomp's EPERM): it stays refused */
    }
    return open_walked(rp, path, flags);
}

bool nvb_rootpath_exists(nvb_rootpath *rp, const char *path)
{
    int fd = nvb_rootpath_open(rp, path, O_PATH);
    nvb_rootpath_close(rp, fd);
    return fd >= 0;
}

/* readlinkat(2) for nvb_rootpath_readlink, kept out of its frame (see the memo's buffers). */
static __attribute__((noinline)) int readlink_at(nvb_rootpath *rp, const char *path, size_t plen, char *buf,
                                                 size_t size)
{
    char tmp[PATH_MAX];
    int dirfd;
    const char *p = at_path(rp, path, plen, tmp, &dirfd);
    if (!p)
        return -errno;
    ssize_t n = readlinkat(dirfd, p, buf, size - 1);
    if (n < 0)
        return -errno;
    if ((size_t)n + 1 >= size)
        return -ENAMETOOLONG;
    buf[n] = '\0';
    return (int)n;
}

/* For the host cache (host/deps.h): an element the walk reached, what was asked of it and
 * what the kernel said of it. */
static void note(nvb_rootpath *rp, const char *el, size_t len, unsigned what)
{
    if (rp->deps)
        nvb_deps_element(rp->deps, rp->root, rp->root_len, el, len, what);
}

int nvb_rootpath_readlink(nvb_rootpath *rp, const char *path, char *buf, size_t size)
{
    size_t plen = strlen(path);
    const struct slot *s = plen < PATH_MAX ? memo_get(rp, path, plen, hash_more(HASH_INIT, path, plen)) : NULL;
    int r;
    if (s) { /* the walk asked about it already */
        if (s->err)
            r = -s->err;
        else if (!s->llen)
            r = -EINVAL;
        else if (s->llen + 1u >= size) /* as below, where a full buffer may be a cut target */
            r = -ENAMETOOLONG;
        else {
            memcpy(buf, s->key + s->klen + 1, s->llen + 1u);
            r = s->llen;
        }
    } else {
        r = readlink_at(rp, path, plen, buf, size);
    }
    note(rp, path, plen,
         NVB_DEP_FINAL | (r >= 0 || r == -ENAMETOOLONG ? NVB_DEP_SAW_LINK
                          : r == -EINVAL               ? NVB_DEP_SAW_OTHER
                                                       : NVB_DEP_SAW_MISSING));
    return r;
}

/* ---- the walk ---- */

/* Resolve path into out (PATH_MAX bytes, "" for root itself). Components are taken left
 * to right; a link's target is spliced in front of what is left, from root when absolute;
 * ".." pops the resolved prefix and stops at root. With st, the last element is looked at
 * with fstatat(AT_SYMLINK_NOFOLLOW), which answers "link?" and the stat in one call.
 * Returns the length of out, or -errno. */
static long walk(nvb_rootpath *rp, const char *path, char *out, struct stat *st)
{
    struct nvb_rootpath_memo *m = memo_of(rp);
    if (!m)
        return -ENOMEM;
    char *rest = m->rest, *target = m->target, *buf = m->buf;
    /* Links being followed: when the walk reaches `tail` (what followed the link), out is
     * the link's full resolution, remembered under its key. */
    struct {
        const char *key;  /* in the memo's arena, the link's target after it */
        uint32_t klen, hash;
        size_t tail, llen;
    } pend[MAX_HOPS + 1];
    int npend = 0, hops = 0;
    bool have_st = false;
    size_t plen = strlen(path), olen = 0;
    uint32_t ohash = HASH_INIT; /* hash of out[0..olen) */
    if (plen >= PATH_MAX)
        return -ENAMETOOLONG;
    memcpy(rest, path, plen + 1);
    char *p = rest, *end = rest + plen;
    out[0] = '\0';
    for (;;) {
        while (*p == '/')
            p++;
        while (npend && (size_t)(end - p) <= pend[npend - 1].tail) {
            npend--;
            if (pend[npend].key)
                memo_put(rp, pend[npend].key, pend[npend].klen, pend[npend].hash, pend[npend].key, pend[npend].llen,
                         out, olen, ohash, 0);
        }
        if (!*p)
            break;
        char *comp = p;
        p = strchrnul(p, '/');
        size_t clen = (size_t)(p - comp);
        have_st = false;
        if (clen == 1 && comp[0] == '.')
            continue;
        if (clen == 2 && comp[0] == '.' && comp[1] == '.') {
            while (olen && out[olen - 1] != '/')
                olen--;
            if (olen)
                olen--;
            out[olen] = '\0';
            ohash = hash_more(HASH_INIT, out, olen);
            continue;
        }
        size_t klen = olen + 1 + clen;
        if (klen >= PATH_MAX)
            return -ENAMETOOLONG;
        out[olen] = '/';
        memcpy(out + olen + 1, comp, clen);
        out[klen] = '\0';
        uint32_t h = hash_more(ohash, out + olen, klen - olen);
        const char *q = p;
        while (*q == '/')
            q++;
        bool last = !*q;
        const struct slot *s = memo_get(rp, out, klen, h);
        /* For the host cache, every element this walk asks the kernel about, with the
         * answer (the memo's answers were noted when they were asked), and the last one as
         * asked about. */
        unsigned asked = last ? NVB_DEP_FINAL : NVB_DEP_PASS;
        if (s && last)
            note(rp, out, klen, asked);
        if (s) {
            if (s->err)
                return -s->err;
            memcpy(out, s->val, s->vlen + 1);
            olen = s->vlen;
            ohash = s->vhash;
            continue;
        }
        int dirfd;
        const char *ap = at_path(rp, out, klen, buf, &dirfd);
        if (!ap)
            return -errno;
        ssize_t tl;
        if (last && st) {
            if (fstatat(dirfd, ap, st, AT_SYMLINK_NOFOLLOW) < 0) {
                int e = errno;
                note(rp, out, klen, asked | NVB_DEP_SAW_MISSING);
                memo_put(rp, out, klen, h, NULL, 0, NULL, 0, 0, e);
                return -e;
            }
            note(rp, out, klen, asked | (S_ISLNK(st->st_mode) ? NVB_DEP_SAW_LINK : NVB_DEP_SAW_OTHER));
            if (!S_ISLNK(st->st_mode)) {
                memo_put(rp, out, klen, h, NULL, 0, out, klen, h, 0);
                olen = klen;
                ohash = h;
                have_st = true;
                continue;
            }
            tl = readlinkat(dirfd, ap, target, PATH_MAX - 1);
            if (tl < 0) {
                int e = errno;
                note(rp, out, klen, NVB_DEP_SAW_MISSING); /* replaced between the two calls */
                return -e;
            }
        } else {
            tl = readlinkat(dirfd, ap, target, PATH_MAX - 1);
            int e = tl < 0 ? errno : 0;
            note(rp, out, klen, asked | (tl >= 0 ? NVB_DEP_SAW_LINK : e == EINVAL ? NVB_DEP_SAW_OTHER : NVB_DEP_SAW_MISSING));
            if (tl < 0) {
                if (e != EINVAL) {  /* ENOENT, EACCES, ENOTDIR: report as is */
                    memo_put(rp, out, klen, h, NULL, 0, NULL, 0, 0, e);
                    return -e;
                }
                memo_put(rp, out, klen, h, NULL, 0, out, klen, h, 0); /* not a link: keep it */
                olen = klen;
                ohash = h;
                continue;
            }
        }
        if (++hops > MAX_HOPS)
            return -ELOOP;
        if (tl == 0)
            return -ENOENT; /* an empty link target, as the kernel reads it */
        pend[npend].key = intern2(m, out, klen, target, (size_t)tl);
        pend[npend].llen = (size_t)tl;
        pend[npend].klen = (uint32_t)klen;
        pend[npend].hash = h;
        pend[npend].tail = (size_t)(end - p);
        npend++;
        /* Splice the link target in front of what is left to walk. */
        size_t remain = (size_t)(end - p);
        if ((size_t)tl + 1 + remain >= PATH_MAX)
            return -ENAMETOOLONG;
        memmove(rest + tl + 1, p, remain + 1);
        memcpy(rest, target, (size_t)tl);
        rest[tl] = '/';
        p = rest;
        end = rest + tl + 1 + remain;
        if (target[0] == '/') {
            olen = 0;
            ohash = HASH_INIT;
        }
        out[olen] = '\0';
    }
    note(rp, out, olen, NVB_DEP_FINAL | NVB_DEP_SAW_OTHER); /* where the links led: what a lookup answers about */
    if (st && !have_st) {
        int dirfd;
        const char *ap = at_path(rp, out, olen, buf, &dirfd);
        if (!ap || fstatat(dirfd, ap, st, AT_SYMLINK_NOFOLLOW) < 0)
            return -errno;
    }
    return (long)olen;
}

int nvb_rootpath_lookup(nvb_rootpath *rp, const char *path, char *out, struct stat *st)
{
    long n = walk(rp, path, out, st);
    if (n < 0)
        return (int)n;
    if (n == 0)
        memcpy(out, "/", 2);
    return 0;
}

char *nvb_rootpath_resolve(nvb_rootpath *rp, const char *path)
{
    char out[PATH_MAX];
    int r = nvb_rootpath_lookup(rp, path, out, NULL);
    if (r < 0) {
        errno = -r;
        return NULL;
    }
    return strdup(out);
}

