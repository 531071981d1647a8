/* Writing a CDI spec as JSON or YAML.
 *
 * The YAML is written by hand in block style rather than through libyaml's emitter: the
 * document shape is small and fixed, and the one rule that matters for correctness is easy to
 * state and check here: every string is double-quoted with escapes, so no reader (YAML 1.1 or
 * 1.2, libyaml or Go) can take "0", "yes", "null", "1e3" or "-x" for anything but a string,
 * while integers, booleans and null stay plain and keep their types. */
#include "cdi/cdi.h"
#include "cdi/internal.h"
#include "util/cleanup.h"
#include "util/json_text.h"
#include "util/utf8.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

char *nvb_cdi_to_json(const json_t *spec)
{
    /* jansson keeps object keys in insertion order (2.8 and later). */
    return nvb_json_dump_line(spec, JSON_INDENT(2) | JSON_ENCODE_ANY);
}

/* ---- YAML ---- */

/* A double-quoted YAML scalar. Escaped: '"', '\\', C0 and C1 controls, DEL, and the code
 * points YAML readers treat as line breaks or refuse in a stream (U+2028, U+2029, U+FEFF,
 * U+FFFE, U+FFFF). Everything else is written as it is. */
static int put_quoted(FILE *f, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    fputc('"', f);
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t len = nvb_utf8_decode(p + i, n - i, &cp);
        if (len == 0)
            return -1;
        switch (cp) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\0': fputs("\\0", f); break;
        case '\t': fputs("\\t", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case 0x85: fputs("\\N", f); break;
        case 0x2028: fputs("\\L", f); break;
        case 0x2029: fputs("\\P", f); break;
        default:
            if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
                fprintf(f, "\\x%02x", (unsigned)cp);
            else if (cp == 0xfeff || cp == 0xfffe || cp == 0xffff)
                fprintf(f, "\\u%04x", (unsigned)cp);
            else
                fwrite(p + i, 1, len, f);
        }
        i += len;
    }
    fputc('"', f);
    return 0;
}

/* Keys such as "cdiVersion" stay plain; anything a reader might type or misread is quoted. */
static int put_key(FILE *f, const char *key)
{
    static const char *const typed[] = {"y", "n", "yes", "no", "on", "off", "true", "false", "null"};
    bool plain = (key[0] >= 'A' && key[0] <= 'Z') || (key[0] >= 'a' && key[0] <= 'z');
    for (const char *k = key; plain && *k; k++)
        plain = (*k >= 'A' && *k <= 'Z') || (*k >= 'a' && *k <= 'z') || (*k >= '0' && *k <= '9') || *k == '_';
    for (size_t i = 0; plain && i < sizeof typed / sizeof typed[0]; i++)
        if (strcasecmp(key, typed[i]) == 0)
            plain = false;
    if (plain) {
        fputs(key, f);
        return 0;
    }
    return put_quoted(f, key, strlen(key));
}

static void put_real(FILE *f, double d)
{
    /* Always with a '.', so YAML 1.1 readers see a float ("1e+20" would be a string there). */
    char buf[64];
    snprintf(buf, sizeof buf, "%.17g", d);
    char *e = strpbrk(buf, "eE");
    if (strchr(buf, '.'))
        fputs(buf, f);
    else if (e)
        fprintf(f, "%.*s.0%s", (int)(e - buf), buf, e);
    else
        fprintf(f, "%s.0", buf);
}

/* Scalars and empty containers, which are written in flow style on the key's line. A number or
 * boolean where CDI expects a string (an invalid spec) gets an explicit tag, because the
 * loader reads plain scalars in string fields as strings: the data still reads back as it was. */
static int put_inline(FILE *f, const json_t *v, cdi_node kind)
{
    if (kind == CDI_N_STR && (json_is_number(v) || json_is_boolean(v)))
        fputs(json_is_integer(v) ? "!!int " : json_is_real(v) ? "!!float " : "!!bool ", f);
    switch (json_typeof(v)) {
    case JSON_STRING: return put_quoted(f, json_string_value(v), json_string_length(v));
    case JSON_INTEGER: fprintf(f, "%" JSON_INTEGER_FORMAT, json_integer_value(v)); return 0;
    case JSON_REAL: put_real(f, json_real_value(v)); return 0;
    case JSON_TRUE: fputs("true", f); return 0;
    case JSON_FALSE: fputs("false", f); return 0;
    case JSON_NULL: fputs("null", f); return 0;
    case JSON_OBJECT: fputs("{}", f); return 0;
    case JSON_ARRAY: fputs("[]", f); return 0;
    }
    return -1;
}

#define LONG_KEY 128 /* bytes; escaped, still far below the readers' 1024-character limit */

static bool is_block(const json_t *v)
{
    return (json_is_object(v) && json_object_size(v) > 0) || (json_is_array(v) && json_array_size(v) > 0);
}

static void indent_to(FILE *f, int indent)
{
    for (int i = 0; i < indent; i++)
        fputc(' ', f);
}

/* A non-empty object or array at column `indent`. When first_inline, the first line's
 * indentation has already been written (after a "- "). */
static int put_block(FILE *f, const json_t *v, cdi_node kind, int indent, bool first_inline, int depth,
                     nvb_err *err)
{
    if (depth > NVB_CDI_MAX_DEPTH)
        return nvb_errf(err, NVB_EXIT_INPUT, "CDI spec: nesting deeper than %d levels", NVB_CDI_MAX_DEPTH);
    bool first = true;
    if (json_is_object(v)) {
        const char *key;
        const json_t *val;
        json_object_foreach((json_t *)v, key, val) {
            if (!first || !first_inline)
                indent_to(f, indent);
            first = false;
            /* YAML readers refuse implicit keys over 1024 characters: long ones are written
             * as explicit "? key" entries, with the ':' on the next line. */
            bool explicit_key = strlen(key) > LONG_KEY;
            if (explicit_key)
                fputs("? ", f);
            if (put_key(f, key) < 0)
                return nvb_errf(err, NVB_EXIT_INPUT, "CDI spec: key is not valid UTF-8");
            if (explicit_key) {
                fputc('\n', f);
                indent_to(f, indent);
            }
            cdi_node child = cdi_child_node(kind, key);
            if (is_block(val)) {
                fputs(":\n", f);
                if (put_block(f, val, child, indent + 2, false, depth + 1, err) < 0)
                    return -1;
            } else {
                fputs(": ", f);
                if (put_inline(f, val, child) < 0)
                    return nvb_errf(err, NVB_EXIT_INPUT, "CDI spec: value of %s is not valid UTF-8", key);
                fputc('\n', f);
            }
        }
        return 0;
    }
    size_t i;
    const json_t *item;
    json_array_foreach(v, i, item) {
        if (!first || !first_inline)
            indent_to(f, indent);
        first = false;
        fputs("- ", f);
        if (is_block(item)) {
            if (put_block(f, item, cdi_item_node(kind), indent + 2, true, depth + 1, err) < 0)
                return -1;
        } else {
            if (put_inline(f, item, cdi_item_node(kind)) < 0)
                return nvb_errf(err, NVB_EXIT_INPUT, "CDI spec: array item %zu is not valid UTF-8", i);
            fputc('\n', f);
        }
    }
    return 0;
}

char *nvb_cdi_to_yaml(const json_t *spec, nvb_err *err)
{
    if (!spec) {
        nvb_errf(err, NVB_EXIT_INPUT, "CDI spec: nothing to write");
        return NULL;
    }
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    if (!f) {
        nvb_errf_errno(err, NVB_EXIT_IO, errno, "writing YAML");
        return NULL;
    }
    int r;
    if (is_block(spec)) {
        r = put_block(f, spec, CDI_N_SPEC, 0, false, 1, err);
    } else {
        r = put_inline(f, spec, CDI_N_SPEC);
        if (r < 0)
            nvb_errf(err, NVB_EXIT_INPUT, "CDI spec: string is not valid UTF-8");
        fputc('\n', f);
    }
    bool write_failed = ferror(f) != 0;
    if (fclose(f) != 0)
        write_failed = true;
    if (r < 0 || write_failed) {
        if (r == 0)
            nvb_errf(err, NVB_EXIT_IO, "writing YAML: out of memory");
        free(buf);
        return NULL;
    }
    return buf;
}
