/* A small streaming JSON writer: values are appended to one growable buffer as they come,
 * with no tree in between. Its indented layout is the one jansson prints with
 * JSON_INDENT(n) (", " between items becomes ",\n", ": " between key and value, "[]" and
 * "{}" for empty containers, strings escaped the same way), so a document written here can
 * stand in for json_dumps() of the same tree, byte for byte.
 *
 * Errors are sticky: after an allocation failure or a nesting deeper than
 * NVB_JSONW_MAX_DEPTH every call does nothing and nvb_jsonw_finish() returns NULL. A string
 * that is not valid UTF-8 is written with each bad byte replaced by \uFFFD, so the output
 * stays valid JSON, and `bad_utf8` records it for callers that must refuse such input. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NVB_JSONW_MAX_DEPTH 32

typedef struct nvb_jsonw {
    char *buf;
    size_t len, cap;
    unsigned indent;      /* spaces per level; 0 writes one compact line */
    unsigned depth;       /* containers open */
    bool pending_key;     /* a key was written; its value comes next */
    bool failed;          /* out of memory or too deep: the document is lost */
    bool bad_utf8;        /* some string was not valid UTF-8 */
    bool has_items[NVB_JSONW_MAX_DEPTH];  /* per open container: an item was written */
} nvb_jsonw;

/* Start an empty document; `size_hint` is the expected size in bytes (0 for a default). */
void nvb_jsonw_init(nvb_jsonw *w, unsigned indent, size_t size_hint);
void nvb_jsonw_free(nvb_jsonw *w);

void nvb_jsonw_object_begin(nvb_jsonw *w);
void nvb_jsonw_object_end(nvb_jsonw *w);
void nvb_jsonw_array_begin(nvb_jsonw *w);
void nvb_jsonw_array_end(nvb_jsonw *w);

/* An object member's key; the next value call writes its value. */
void nvb_jsonw_key(nvb_jsonw *w, const char *key);
void nvb_jsonw_keyn(nvb_jsonw *w, const char *key, size_t n);  /* a key that may hold NUL */

/* Values. nvb_jsonw_string(w, NULL) writes null. */
void nvb_jsonw_string(nvb_jsonw *w, const char *s);
void nvb_jsonw_stringn(nvb_jsonw *w, const char *s, size_t n);
void nvb_jsonw_int(nvb_jsonw *w, int64_t v);
void nvb_jsonw_bool(nvb_jsonw *w, bool v);
void nvb_jsonw_null(nvb_jsonw *w);
/* A value given as JSON text, written as it is (the caller vouches for it). */
void nvb_jsonw_raw(nvb_jsonw *w, const char *text, size_t n);

/* Key and value in one call. */
static inline void nvb_jsonw_kstring(nvb_jsonw *w, const char *key, const char *s)
{
    nvb_jsonw_key(w, key);
    nvb_jsonw_string(w, s);
}
static inline void nvb_jsonw_kint(nvb_jsonw *w, const char *key, int64_t v)
{
    nvb_jsonw_key(w, key);
    nvb_jsonw_int(w, v);
}
static inline void nvb_jsonw_kbool(nvb_jsonw *w, const char *key, bool v)
{
    nvb_jsonw_key(w, key);
    nvb_jsonw_bool(w, v);
}

/* End the document with a newline and hand the NUL-terminated text to the caller (free()
 * it); its length without the NUL in *len when len is not NULL. NULL when the writer
 * failed or a container is still open; the writer is empty afterwards either way. */
char *nvb_jsonw_finish(nvb_jsonw *w, size_t *len);
