/* Reading a CDI spec from JSON or YAML into the jansson model.
 *
 * JSON goes through jansson (duplicate keys refused, as the engines' strict decoder does).
 * YAML goes through libyaml's event parser and is built into jansson values here, with an
 * explicit stack so nesting depth is bounded, aliases expanded by copy under a node budget
 * (no "billion laughs"), and plain scalars typed by the CDI field they fill: that is how the
 * engines' Go decoder reads them (a device `name: 0` is the string "0", `major: 195` the
 * integer 195). */
#include "cdi/cdi.h"
#include "cdi/internal.h"
#include "util/cleanup.h"
#include "util/fileio.h"
#include "util/grow.h"
#include "util/strv.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

nvb_cdi_format nvb_cdi_format_from_path(const char *path)
{
    if (nvb_endswith(path, ".json"))
        return NVB_CDI_FORMAT_JSON;
    if (nvb_endswith(path, ".yaml") || nvb_endswith(path, ".yml"))
        return NVB_CDI_FORMAT_YAML;
    return NVB_CDI_FORMAT_AUTO;
}

/* Skip a UTF-8 byte order mark and white space; returns the offset of the first content byte. */
static size_t content_start(const char *data, size_t len)
{
    size_t i = 0;
    if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0)
        i = 3;
    while (i < len && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r'))
        i++;
    return i;
}

/* Nesting depth of a jansson value, stopping as soon as it passes limit. */
static int depth_of(const json_t *v, int limit)
{
    if (limit < 0 || !(json_is_object(v) || json_is_array(v)))
        return 0;
    int max = 0;
    if (json_is_object(v)) {
        const char *k;
        const json_t *c;
        json_object_foreach((json_t *)v, k, c) {
            int d = depth_of(c, limit - 1);
            if (d > max)
                max = d;
            if (max > limit)
                break;
        }
    } else {
        size_t i;
        const json_t *c;
        json_array_foreach(v, i, c) {
            int d = depth_of(c, limit - 1);
            if (d > max)
                max = d;
            if (max > limit)
                break;
        }
    }
    return max + 1;
}

/* jansson's message, except where it names jansson's own flags. */
static const char *json_problem(const json_error_t *je)
{
    if (json_error_code(je) == json_error_null_character)
        return "\\u0000 (a NUL character) is not allowed in a CDI spec";
    return je->text;
}

static json_t *load_json(const char *data, size_t len, const char *name, nvb_err *err)
{
    json_error_t je;
    json_t *root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        if (je.line > 0)
            nvb_errf(err, NVB_EXIT_INPUT, "%s:%d:%d: %s", name, je.line, je.column, json_problem(&je));
        else /* jansson has no position for a few errors */
            nvb_errf(err, NVB_EXIT_INPUT, "%s: %s", name, json_problem(&je));
        return NULL;
    }
    if (depth_of(root, NVB_CDI_MAX_DEPTH) > NVB_CDI_MAX_DEPTH) {
        json_decref(root);
        nvb_errf(err, NVB_EXIT_INPUT, "%s: nesting deeper than %d levels; not a CDI spec", name, NVB_CDI_MAX_DEPTH);
        return NULL;
    }
    return root;
}

/* ---- YAML scalars ---- */

static bool is_null_word(const char *s)
{
    return !*s || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

/* YAML 1.2 core booleans; with yaml11, also the YAML 1.1 words Go's yaml reads as booleans. */
static int parse_bool(const char *s, bool yaml11)
{
    static const char *const t12[] = {"true", "True", "TRUE"}, *const f12[] = {"false", "False", "FALSE"};
    static const char *const t11[] = {"y", "Y", "yes", "Yes", "YES", "on", "On", "ON"};
    static const char *const f11[] = {"n", "N", "no", "No", "NO", "off", "Off", "OFF"};
    for (size_t i = 0; i < 3; i++) {
        if (strcmp(s, t12[i]) == 0)
            return 1;
        if (strcmp(s, f12[i]) == 0)
            return 0;
    }
    for (size_t i = 0; yaml11 && i < 8; i++) {
        if (strcmp(s, t11[i]) == 0)
            return 1;
        if (strcmp(s, f11[i]) == 0)
            return 0;
    }
    return -1;
}

/* YAML integers: decimal, 0x hex, 0o and 0-prefixed octal, 0b binary, '_' between digits
 * (the forms Go's yaml accepts). False when s is not one or does not fit in 64 bits. */
static bool parse_int(const char *s, json_int_t *out)
{
    char digits[80];
    size_t n = 0;
    bool neg = false;
    if (*s == '-' || *s == '+')
        neg = *s++ == '-';
    int base = 10;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
        base = 16, s += 2;
    else if (s[0] == '0' && (s[1] == 'o' || s[1] == 'O'))
        base = 8, s += 2;
    else if (s[0] == '0' && (s[1] == 'b' || s[1] == 'B'))
        base = 2, s += 2;
    else if (s[0] == '0' && s[1])
        base = 8, s += 1;
    for (; *s; s++) {
        if (*s == '_' && n > 0 && s[1] && s[1] != '_')
            continue;
        int d = (*s >= '0' && *s <= '9') ? *s - '0'
                : (*s >= 'a' && *s <= 'f') ? *s - 'a' + 10
                : (*s >= 'A' && *s <= 'F') ? *s - 'A' + 10 : 99;
        if (d >= base || n + 1 >= sizeof digits)
            return false;
        digits[n++] = *s;
    }
    if (n == 0)
        return false;
    digits[n] = '\0';
    errno = 0;
    char *end;
    unsigned long long u = strtoull(digits, &end, base);
    if (errno || *end)
        return false;
    if (neg ? u > (unsigned long long)INT64_MAX + 1 : u > (unsigned long long)INT64_MAX)
        return false;
    if (!neg || u == 0)
        *out = (json_int_t)u;
    else
        *out = -(json_int_t)(u - 1) - 1; /* reaches INT64_MIN without overflow */
    return true;
}

/* YAML 1.2 core floats without inf/nan (JSON has no place for them). */
static bool parse_float(const char *s, double *out)
{
    const char *p = s;
    if (*p == '-' || *p == '+')
        p++;
    bool digits = false, dot = false;
    for (; *p; p++) {
        if (*p >= '0' && *p <= '9')
            digits = true;
        else if (*p == '.' && !dot)
            dot = true;
        else
            break;
    }
    if (!digits)
        return false;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '-' || *p == '+')
            p++;
        if (!(*p >= '0' && *p <= '9'))
            return false;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p)
        return false;
    char *end;
    errno = 0;
    double d = strtod(s, &end);
    /* overflow has no JSON form; underflow to a tiny or zero value is fine, as in jansson */
    if (*end || (errno == ERANGE && (d == HUGE_VAL || d == -HUGE_VAL)))
        return false;
    *out = d;
    return true;
}

static json_t *resolve_generic(const char *s)
{
    if (is_null_word(s))
        return json_null();
    int b = parse_bool(s, false);
    if (b >= 0)
        return json_boolean(b);
    json_int_t i;
    if (parse_int(s, &i))
        return json_integer(i);
    double d;
    if (parse_float(s, &d))
        return json_real(d);
    return json_string(s);
}

/* A plain (unquoted, untagged) scalar in a field of the given kind. */
static json_t *resolve_plain(const char *s, cdi_node kind)
{
    json_int_t i;
    int b;
    switch (kind) {
    case CDI_N_STR:
        return is_null_word(s) ? json_null() : json_string(s);
    case CDI_N_INT:
        if (parse_int(s, &i))
            return json_integer(i);
        return resolve_generic(s);
    case CDI_N_BOOL:
        if ((b = parse_bool(s, true)) >= 0)
            return json_boolean(b);
        return resolve_generic(s);
    default:
        return resolve_generic(s);
    }
}

#define TAG_PREFIX "tag:yaml.org,2002:"

/* A scalar with an explicit standard tag. NULL with *why set when it cannot be one. */
static json_t *resolve_tagged(const char *s, const char *tag, const char **why)
{
    const char *t = tag + strlen(TAG_PREFIX);
    json_int_t i;
    double d;
    int b;
    if (strcmp(t, "str") == 0)
        return json_string(s);
    if (strcmp(t, "null") == 0) {
        if (is_null_word(s))
            return json_null();
        *why = "is tagged !!null but is not null";
        return NULL;
    }
    if (strcmp(t, "bool") == 0) {
        if ((b = parse_bool(s, true)) >= 0)
            return json_boolean(b);
        *why = "is tagged !!bool but is not a boolean";
        return NULL;
    }
    if (strcmp(t, "int") == 0) {
        if (parse_int(s, &i))
            return json_integer(i);
        *why = "is tagged !!int but is not a 64-bit integer";
        return NULL;
    }
    if (strcmp(t, "float") == 0) {
        if (parse_int(s, &i))
            return json_real((double)i);
        if (parse_float(s, &d))
            return json_real(d);
        *why = "is tagged !!float but is not a finite number";
        return NULL;
    }
    *why = "has a tag that is not supported in a CDI spec";
    return NULL;
}

/* ---- YAML documents ---- */

typedef struct frame {
    json_t *node;       /* borrowed: owned by its parent (or by the builder for the root) */
    cdi_node kind;
    char *key;          /* mappings: the key read, waiting for its value */
    char *anchor;       /* anchor of this collection, registered when it ends */
    size_t nodes_before;
} frame;

typedef struct anchor {
    char *name;
    json_t *node;
    size_t size;        /* nodes in the subtree, charged again for every alias */
} anchor;

typedef struct builder {
    const char *name;
    nvb_err *err;
    json_t *root;
    frame stack[NVB_CDI_MAX_DEPTH + 1];
    int depth;
    anchor *anchors;
    size_t nanchors, cap_anchors;
    size_t nodes;
    int documents;
} builder;

__attribute__((format(printf, 3, 4)))
static int fail_at(builder *b, const yaml_mark_t *m, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return nvb_errf(b->err, NVB_EXIT_INPUT, "%s:%zu:%zu: %s", b->name, m->line + 1, m->column + 1, msg);
}

static int charge(builder *b, size_t n, const yaml_mark_t *m)
{
    if (n > NVB_CDI_MAX_NODES || b->nodes > NVB_CDI_MAX_NODES - n)
        return fail_at(b, m, "more than %u values (aliases expanding too far?); not a CDI spec", NVB_CDI_MAX_NODES);
    b->nodes += n;
    return 0;
}

/* The kind of the value that comes next at the top of the stack. */
static cdi_node next_kind(const builder *b)
{
    if (b->depth == 0)
        return CDI_N_SPEC;
    const frame *top = &b->stack[b->depth - 1];
    if (json_is_array(top->node))
        return cdi_item_node(top->kind);
    return cdi_child_node(top->kind, top->key ? top->key : "");
}

static bool expecting_key(const builder *b)
{
    if (b->depth == 0)
        return false;
    const frame *top = &b->stack[b->depth - 1];
    return json_is_object(top->node) && !top->key;
}

/* Attach a new value (reference stolen) where the top of the stack expects one. */
static int attach(builder *b, json_t *v, const yaml_mark_t *m)
{
    if (!v)
        return fail_at(b, m, "out of memory");
    if (b->depth == 0) {
        if (b->root) {
            json_decref(v);
            return fail_at(b, m, "more than one value at the top of the document");
        }
        b->root = v;
        return 0;
    }
    frame *top = &b->stack[b->depth - 1];
    if (json_is_array(top->node))
        return json_array_append_new(top->node, v) == 0 ? 0 : fail_at(b, m, "out of memory");
    int r = json_object_set_new(top->node, top->key, v);
    free(top->key);
    top->key = NULL;
    return r == 0 ? 0 : fail_at(b, m, "out of memory");
}

static int add_anchor(builder *b, const char *name, json_t *node, size_t size, const yaml_mark_t *m)
{
    anchor *na = nvb_grow(b->anchors, &b->cap_anchors, b->nanchors, sizeof *na, 8);
    if (!na)
        return fail_at(b, m, "out of memory");
    b->anchors = na;
    char *n = strdup(name);
    if (!n)
        return fail_at(b, m, "out of memory");
    b->anchors[b->nanchors++] = (anchor){.name = n, .node = json_incref(node), .size = size};
    return 0;
}

static const anchor *find_anchor(const builder *b, const char *name)
{
    for (size_t i = b->nanchors; i-- > 0;) /* the latest definition wins */
        if (strcmp(b->anchors[i].name, name) == 0)
            return &b->anchors[i];
    return NULL;
}

static int on_scalar(builder *b, const yaml_event_t *ev)
{
    const yaml_mark_t *m = &ev->start_mark;
    const char *s = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    if (memchr(s, '\0', len))
        return fail_at(b, m, "a NUL character in a string is not allowed in a CDI spec");
    if (charge(b, 1, m) < 0)
        return -1;
    if (expecting_key(b)) {
        frame *top = &b->stack[b->depth - 1];
        if (json_object_get(top->node, s))
            return fail_at(b, m, "duplicate key \"%s\"", s);
        if (!(top->key = strdup(s)))
            return fail_at(b, m, "out of memory");
        if (ev->data.scalar.anchor)
            return fail_at(b, m, "an anchor on a mapping key is not supported in a CDI spec");
        return 0;
    }
    const char *tag = (const char *)ev->data.scalar.tag;
    json_t *v;
    if (tag && strcmp(tag, "!") != 0) {
        if (strncmp(tag, TAG_PREFIX, strlen(TAG_PREFIX)) != 0)
            return fail_at(b, m, "tag \"%s\" is not supported in a CDI spec", tag);
        const char *why = NULL;
        if (!(v = resolve_tagged(s, tag, &why))) {
            if (why)
                return fail_at(b, m, "value %s", why);
            return fail_at(b, m, "out of memory");
        }
    } else if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !tag) {
        v = resolve_plain(s, next_kind(b));
    } else {
        v = json_string(s);
    }
    if (!v)
        return fail_at(b, m, "a string that is not valid UTF-8");
    if (ev->data.scalar.anchor && add_anchor(b, (const char *)ev->data.scalar.anchor, v, 1, m) < 0) {
        json_decref(v);
        return -1;
    }
    return attach(b, v, m);
}

static int on_alias(builder *b, const yaml_event_t *ev)
{
    const yaml_mark_t *m = &ev->start_mark;
    const char *name = (const char *)ev->data.alias.anchor;
    if (expecting_key(b))
        return fail_at(b, m, "an alias as a mapping key is not supported in a CDI spec");
    const anchor *a = find_anchor(b, name);
    if (!a)
        return fail_at(b, m, "alias *%s refers to no complete anchor before it", name);
    if (charge(b, a->size, m) < 0)
        return -1;
    return attach(b, json_deep_copy(a->node), m);
}

static int on_start(builder *b, const yaml_event_t *ev, bool mapping)
{
    const yaml_mark_t *m = &ev->start_mark;
    if (expecting_key(b))
        return fail_at(b, m, "a %s as a mapping key is not supported in a CDI spec", mapping ? "mapping" : "sequence");
    if (b->depth >= NVB_CDI_MAX_DEPTH)
        return fail_at(b, m, "nesting deeper than %d levels; not a CDI spec", NVB_CDI_MAX_DEPTH);
    const char *tag = (const char *)(mapping ? ev->data.mapping_start.tag : ev->data.sequence_start.tag);
    if (tag && strcmp(tag, mapping ? TAG_PREFIX "map" : TAG_PREFIX "seq") != 0 && strcmp(tag, "!") != 0)
        return fail_at(b, m, "tag \"%s\" is not supported in a CDI spec", tag);
    if (charge(b, 1, m) < 0)
        return -1;
    cdi_node kind = next_kind(b);
    json_t *v = mapping ? json_object() : json_array();
    if (!v)
        return fail_at(b, m, "out of memory");
    if (attach(b, json_incref(v), m) < 0) {
        json_decref(v);
        return -1;
    }
    json_decref(v); /* the parent (or b->root) holds it now */
    const char *anchor_name = (const char *)(mapping ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor);
    frame *f = &b->stack[b->depth++];
    *f = (frame){.node = v, .kind = kind, .nodes_before = b->nodes - 1};
    if (anchor_name && !(f->anchor = strdup(anchor_name)))
        return fail_at(b, m, "out of memory");
    return 0;
}

static int on_end(builder *b, const yaml_event_t *ev)
{
    frame *f = &b->stack[--b->depth];
    int r = 0;
    if (f->key) /* libyaml always pairs keys with values; kept for safety */
        r = fail_at(b, &ev->start_mark, "key \"%s\" has no value", f->key);
    if (r == 0 && f->anchor)
        r = add_anchor(b, f->anchor, f->node, b->nodes - f->nodes_before, &ev->start_mark);
    free(f->key);
    free(f->anchor);
    *f = (frame){0};
    return r;
}

static void builder_free(builder *b)
{
    while (b->depth > 0) {
        frame *f = &b->stack[--b->depth];
        free(f->key);
        free(f->anchor);
    }
    for (size_t i = 0; i < b->nanchors; i++) {
        free(b->anchors[i].name);
        json_decref(b->anchors[i].node);
    }
    free(b->anchors);
    json_decref(b->root);
}

static int parser_error(builder *b, const yaml_parser_t *p)
{
    const char *problem = p->problem ? p->problem : "malformed YAML";
    if (p->error == YAML_READER_ERROR)
        return nvb_errf(b->err, NVB_EXIT_INPUT, "%s: byte %zu: %s", b->name, p->problem_offset, problem);
    if (p->error == YAML_MEMORY_ERROR)
        return nvb_errf(b->err, NVB_EXIT_INPUT, "%s: out of memory reading YAML", b->name);
    if (p->context)
        return nvb_errf(b->err, NVB_EXIT_INPUT, "%s:%zu:%zu: %s (%s started at line %zu)", b->name,
                        p->problem_mark.line + 1, p->problem_mark.column + 1, problem, p->context,
                        p->context_mark.line + 1);
    return nvb_errf(b->err, NVB_EXIT_INPUT, "%s:%zu:%zu: %s", b->name, p->problem_mark.line + 1,
                    p->problem_mark.column + 1, problem);
}

static json_t *load_yaml(const char *data, size_t len, const char *name, nvb_err *err)
{
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        nvb_errf(err, NVB_EXIT_INPUT, "%s: out of memory reading YAML", name);
        return NULL;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
    builder b = {.name = name, .err = err};
    int r = 0;
    bool done = false;
    while (r == 0 && !done) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            r = parser_error(&b, &parser);
            break;
        }
        switch (ev.type) {
        case YAML_DOCUMENT_START_EVENT:
            if (++b.documents > 1)
                r = fail_at(&b, &ev.start_mark, "a second YAML document; a CDI spec file holds one");
            break;
        case YAML_SCALAR_EVENT: r = on_scalar(&b, &ev); break;
        case YAML_ALIAS_EVENT: r = on_alias(&b, &ev); break;
        case YAML_SEQUENCE_START_EVENT: r = on_start(&b, &ev, false); break;
        case YAML_MAPPING_START_EVENT: r = on_start(&b, &ev, true); break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT: r = on_end(&b, &ev); break;
        case YAML_STREAM_END_EVENT: done = true; break;
        default: break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    if (r == 0 && (!b.root || json_is_null(b.root))) /* "---" alone reads as a null document */
        r = nvb_errf(err, NVB_EXIT_INPUT, "%s: the document is empty; no CDI spec in it", name);
    json_t *root = NULL;
    if (r == 0)
        root = NVB_TAKE(b.root);
    builder_free(&b);
    return root;
}

json_t *nvb_cdi_load_buffer(const char *data, size_t len, nvb_cdi_format fmt, const char *name, nvb_err *err)
{
    if (!name)
        name = "CDI spec";
    if (!data) {
        nvb_errf(err, NVB_EXIT_INPUT, "%s: no data", name);
        return NULL;
    }
    size_t start = content_start(data, len);
    if (start == len) {
        nvb_errf(err, NVB_EXIT_INPUT, "%s: the file is empty; no CDI spec in it", name);
        return NULL;
    }
    if (fmt == NVB_CDI_FORMAT_JSON)
        return load_json(data + start, len - start, name, err);
    if (fmt == NVB_CDI_FORMAT_YAML)
        return load_yaml(data, len, name, err);
    /* JSON-looking text is held to JSON, so a typo in a .json file is reported rather than
     * read by the YAML parser as something else (engines would take YAML flow style too). */
    if (data[start] == '{' || data[start] == '[')
        return load_json(data + start, len - start, name, err);
    return load_yaml(data, len, name, err);
}

static json_t *load_path(const char *path, char *(*reader)(const char *, size_t, size_t *), nvb_err *err)
{
    size_t len = 0;
    _cleanup_free_ char *data = reader(path, NVB_CDI_MAX_FILE_SIZE, &len);
    if (!data) {
        if (errno == EFBIG)
            nvb_errf(err, NVB_EXIT_INPUT, "%s: larger than %u MiB; not a CDI spec", path, NVB_CDI_MAX_FILE_SIZE >> 20);
        else
            nvb_errf_errno(err, NVB_EXIT_IO, errno, "cannot read %s", path);
        return NULL;
    }
    return nvb_cdi_load_buffer(data, len, NVB_CDI_FORMAT_AUTO, path, err);
}

json_t *nvb_cdi_load_file(const char *path, nvb_err *err)
{
    return load_path(path, nvb_read_file, err);
}

json_t *nvb_cdi_load_input(const char *path, nvb_err *err)
{
    return load_path(path, nvb_read_input, err);
}
