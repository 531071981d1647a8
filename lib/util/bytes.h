/* A flat byte record, written and read back field by field: the host cache's file
 * (host/host_cache.c). The reader never trusts the bytes: every field is bounds-checked, a
 * string must hold no NUL and fit what is left, and the first failure sticks (bad), so a
 * caller checks once at the end. Numbers are stored in this machine's byte order: the file
 * is read back only by the binary that wrote it (its identity is in the file's key). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "util/grow.h"

typedef struct nvb_bytes_out {
    char *v;
    size_t n, cap;
    bool oom;
} nvb_bytes_out;

static inline void nvb_bytes_put(nvb_bytes_out *o, const void *p, size_t len)
{
    while (!o->oom && o->n + len > o->cap) {
        char *q = nvb_grow(o->v, &o->cap, o->cap, 1, 4096);
        if (!q)
            o->oom = true;
        else
            o->v = q;
    }
    if (!o->oom && len) {
        memcpy(o->v + o->n, p, len);
        o->n += len;
    }
}

static inline void nvb_bytes_u64(nvb_bytes_out *o, uint64_t x)
{
    nvb_bytes_put(o, &x, sizeof x);
}

/* A string, or NULL (told apart from ""). */
static inline void nvb_bytes_str(nvb_bytes_out *o, const char *s)
{
    nvb_bytes_u64(o, s ? strlen(s) + 1 : 0);
    if (s)
        nvb_bytes_put(o, s, strlen(s));
}

/* Bytes of a given length (a fingerprint, a listing). */
static inline void nvb_bytes_blob(nvb_bytes_out *o, const void *p, size_t len)
{
    nvb_bytes_u64(o, len);
    nvb_bytes_put(o, p, len);
}

typedef struct nvb_bytes_in {
    const char *p, *end;
    bool bad;
} nvb_bytes_in;

static inline uint64_t nvb_bytes_get_u64(nvb_bytes_in *in)
{
    uint64_t x = 0;
    if (in->bad || (size_t)(in->end - in->p) < sizeof x) {
        in->bad = true;
        return 0;
    }
    memcpy(&x, in->p, sizeof x);
    in->p += sizeof x;
    return x;
}

/* A number that must be at most max. */
static inline uint64_t nvb_bytes_get_max(nvb_bytes_in *in, uint64_t max)
{
    uint64_t x = nvb_bytes_get_u64(in);
    if (x > max) {
        in->bad = true;
        return 0;
    }
    return x;
}

/* A blob's bytes, in place (not copied); NULL with *len 0 when bad. */
static inline const char *nvb_bytes_get_blob(nvb_bytes_in *in, size_t *len)
{
    uint64_t n = nvb_bytes_get_u64(in);
    *len = 0;
    if (in->bad || n > (uint64_t)(in->end - in->p)) {
        in->bad = true;
        return NULL;
    }
    const char *s = in->p;
    in->p += n;
    *len = (size_t)n;
    return s;
}

/* A string, in place (not copied, not NUL-terminated): its bytes and *len; NULL for a stored
 * NULL, and when bad or when it holds a NUL. */
static inline const char *nvb_bytes_get_strn(nvb_bytes_in *in, size_t *len)
{
    uint64_t n = nvb_bytes_get_u64(in);
    *len = 0;
    if (in->bad || n == 0)
        return NULL;
    if (n - 1 > (uint64_t)(in->end - in->p) || memchr(in->p, '\0', (size_t)(n - 1))) {
        in->bad = true;
        return NULL;
    }
    const char *s = in->p;
    in->p += n - 1;
    *len = (size_t)(n - 1);
    return s;
}

/* A string, malloc'd; NULL for a stored NULL (and when bad, which the caller checks). */
static inline char *nvb_bytes_get_str(nvb_bytes_in *in)
{
    size_t n;
    const char *p = nvb_bytes_get_strn(in, &n);
    if (!p)
        return NULL;
    char *s = malloc(n + 1);
    if (!s) {
        in->bad = true;
        return NULL;
    }
    memcpy(s, p, n);
    s[n] = '\0';
    return s;
}
