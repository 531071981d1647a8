/* glibc's ld.so.cache, written without ldconfig: see ldcache_write.h, and ldcache.c for the
 * layout. */
#include "ldcache/ldcache_write.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ldcache/ldcache_format.h"

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* Compare the digit runs at *a and *b as numbers and step past them. glibc sums them in an
 * int; here leading zeros are skipped and lengths compared first, which agrees with it for
 * every number an int holds and cannot overflow. */
static int numcmp(const char **a, const char **b)
{
    const char *p = *a, *q = *b;
    while (*p == '0' && is_digit(p[1]))
        p++;
    while (*q == '0' && is_digit(q[1]))
        q++;
    size_t lp = 0, lq = 0;
    while (is_digit(p[lp]))
        lp++;
    while (is_digit(q[lq]))
        lq++;
    int r = lp != lq ? (lp < lq ? -1 : 1) : memcmp(p, q, lp);
    *a = p + lp;
    *b = q + lq;
    return r;
}

int nvb_ldcache_libcmp(const char *a, const char *b)
{
    while (*a) {
        if (is_digit(*a) && is_digit(*b)) {
            int r = numcmp(&a, &b);
            if (r)
                return r;
        } else if (is_digit(*a)) {
            return 1;       /* a digit sorts after any other character */
        } else if (is_digit(*b)) {
            return -1;
        } else if (*a != *b) {
            return *a - *b;     /* plain char, as glibc compares (signed on x86-64) */
        } else {
            a++;
            b++;
        }
    }
    /* a ended: glibc's *a - *b, so that a name ending where the other goes on with a byte
     * above 0x7f (negative as a plain char) sorts after it, as that byte sorts before the
     * end the other way round. */
    return -*b;
}

int nvb_ldcache_entry_cmp(const nvb_ldcache_entry *a, const nvb_ldcache_entry *b)
{
    int r = nvb_ldcache_libcmp(b->name, a->name);
    if (r)
        return r;
    if (a->flags != b->flags)
        return a->flags > b->flags ? -1 : 1;
    /* ld.so stops at the first entry of a name that is not a glibc-hwcaps one. */
    if (!a->hwcaps_subdir != !b->hwcaps_subdir)
        return a->hwcaps_subdir ? -1 : 1;
    if (a->hwcaps_subdir)
        return strcmp(a->hwcaps_subdir, b->hwcaps_subdir);
    int bits_a = __builtin_popcountll(a->hwcap), bits_b = __builtin_popcountll(b->hwcap);
    if (bits_a != bits_b)
        return bits_a > bits_b ? -1 : 1;
    if (a->hwcap != b->hwcap)
        return a->hwcap > b->hwcap ? -1 : 1;
    return 0;
}

bool nvb_ldcache_sorted(const nvb_ldcache_entry *v, size_t n)
{
    for (size_t i = 1; i < n; i++)
        if (nvb_ldcache_entry_cmp(&v[i - 1], &v[i]) > 0)
            return false;
    return true;
}

/* ldconfig's FLAG_* values: the type byte FLAG_ELF_LIBC6 (3) and the ABI byte. */
int nvb_ldcache_native_flags(bool is32)
{
#if defined(__x86_64__) && !defined(__ILP32__)
    return is32 ? 0x0003 : 0x0303;       /* i386 "libc6"; "libc6,x86-64" */
#elif defined(__aarch64__)
    return is32 ? 0x0903 : 0x0a03;       /* armhf "libc6,hard-float"; "libc6,AArch64" */
#else
    (void)is32;
    return -1;
#endif
}

/* The first index in the name-sorted add[order] whose name is name (n when none). */
static size_t first_named(const nvb_ldcache_entry *add, const size_t *order, size_t n, const char *name)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (nvb_ldcache_libcmp(name, add[order[mid]].name) < 0)   /* names descend */
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static bool added_already(const nvb_ldcache_entry *e, const nvb_ldcache_entry *add, const size_t *order, size_t n)
{
    for (size_t i = first_named(add, order, n, e->name); i < n && !nvb_ldcache_libcmp(add[order[i]].name, e->name); i++)
        if (!strcmp(add[order[i]].name, e->name) && !strcmp(add[order[i]].path, e->path))
            return true;
    return false;
}

/* Stable insertion sort of the added entries' indices: there are tens of them. */
static void sort_added(const nvb_ldcache_entry *add, size_t *order, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t j = i, v = i;
        while (j > 0 && nvb_ldcache_entry_cmp(&add[order[j - 1]], &add[v]) > 0) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = v;
    }
}

int nvb_ldcache_merge(const nvb_ldcache_entry *img, size_t nimg, const nvb_ldcache_entry *add, size_t nadd,
                      nvb_ldcache_entry **out, size_t *nout)
{
    size_t *order = calloc(nadd ? nadd : 1, sizeof *order);
    nvb_ldcache_entry *v = calloc(nimg + nadd ? nimg + nadd : 1, sizeof *v);
    if (!order || !v) {
        free(order);
        free(v);
        return -1;
    }
    sort_added(add, order, nadd);
    size_t n = 0, i = 0, j = 0;
    while (i < nimg || j < nadd) {
        /* An entry whose glibc-hwcaps index names no subfolder of its cache is one ld.so
         * skips; written as it is, its index would name one of the new file's. */
        bool skipped = i < nimg && nvb_hwcap_is_extension(img[i].hwcap) && !img[i].hwcaps_subdir;
        if (i < nimg && (skipped || added_already(&img[i], add, order, nadd))) {
            i++;
            continue;
        }
        if (j < nadd && (i == nimg || nvb_ldcache_entry_cmp(&add[order[j]], &img[i]) <= 0))
            v[n++] = add[order[j++]];
        else
            v[n++] = img[i++];
    }
    free(order);
    *out = v;
    *nout = n;
    return 0;
}

/* The file being built: header, entries, strings, then the extension directory. */
struct image {
    unsigned char *p;
    size_t len, strings_at, strings_len;
};

static void wr32(unsigned char *p, uint32_t v) { memcpy(p, &v, sizeof v); }
static void wr64(unsigned char *p, uint64_t v) { memcpy(p, &v, sizeof v); }

/* Append s with its NUL to the string table; its offset from the file's start. */
static uint32_t put_string(struct image *im, const char *s)
{
    size_t l = strlen(s) + 1;
    uint32_t at = (uint32_t)(im->strings_at + im->strings_len);
    memcpy(im->p + at, s, l);
    im->strings_len += l;
    return at;
}

/* Where name is stored: the tail of path when path ends in "/name" (ldconfig's layout too:
 * an entry's name is its path's last part), else a string of its own. */
static uint32_t put_name(struct image *im, const char *name, const char *path, uint32_t path_at)
{
    size_t ln = strlen(name), lp = strlen(path);
    if (lp > ln && path[lp - ln - 1] == '/' && !strcmp(path + lp - ln, name))
        return path_at + (uint32_t)(lp - ln);
    return put_string(im, name);
}

/* The distinct glibc-hwcaps subdirectories of v, in order of first use; *n of them. */
static const char **hwcaps_names(const nvb_ldcache_entry *v, size_t nv, size_t *n)
{
    /* glibc knows a handful (x86-64-v2..v4, power9, z13..z16); a crafted cache with
     * thousands would make this search quadratic. */
    const char **names = calloc(nv ? nv : 1, sizeof *names);
    if (!names)
        return NULL;
    *n = 0;
    for (size_t i = 0; i < nv; i++) {
        if (!v[i].hwcaps_subdir)
            continue;
        size_t k = 0;
        while (k < *n && strcmp(names[k], v[i].hwcaps_subdir))
            k++;
        if (k == *n && *n == NVB_LDCACHE_MAX_HWCAPS) {
            free(names);
            *n = SIZE_MAX;
            return NULL;
        }
        if (k == *n)
            names[(*n)++] = v[i].hwcaps_subdir;
    }
    return names;
}

static size_t align4(size_t x) { return (x + 3) & ~(size_t)3; }

int nvb_ldcache_serialize(const nvb_ldcache_entry *v, size_t n, const char *generator, void **out, size_t *len,
                          nvb_err *err)
{
    size_t nsub = 0;
    const char **subs = hwcaps_names(v, n, &nsub);
    if (!subs && nsub == SIZE_MAX)
        return nvb_errf(err, NVB_EXIT_HOST_DATA, "ld.so.cache: more than %d glibc-hwcaps subfolders",
                        NVB_LDCACHE_MAX_HWCAPS);
    if (!subs)
        return nvb_errf_errno(err, NVB_EXIT_IO, ENOMEM, "ld.so.cache: %zu entries", n);
    /* Sizes first, each bounded by the largest cache (so none of the sums can wrap). */
    size_t strings = 0;
    for (size_t i = 0; i < n && strings <= NVB_LDCACHE_MAX_SIZE; i++)
        strings += strlen(v[i].path) + strlen(v[i].name) + 2;
    for (size_t k = 0; k < nsub; k++)
        strings += strlen(subs[k]) + 1;
    size_t gen = generator ? strlen(generator) : 0, nsections = 1 + (nsub > 0);
    size_t head = NEW_HDR + (n <= NVB_LDCACHE_MAX_SIZE / NEW_ENT ? n * NEW_ENT : NVB_LDCACHE_MAX_SIZE);
    size_t bound = head + strings + 3 + EXT_HDR + nsections * EXT_SECTION + gen + 3 + nsub * 4;
    if (strings > NVB_LDCACHE_MAX_SIZE || gen > NVB_LDCACHE_MAX_SIZE || bound > NVB_LDCACHE_MAX_SIZE) {
        free(subs);
        return nvb_errf(err, NVB_EXIT_HOST_DATA, "ld.so.cache: %zu entries would make a file larger than %d MiB", n,
                        NVB_LDCACHE_MAX_SIZE >> 20);
    }
    struct image im = { .p = calloc(1, bound), .strings_at = head };
    if (!im.p) {
        free(subs);
        return nvb_errf_errno(err, NVB_EXIT_IO, ENOMEM, "ld.so.cache: %zu bytes", bound);
    }
    uint32_t *sub_at = calloc(nsub ? nsub : 1, sizeof *sub_at);
    if (!sub_at) {
        free(subs);
        free(im.p);
        return nvb_errf_errno(err, NVB_EXIT_IO, ENOMEM, "ld.so.cache: %zu subdirectories", nsub);
    }
    for (size_t k = 0; k < nsub; k++)
        sub_at[k] = put_string(&im, subs[k]);
    for (size_t i = 0; i < n; i++) {
        unsigned char *r = im.p + NEW_HDR + i * NEW_ENT;
        uint32_t path_at = put_string(&im, v[i].path);
        uint64_t hwcap = v[i].hwcap;
        if (v[i].hwcaps_subdir) {   /* re-indexed into this file's section, ISA level kept */
            size_t k = 0;
            while (strcmp(subs[k], v[i].hwcaps_subdir))
                k++;
            uint32_t hi = (uint32_t)(hwcap >> 32) & HWCAP_ISA_LEVEL_MASK;
            hwcap = (uint64_t)(HWCAP_EXTENSION_HI | hi) << 32 | k;
        }
        wr32(r, (uint32_t)v[i].flags);
        wr32(r + 4, put_name(&im, v[i].name, v[i].path, path_at));
        wr32(r + 8, path_at);
        wr64(r + 16, hwcap);
    }
    size_t ext = align4(im.strings_at + im.strings_len), data = ext + EXT_HDR + nsections * EXT_SECTION;
    memcpy(im.p, NEW_MAGIC NEW_VERSION, sizeof NEW_MAGIC NEW_VERSION - 1);
    wr32(im.p + 20, (uint32_t)n);
    wr32(im.p + 24, (uint32_t)im.strings_len);
    im.p[28] = ENDIAN_NATIVE;
    wr32(im.p + 32, (uint32_t)ext);
    wr32(im.p + ext, EXT_MAGIC);
    wr32(im.p + ext + 4, (uint32_t)nsections);
    unsigned char *s = im.p + ext + EXT_HDR;
    wr32(s, EXT_TAG_GENERATOR);
    wr32(s + 8, (uint32_t)data);
    wr32(s + 12, (uint32_t)gen);
    if (gen)
        memcpy(im.p + data, generator, gen);
    im.len = data + gen;
    if (nsub) {
        size_t at = align4(im.len);
        wr32(s + EXT_SECTION, EXT_TAG_HWCAPS);
        wr32(s + EXT_SECTION + 8, (uint32_t)at);
        wr32(s + EXT_SECTION + 12, (uint32_t)(nsub * 4));
        for (size_t k = 0; k < nsub; k++)
            wr32(im.p + at + k * 4, sub_at[k]);
        im.len = at + nsub * 4;
    }
    free(subs);
    free(sub_at);
    *out = im.p;
    *len = im.len;
    return 0;
}
