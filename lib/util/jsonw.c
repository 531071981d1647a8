#include "util/jsonw.h"
#include "util/utf8.h"

#include <stdlib.h>
#include <string.h>

void nvb_jsonw_init(nvb_jsonw *w, unsigned indent, size_t size_hint)
{
    memset(w, 0, sizeof *w);
    w->indent = indent;
    w->cap = size_hint ? size_hint : 4096;
    w->buf = malloc(w->cap);
    if (!w->buf) {
        w->cap = 0;
        w->failed = true;
    }
}

void nvb_jsonw_free(nvb_jsonw *w)
{
    free(w->buf);
    memset(w, 0, sizeof *w);
    w->failed = true;
}

/* Grow the buffer for n more bytes; false (and the writer failed) when it cannot. */
static __attribute__((noinline)) bool grow(nvb_jsonw *w, size_t n)
{
    if (w->failed)
        return false;
    size_t cap = w->cap ? w->cap : 4096;
    while (cap - w->len < n) {
        if (cap > SIZE_MAX / 2)
            goto fail;
        cap *= 2;
    }
    char *nb = realloc(w->buf, cap);
    if (!nb)
        goto fail;
    w->buf = nb;
    w->cap = cap;
    return true;
fail:
    w->failed = true;
    return false;
}

/* Room for n more bytes; a failed writer never has any. */
static inline bool reserve(nvb_jsonw *w, size_t n)
{
    return __builtin_expect(n <= w->cap - w->len && !w->failed, 1) || grow(w, n);
}

static inline void put(nvb_jsonw *w, const char *s, size_t n)
{
    if (reserve(w, n)) {
        memcpy(w->buf + w->len, s, n);
        w->len += n;
    }
}

/* What comes before a value or a key: ": " after a key, else the item separator (a comma
 * after an earlier item, then a newline and the indentation). */
static inline void before_item(nvb_jsonw *w)
{
    if (w->pending_key) {
        w->pending_key = false;
        if (reserve(w, 2)) {
            w->buf[w->len++] = ':';
            if (w->indent)
                w->buf[w->len++] = ' ';
        }
        return;
    }
    if (w->depth == 0) {
        if (w->len)
            w->failed = true; /* a second top-level value */
        return;
    }
    size_t spaces = (size_t)w->indent * w->depth;
    if (!reserve(w, spaces + 2))
        return;
    char *o = w->buf + w->len;
    if (w->has_items[w->depth - 1])
        *o++ = ',';
    w->has_items[w->depth - 1] = true;
    if (w->indent) {
        *o++ = '\n';
        for (size_t i = 0; i < spaces; i++)
            o[i] = ' ';
        o += spaces;
    }
    w->len = (size_t)(o - w->buf);
}

static void open_container(nvb_jsonw *w, char c)
{
    before_item(w);
    if (w->depth >= NVB_JSONW_MAX_DEPTH) {
        w->failed = true;
        return;
    }
    put(w, &c, 1);
    w->has_items[w->depth++] = false;
}

static void close_container(nvb_jsonw *w, char c)
{
    if (w->depth == 0 || w->pending_key) {
        w->failed = true;
        return;
    }
    w->depth--;
    size_t spaces = (size_t)w->indent * w->depth;
    if (!reserve(w, spaces + 2))
        return;
    if (w->has_items[w->depth] && w->indent) {
        w->buf[w->len++] = '\n';
        memset(w->buf + w->len, ' ', spaces);
        w->len += spaces;
    }
    w->buf[w->len++] = c;
}

void nvb_jsonw_object_begin(nvb_jsonw *w) { open_container(w, '{'); }
void nvb_jsonw_object_end(nvb_jsonw *w) { close_container(w, '}'); }
void nvb_jsonw_array_begin(nvb_jsonw *w) { open_container(w, '['); }
void nvb_jsonw_array_end(nvb_jsonw *w) { close_container(w, ']'); }

/* Whether any of the 8 bytes at p is a control character, '"', '\\' or non-ASCII (may say
 * yes for a plain byte that follows one of those; the byte loop then sorts it out). */
static inline bool word_needs_care(const unsigned char *p)
{
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    uint64_t v;
    memcpy(&v, p, 8);
    uint64_t q = v ^ (ones * '"'), b = v ^ (ones * '\\');
    uint64_t control = (v - ones * 0x20) & ~v, quote = (q - ones) & ~q, backslash = (b - ones) & ~b;
    return ((control | quote | backslash | v) & highs) != 0;
}

/* The quoted string. Escaped as jansson does: '"', '\\', and the C0 controls (the short
 * forms \b \f \n \r \t, else \u00XX with upper-case hex); everything else, DEL and
 * non-ASCII included, is copied as it is. */
static void put_string(nvb_jsonw *w, const char *s, size_t n)
{
    /* Worst case: every byte becomes a six-character escape. */
    if (n > (SIZE_MAX - 2) / 6 || !reserve(w, 6 * n + 2))
        return;
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *p = (const unsigned char *)s;
    char *o = w->buf + w->len;
    *o++ = '"';
    size_t i = 0;
    while (i < n) {
        size_t run = i;
        while (run + 8 <= n && !word_needs_care(p + run))
            run += 8;
        while (run < n && p[run] >= 0x20 && p[run] < 0x80 && p[run] != '"' && p[run] != '\\')
            run++;
        memcpy(o, p + i, run - i);
        o += run - i;
        i = run;
        if (i == n)
            break;
        unsigned char c = p[i];
        if (c >= 0x80) {
            uint32_t cp;
            size_t len = nvb_utf8_decode(p + i, n - i, &cp);
            if (len) {
                memcpy(o, p + i, len);
                o += len;
                i += len;
            } else {
                memcpy(o, "\\uFFFD", 6);
                o += 6;
                i++;
                w->bad_utf8 = true;
            }
            continue;
        }
        *o++ = '\\';
        switch (c) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '\b': *o++ = 'b'; break;
        case '\f': *o++ = 'f'; break;
        case '\n': *o++ = 'n'; break;
        case '\r': *o++ = 'r'; break;
        case '\t': *o++ = 't'; break;
        default:
            memcpy(o, "u00", 3);
            o[3] = hex[c >> 4];
            o[4] = hex[c & 15];
            o += 5;
        }
        i++;
    }
    *o++ = '"';
    w->len = (size_t)(o - w->buf);
}

void nvb_jsonw_keyn(nvb_jsonw *w, const char *key, size_t n)
{
    if (w->depth == 0 || w->pending_key) {
        w->failed = true;
        return;
    }
    before_item(w);
    put_string(w, key, n);
    w->pending_key = true;
}

void nvb_jsonw_key(nvb_jsonw *w, const char *key)
{
    nvb_jsonw_keyn(w, key, strlen(key));
}

void nvb_jsonw_stringn(nvb_jsonw *w, const char *s, size_t n)
{
    before_item(w);
    put_string(w, s, n);
}

void nvb_jsonw_string(nvb_jsonw *w, const char *s)
{
    if (!s)
        nvb_jsonw_null(w);
    else
        nvb_jsonw_stringn(w, s, strlen(s));
}

void nvb_jsonw_int(nvb_jsonw *w, int64_t v)
{
    char digits[24];
    char *end = digits + sizeof digits, *p = end;
    /* Negate in unsigned arithmetic: INT64_MIN has no positive int64_t. */
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    before_item(w);
    put(w, p, (size_t)(end - p));
}

void nvb_jsonw_bool(nvb_jsonw *w, bool v)
{
    before_item(w);
    put(w, v ? "true" : "false", v ? 4 : 5);
}

void nvb_jsonw_null(nvb_jsonw *w)
{
    before_item(w);
    put(w, "null", 4);
}

void nvb_jsonw_raw(nvb_jsonw *w, const char *text, size_t n)
{
    before_item(w);
    put(w, text, n);
}

char *nvb_jsonw_finish(nvb_jsonw *w, size_t *len)
{
    char *out = NULL;
    if (w->depth == 0 && !w->pending_key && w->len && reserve(w, 2)) {
        w->buf[w->len++] = '\n';
        w->buf[w->len] = '\0';
        if (len)
            *len = w->len;
        out = w->buf;
        w->buf = NULL;
    }
    nvb_jsonw_free(w);
    return out;
}
