#include "util/json_text.h"

#include <stdlib.h>
#include <string.h>

typedef struct raw_part {
    const json_t *stand_in;
    const char *text;
    size_t len;
} raw_part;

/* False at a real number: jansson's "%.17g" and its ".0" rule are not repeated here, such a
 * tree is left to jansson. */
static bool write_tree(nvb_jsonw *w, const json_t *j, const raw_part *raw)
{
    if (raw && j == raw->stand_in) {
        nvb_jsonw_raw(w, raw->text, raw->len);
        return true;
    }
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        const char *k;
        size_t klen;
        json_t *x;
        nvb_jsonw_object_begin(w);
        json_object_keylen_foreach((json_t *)j, k, klen, x) {
            nvb_jsonw_keyn(w, k, klen);
            if (!write_tree(w, x, raw))
                return false;
        }
        nvb_jsonw_object_end(w);
        return true;
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *x;
        nvb_jsonw_array_begin(w);
        json_array_foreach(j, i, x) if (!write_tree(w, x, raw)) return false;
        nvb_jsonw_array_end(w);
        return true;
    }
    case JSON_STRING: nvb_jsonw_stringn(w, json_string_value(j), json_string_length(j)); return true;
    case JSON_INTEGER: nvb_jsonw_int(w, json_integer_value(j)); return true;
    case JSON_TRUE: nvb_jsonw_bool(w, true); return true;
    case JSON_FALSE: nvb_jsonw_bool(w, false); return true;
    case JSON_NULL: nvb_jsonw_null(w); return true;
    case JSON_REAL: return false;
    }
    return false;
}

bool nvb_jsonw_tree(nvb_jsonw *w, const json_t *j)
{
    return write_tree(w, j, NULL);
}

char *nvb_jsonw_text(const json_t *j, unsigned indent, const json_t *stand_in, const char *raw, size_t raw_len)
{
    raw_part part = {stand_in, raw, raw_len};
    nvb_jsonw w;
    nvb_jsonw_init(&w, indent, 0);
    if (write_tree(&w, j, stand_in ? &part : NULL) && !w.failed && !w.bad_utf8)
        return nvb_jsonw_finish(&w, NULL);
    nvb_jsonw_free(&w);
    return NULL;
}

static char *jansson_line(const json_t *j, size_t flags)
{
    char *s = json_dumps(j, flags);
    if (!s)
        return NULL;
    size_t n = strlen(s);
    char *t = realloc(s, n + 2);
    if (!t) {
        free(s);
        return NULL;
    }
    t[n] = '\n';
    t[n + 1] = '\0';
    return t;
}

char *nvb_json_dump_line(const json_t *j, size_t flags)
{
    /* The layouts nvb_jsonw writes: compact, or indented without JSON_COMPACT (which would
     * drop the space after ':'). Order is insertion order either way: JSON_PRESERVE_ORDER
     * changes nothing since jansson 2.8. Other flags (sorted keys, ASCII or slash escapes,
     * real precision) are jansson's. */
    size_t indent = flags & 0x1F;
    size_t known = JSON_MAX_INDENT | JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY;
    bool ours = (flags & ~known) == 0 && ((flags & JSON_COMPACT) ? indent == 0 : indent > 0) &&
                (json_is_object(j) || json_is_array(j) || (flags & JSON_ENCODE_ANY));
    char *text = ours ? nvb_jsonw_text(j, (unsigned)indent, NULL, NULL, 0) : NULL;
    /* Otherwise, or too deep, a real, or not jansson's own UTF-8 (json_*_nocheck): jansson
     * says what it says. */
    if (text)
        return text;
    return jansson_line(j, flags);
}
