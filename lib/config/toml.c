/* The structure of TOML: keys, key/value lines, [table] and [[array]] headers, arrays and
 * inline tables, and the tree they build. TOML 1.0's rules about what may be defined twice
 * live here (see toml_table_kind in toml.h). */
#include "config/toml.h"
#include "config/toml_parser.h"
#include "util/grow.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- tree ---- */

static void node_free(toml_node *n)
{
    if (!n)
        return;
    if (n->type == TOML_STRING) {
        free(n->string.ptr);
    } else if (n->type == TOML_ARRAY) {
        for (size_t i = 0; i < n->array.len; i++)
            node_free(n->array.items[i]); /* depth is bounded by TOML_MAX_DEPTH */
        free(n->array.items);
    } else if (n->type == TOML_TABLE) {
        for (size_t i = 0; i < n->table.len; i++) {
            free(n->table.items[i].key);
            node_free(n->table.items[i].value);
        }
        free(n->table.items);
        free(n->table.index);
    }
    free(n);
}

static toml_node *node_new(toml_parser *p, toml_type type, toml_pos at, uint32_t depth)
{
    if ((type == TOML_TABLE || type == TOML_ARRAY) && depth > TOML_MAX_DEPTH) {
        toml_fail_at(p, at, "nesting too deep (more than %d levels of tables and arrays)", TOML_MAX_DEPTH);
        return NULL;
    }
    toml_node *n = calloc(1, sizeof *n);
    if (!n)
        return toml_alloc_fail(p);
    n->type = type;
    n->line = at.line;
    n->column = at.column;
    n->depth = depth;
    return n;
}

static toml_node *table_new(toml_parser *p, toml_table_kind kind, toml_pos at, uint32_t depth)
{
    toml_node *t = node_new(p, TOML_TABLE, at, depth);
    if (t)
        t->table.kind = kind;
    return t;
}

/* Grow an array of items of size elem so one more fits. */
static int grow(toml_parser *p, void *items, size_t *cap, size_t len, size_t elem)
{
    void *q = nvb_grow(*(void **)items, cap, len, elem, 4);
    if (!q)
        return toml_fail(p, "out of memory");
    *(void **)items = q;
    return 0;
}

static int array_push(toml_parser *p, toml_node *a, toml_node *v)
{
    if (grow(p, &a->array.items, &a->array.cap, a->array.len, sizeof *a->array.items) < 0) {
        node_free(v);
        return -1;
    }
    a->array.items[a->array.len++] = v;
    return 0;
}

/* Tables of more than INDEX_FROM keys get an open-addressing hash index, so that a hostile
 * document with many keys costs linear time, not quadratic. */
#define INDEX_FROM 16

static size_t hash_key(const char *k, size_t len)
{
    size_t h = 14695981039346656037ULL & SIZE_MAX;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)k[i]) * (size_t)1099511628211ULL;
    return h;
}

static toml_kv *table_find(const toml_node *t, const char *key, size_t len)
{
    if (t->table.index) {
        size_t mask = t->table.index_cap - 1;
        for (size_t h = hash_key(key, len) & mask; t->table.index[h]; h = (h + 1) & mask) {
            toml_kv *kv = &t->table.items[t->table.index[h] - 1];
            if (kv->key_len == len && !memcmp(kv->key, key, len))
                return kv;
        }
        return NULL;
    }
    for (size_t i = 0; i < t->table.len; i++)
        if (t->table.items[i].key_len == len && !memcmp(t->table.items[i].key, key, len))
            return &t->table.items[i];
    return NULL;
}

static void index_put(toml_node *t, size_t item)
{
    size_t mask = t->table.index_cap - 1;
    size_t h = hash_key(t->table.items[item].key, t->table.items[item].key_len) & mask;
    while (t->table.index[h])
        h = (h + 1) & mask;
    t->table.index[h] = (uint32_t)(item + 1);
}

static int index_update(toml_parser *p, toml_node *t)
{
    size_t len = t->table.len;
    if (len < INDEX_FROM)
        return 0;
    if (t->table.index_cap >= 2 * len) {
        index_put(t, len - 1);
        return 0;
    }
    size_t cap = 64;
    while (cap < 4 * len)
        cap *= 2;
    uint32_t *index = calloc(cap, sizeof *index);
    if (!index)
        return toml_fail(p, "out of memory");
    free(t->table.index);
    t->table.index = index;
    t->table.index_cap = cap;
    for (size_t i = 0; i < len; i++)
        index_put(t, i);
    return 0;
}

/* Append key = value to table t (copying key); takes ownership of value, even on failure. */
static int table_add(toml_parser *p, toml_node *t, const char *key, size_t key_len, toml_pos at, toml_node *value)
{
    char *copy = NULL;
    if (t->table.len >= UINT32_MAX - 1) {
        toml_fail_at(p, at, "too many keys in one table");
    } else if (!(copy = malloc(key_len + 1))) {
        toml_fail(p, "out of memory");
    } else if (grow(p, &t->table.items, &t->table.cap, t->table.len, sizeof *t->table.items) == 0) {
        memcpy(copy, key, key_len);
        copy[key_len] = '\0';
        t->table.items[t->table.len++] = (toml_kv){ copy, key_len, at.line, at.column, value };
        return index_update(p, t);
    }
    free(copy);
    node_free(value);
    return -1;
}

/* ---- keys ---- */

typedef struct key_part {
    char *s;
    size_t len;
    toml_pos at;
} key_part;

typedef struct key_path {
    key_part part[TOML_MAX_DEPTH];
    size_t n;
} key_path;

static void key_path_clear(key_path *k)
{
    for (size_t i = 0; i < k->n; i++)
        free(k->part[i].s);
    k->n = 0;
}

/* simple-key *( ws '.' ws simple-key ), then whitespace. */
static int parse_key(toml_parser *p, key_path *k)
{
    char d[16];
    for (;;) {
        if (k->n == TOML_MAX_DEPTH)
            return toml_fail(p, "key has too many parts (more than %d)", TOML_MAX_DEPTH);
        key_part *part = &k->part[k->n];
        int c = toml_peek(p), r;
        part->at = p->at;
        if (c == '"' || c == '\'')
            r = toml_lex_string(p, false, &part->s, &part->len);
        else if (toml_is_bare_key_char(c))
            r = toml_lex_bare_key(p, &part->s, &part->len);
        else
            r = toml_fail(p, "expected a key, found %s", toml_describe_char(p, d));
        if (r < 0)
            return -1;
        k->n++;
        toml_skip_ws(p);
        if (toml_peek(p) != '.')
            return 0;
        toml_advance(p);
        toml_skip_ws(p);
    }
}

/* Append s[0..len) at *o if it fits before room. */
static bool put_text(char *buf, size_t *o, size_t room, const char *s, size_t len)
{
    if (*o + len > room)
        return false;
    memcpy(buf + *o, s, len);
    *o += len;
    return true;
}

/* The first n parts of a key as they would be written, for messages; long ones end in "...". */
static const char *key_text(const key_path *k, size_t n, char *buf, size_t size)
{
    size_t o = 0, room = size - 4; /* keep room for "..." and the NUL */
    bool fits = true;
    for (size_t i = 0; i < n && fits; i++) {
        const key_part *part = &k->part[i];
        bool bare = part->len > 0;
        for (size_t j = 0; j < part->len; j++)
            bare = bare && toml_is_bare_key_char((unsigned char)part->s[j]);
        fits = (!i || put_text(buf, &o, room, ".", 1)) && (bare || put_text(buf, &o, room, "\"", 1));
        for (size_t j = 0; j < part->len && fits; j++) {
            unsigned char c = (unsigned char)part->s[j];
            char esc[8];
            if (c < 0x20 || c == 0x7F || c == '"' || c == '\\')
                fits = put_text(buf, &o, room, esc, (size_t)snprintf(esc, sizeof esc, "\\u%04X", c));
            else
                fits = put_text(buf, &o, room, (const char *)&c, 1);
        }
        fits = fits && (bare || put_text(buf, &o, room, "\"", 1));
    }
    while (!fits && o && ((unsigned char)buf[o - 1] & 0xC0) == 0x80)
        o--; /* do not cut a character in half */
    if (!fits && o && (unsigned char)buf[o - 1] >= 0xC0)
        o--;
    strcpy(buf + o, fits ? "" : "...");
    return buf;
}

static const char *a_type(const toml_node *v)
{
    switch (v->type) {
    case TOML_TABLE: return v->table.kind == TOML_TABLE_INLINE ? "an inline table" : "a table";
    case TOML_ARRAY: return v->array.of_tables ? "an array of tables" : "an array";
    case TOML_STRING: return "a string";
    case TOML_INTEGER: return "an integer";
    case TOML_FLOAT: return "a float";
    case TOML_BOOLEAN: return "a boolean";
    }
    return "a value";
}

/* ---- values ---- */

static toml_node *parse_value(toml_parser *p, uint32_t depth);
static int parse_keyval(toml_parser *p, toml_node *t);

static toml_node *parse_array(toml_parser *p, uint32_t depth)
{
    toml_pos open = p->at;
    toml_node *a = node_new(p, TOML_ARRAY, open, depth);
    char d[16];
    if (!a)
        return NULL;
    toml_advance(p);
    for (;;) {
        if (toml_skip_ws_comments_newlines(p) < 0)
            goto fail;
        if (toml_peek(p) == -1) {
            toml_fail_at(p, open, "unterminated array");
            goto fail;
        }
        if (toml_peek(p) == ']')
            break;
        toml_node *v = parse_value(p, depth + 1);
        if (!v || array_push(p, a, v) < 0)
            goto fail;
        if (toml_skip_ws_comments_newlines(p) < 0)
            goto fail;
        int c = toml_peek(p);
        if (c == ',') {
            toml_advance(p);
            continue;
        }
        if (c == ']')
            break;
        if (c == -1)
            toml_fail_at(p, open, "unterminated array");
        else
            toml_fail(p, "expected ',' or ']' in array, found %s", toml_describe_char(p, d));
        goto fail;
    }
    toml_advance(p);
    return a;
fail:
    node_free(a);
    return NULL;
}

static toml_node *parse_inline_table(toml_parser *p, uint32_t depth)
{
    toml_pos open = p->at;
    toml_node *t = table_new(p, TOML_TABLE_INLINE, open, depth);
    char d[16];
    if (!t)
        return NULL;
    toml_advance(p);
    toml_skip_ws(p);
    if (toml_peek(p) == '}') {
        toml_advance(p);
        return t;
    }
    for (bool after_value = false;;) {
        int c = toml_peek(p);
        if (c == -1) {
            toml_fail_at(p, open, "unterminated inline table");
            goto fail;
        }
        if (c == '\n' || c == '\r') {
            toml_fail(p, "newline in an inline table (an inline table must be on one line)");
            goto fail;
        }
        if (!after_value) {
            if (parse_keyval(p, t) < 0)
                goto fail;
            toml_skip_ws(p);
            after_value = true;
        } else if (c == '}') {
            break;
        } else if (c == ',') {
            toml_advance(p);
            toml_skip_ws(p);
            if (toml_peek(p) == '}') {
                toml_fail(p, "trailing comma in an inline table");
                goto fail;
            }
            after_value = false;
        } else {
            toml_fail(p, "expected ',' or '}' in inline table, found %s", toml_describe_char(p, d));
            goto fail;
        }
    }
    toml_advance(p);
    return t;
fail:
    node_free(t);
    return NULL;
}

static toml_node *parse_value(toml_parser *p, uint32_t depth)
{
    int c = toml_peek(p);
    if (c == '[')
        return parse_array(p, depth);
    if (c == '{')
        return parse_inline_table(p, depth);
    toml_node *n = node_new(p, TOML_STRING, p->at, depth);
    if (!n)
        return NULL;
    int r = c == '"' || c == '\'' ? toml_lex_string(p, true, &n->string.ptr, &n->string.len)
                                  : toml_lex_scalar(p, n);
    if (r < 0) {
        node_free(n); /* a string node's pointer is still NULL here */
        return NULL;
    }
    return n;
}

/* key = value into table t (the current section, or an inline table being read). Dotted keys
 * create tables of kind DOTTED and may go on only through tables that dotted keys made: those
 * are reachable only from the section that made them, so a table's keys stay in one section
 * (TOML 1.0 as clarified by toml-lang/toml#859). Headers' tables, arrays and inline tables
 * are closed to them. */
static int parse_keyval(toml_parser *p, toml_node *t)
{
    key_path k = { .n = 0 };
    char name[256];
    int r = -1;
    if (parse_key(p, &k) < 0)
        goto out;
    if (toml_peek(p) != '=') {
        toml_fail(p, "expected '=' after key");
        goto out;
    }
    toml_advance(p);
    toml_skip_ws(p);
    for (size_t i = 0; i + 1 < k.n; i++) {
        key_part *part = &k.part[i];
        toml_kv *kv = table_find(t, part->s, part->len);
        if (!kv) {
            toml_node *sub = table_new(p, TOML_TABLE_DOTTED, part->at, t->depth + 1);
            if (!sub || table_add(p, t, part->s, part->len, part->at, sub) < 0)
                goto out;
            t = sub;
            continue;
        }
        toml_node *v = kv->value;
        key_text(&k, i + 1, name, sizeof name);
        if (v->type != TOML_TABLE)
            toml_fail_at(p, part->at, "duplicate key '%s' (first defined at line %u)", name, kv->line);
        else if (v->table.kind == TOML_TABLE_INLINE)
            toml_fail_at(p, part->at, "cannot add to inline table '%s' (defined at line %u): inline tables are sealed",
                         name, v->line);
        else if (v->table.kind != TOML_TABLE_DOTTED)
            toml_fail_at(p, part->at, "cannot add to table '%s' with dotted keys: it belongs to a [header] (line %u)",
                         name, v->line);
        else {
            t = v;
            continue;
        }
        goto out;
    }
    key_part *last = &k.part[k.n - 1];
    toml_kv *kv = table_find(t, last->s, last->len);
    if (kv) {
        toml_fail_at(p, last->at, "duplicate key '%s' (first defined at line %u)", key_text(&k, k.n, name, sizeof name),
                     kv->line);
        goto out;
    }
    toml_node *v = parse_value(p, t->depth + 1);
    if (!v)
        goto out;
    r = table_add(p, t, last->s, last->len, last->at, v);
out:
    key_path_clear(&k);
    return r;
}

/* ---- headers ---- */

/* [a.b.c] or [[a.b.c]]: walk to the parent (making implicit tables, going into the last
 * element of arrays of tables), then define the last part. */
static int parse_header(toml_parser *p)
{
    toml_pos at = p->at;
    key_path k = { .n = 0 };
    char name[256], header[270];
    int r = -1;
    toml_advance(p);
    bool is_array = toml_peek(p) == '[';
    if (is_array)
        toml_advance(p);
    toml_skip_ws(p);
    if (parse_key(p, &k) < 0)
        goto out;
    if (toml_peek(p) != ']' || (is_array && toml_peek_at(p, 1) != ']')) {
        toml_fail(p, is_array ? "expected ']]' at the end of an array of tables header"
                              : "expected ']' at the end of a table header");
        goto out;
    }
    toml_advance(p);
    if (is_array)
        toml_advance(p);
    snprintf(header, sizeof header, is_array ? "[[%s]]" : "[%s]", key_text(&k, k.n, name, sizeof name));

    toml_node *t = p->root;
    for (size_t i = 0; i < k.n; i++) {
        key_part *part = &k.part[i];
        bool last = i + 1 == k.n;
        toml_kv *kv = table_find(t, part->s, part->len);
        if (!kv) {
            toml_node *sub;
            if (last && is_array) {
                sub = node_new(p, TOML_ARRAY, at, t->depth + 1);
                if (sub)
                    sub->array.of_tables = true;
            } else {
                sub = table_new(p, last ? TOML_TABLE_EXPLICIT : TOML_TABLE_IMPLICIT, last ? at : part->at,
                                t->depth + 1);
            }
            if (!sub || table_add(p, t, part->s, part->len, part->at, sub) < 0)
                goto out;
            kv = &t->table.items[t->table.len - 1];
            if (sub->type == TOML_TABLE) {
                t = sub;
                continue;
            }
        }
        toml_node *v = kv->value;
        key_text(&k, i + 1, name, sizeof name);
        if (v->type == TOML_ARRAY && v->array.of_tables) {
            if (!last) {
                t = v->array.items[v->array.len - 1];
                continue;
            }
            if (is_array) {
                toml_node *elem = table_new(p, TOML_TABLE_EXPLICIT, at, v->depth + 1);
                if (!elem || array_push(p, v, elem) < 0)
                    goto out;
                t = elem;
                continue;
            }
            toml_fail_at(p, at, "table %s conflicts with array of tables [[%s]] (line %u)", header, name, v->line);
        } else if (v->type != TOML_TABLE || (last && is_array)) {
            toml_fail_at(p, at, "cannot define %s: key '%s' is already %s (line %u)", header, name, a_type(v), kv->line);
        } else if (v->table.kind == TOML_TABLE_INLINE) {
            toml_fail_at(p, at, "cannot define %s: '%s' is an inline table (line %u), and inline tables are sealed",
                         header, name, v->line);
        } else if (!last) {
            t = v;
            continue;
        } else if (v->table.kind == TOML_TABLE_IMPLICIT) {
            v->table.kind = TOML_TABLE_EXPLICIT;
            v->line = at.line;
            v->column = at.column;
            t = v;
            continue;
        } else if (v->table.kind == TOML_TABLE_DOTTED) {
            toml_fail_at(p, at, "table %s already defined by dotted keys (line %u)", header, v->line);
        } else {
            toml_fail_at(p, at, "table %s defined twice (first at line %u)", header, v->line);
        }
        goto out;
    }
    p->current = t;
    r = toml_expect_line_end(p, "the table header");
out:
    key_path_clear(&k);
    return r;
}

/* ---- document ---- */

toml_doc *toml_parse(const char *text, size_t len, const char *filename, nvb_err *err)
{
    toml_parser p = { .s = text ? text : "", .n = text ? len : 0, .at = { 1, 1 },
                      .file = filename ? filename : "<input>", .err = err };
    toml_doc *doc = calloc(1, sizeof *doc);
    if (!doc || !(doc->filename = strdup(p.file))) {
        free(doc);
        nvb_errf(err, NVB_EXIT_CONFIG, "%s: out of memory", p.file);
        return NULL;
    }
    if (toml_check_utf8(&p) < 0 || !(doc->root = table_new(&p, TOML_TABLE_EXPLICIT, p.at, 0)))
        goto fail;
    p.root = p.current = doc->root;
    if (p.n >= 3 && !memcmp(p.s, "\xEF\xBB\xBF", 3))
        p.i = 3; /* a byte order mark at the very start is tolerated */
    for (;;) {
        toml_skip_ws(&p);
        int c = toml_peek(&p), r;
        if (c == -1)
            break;
        if (c == '#')
            r = toml_skip_comment(&p);
        else if (toml_eat_newline(&p))
            r = 0;
        else if (c == '[')
            r = parse_header(&p);
        else if ((r = parse_keyval(&p, p.current)) == 0)
            r = toml_expect_line_end(&p, "the value");
        if (r < 0)
            goto fail;
    }
    if (p.c_locale)
        freelocale(p.c_locale);
    return doc;
fail:
    if (p.c_locale)
        freelocale(p.c_locale);
    toml_free(doc);
    return NULL;
}

void toml_free(toml_doc *doc)
{
    if (!doc)
        return;
    node_free(doc->root);
    free(doc->filename);
    free(doc);
}

int toml_errf(nvb_err *err, const toml_doc *doc, uint32_t line, uint32_t column, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return nvb_errf(err, NVB_EXIT_CONFIG, "%s:%u:%u: %s", doc && doc->filename ? doc->filename : "<input>", line,
                    column, msg);
}

const toml_kv *toml_table_get_kv(const toml_node *table, const char *key)
{
    if (!table || table->type != TOML_TABLE || !key)
        return NULL;
    return table_find(table, key, strlen(key));
}

const toml_node *toml_table_get(const toml_node *table, const char *key)
{
    const toml_kv *kv = toml_table_get_kv(table, key);
    return kv ? kv->value : NULL;
}

const toml_node *toml_get_path(const toml_node *table, const char *path)
{
    const toml_node *n = table;
    while (n && path) {
        const char *dot = strchr(path, '.');
        size_t len = dot ? (size_t)(dot - path) : strlen(path);
        const toml_kv *kv = n->type == TOML_TABLE ? table_find(n, path, len) : NULL;
        n = kv ? kv->value : NULL;
        path = dot ? dot + 1 : NULL;
    }
    return n;
}

const char *toml_type_name(toml_type type)
{
    switch (type) {
    case TOML_TABLE: return "table";
    case TOML_ARRAY: return "array";
    case TOML_STRING: return "string";
    case TOML_INTEGER: return "integer";
    case TOML_FLOAT: return "float";
    case TOML_BOOLEAN: return "boolean";
    }
    return "unknown";
}

const char *toml_table_kind_name(toml_table_kind kind)
{
    switch (kind) {
    case TOML_TABLE_IMPLICIT: return "implicit";
    case TOML_TABLE_EXPLICIT: return "explicit";
    case TOML_TABLE_DOTTED: return "dotted";
    case TOML_TABLE_INLINE: return "inline";
    }
    return "unknown";
}
