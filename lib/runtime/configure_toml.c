/* Text edits of a parsed TOML file: see configure_toml.h. */
#include "runtime/configure_toml.h"
#include "util/cleanup.h"
#include "util/grow.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct splice {
    size_t start, end; /* bytes of the old text replaced */
    char *text;        /* by this (malloc'd) */
    size_t seq;        /* order of the call, so insertions at one place keep it */
} splice;

/* A table appended at the end of the file: its header and the key lines it gets. */
typedef struct appended {
    char *header;
    char *body;
} appended;

struct nvb_tedit {
    const char *text;
    size_t len;
    const char *filename;
    toml_doc *doc;
    splice *splices;
    size_t n_splices, cap_splices;
    appended *tail; /* tables of others that had no header: before nvbind's own */
    size_t n_tail, cap_tail;
    appended *own;  /* nvbind's tables, last in the file */
    size_t n_own, cap_own;
    size_t *headers; /* byte offsets where [header] lines start, sorted */
    size_t n_headers, cap_headers;
    size_t *lines;   /* byte offset of each line's start: lines[0] is line 1 */
    size_t n_lines, cap_lines;
};

static int oom(nvb_err *err) { return nvb_errf(err, NVB_EXIT_IO, "out of memory"); }

static char *vfmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *vfmt(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    return s;
}

/* Byte offset of a parser position (1-based line, column in characters). */
static size_t offset_of(const nvb_tedit *ed, uint32_t line, uint32_t column)
{
    if (line == 0 || line > ed->n_lines)
        return ed->len;
    size_t i = ed->lines[line - 1];
    for (uint32_t c = 1; c < column && i < ed->len; c++) {
        i++;
        while (i < ed->len && ((unsigned char)ed->text[i] & 0xC0) == 0x80)
            i++;
    }
    return i;
}

/* Where each line starts, once: the parser gives positions as lines and columns. */
static int index_lines(nvb_tedit *ed)
{
    for (size_t i = 0; i <= ed->len; i++) {
        if (i > 0 && ed->text[i - 1] != '\n')
            continue;
        size_t *l = nvb_grow(ed->lines, &ed->cap_lines, ed->n_lines, sizeof *l, 64);
        if (!l)
            return -1;
        ed->lines = l;
        l[ed->n_lines++] = i;
    }
    return 0;
}

static size_t line_start(const nvb_tedit *ed, size_t off)
{
    while (off > 0 && ed->text[off - 1] != '\n')
        off--;
    return off;
}

static size_t next_line(const nvb_tedit *ed, size_t off)
{
    while (off < ed->len && ed->text[off] != '\n')
        off++;
    return off < ed->len ? off + 1 : off;
}

/* Every [header] and [[header]] line, found through the tree (a line of a multi-line array
 * may start with '[' too). */
static int collect_headers(nvb_tedit *ed, const toml_node *n, bool is_root)
{
    if (n->type == TOML_TABLE) {
        if (!is_root && n->table.kind == TOML_TABLE_EXPLICIT) {
            size_t *h = nvb_grow(ed->headers, &ed->cap_headers, ed->n_headers, sizeof *h, 16);
            if (!h)
                return -1;
            ed->headers = h;
            h[ed->n_headers++] = line_start(ed, offset_of(ed, n->line, n->column));
        }
        if (n->table.kind == TOML_TABLE_INLINE)
            return 0;
        for (size_t i = 0; i < n->table.len; i++)
            if (collect_headers(ed, n->table.items[i].value, false) < 0)
                return -1;
    } else if (n->type == TOML_ARRAY && n->array.of_tables) {
        for (size_t i = 0; i < n->array.len; i++)
            if (collect_headers(ed, n->array.items[i], false) < 0)
                return -1;
    }
    return 0;
}

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

nvb_tedit *nvb_tedit_open(const char *text, size_t len, const char *filename, nvb_err *err)
{
    nvb_tedit *ed = calloc(1, sizeof *ed);
    if (!ed) {
        oom(err);
        return NULL;
    }
    ed->text = text ? text : "";
    ed->len = text ? len : 0;
    ed->filename = filename;
    if (!(ed->doc = toml_parse(ed->text, ed->len, filename, err)) || index_lines(ed) < 0 ||
        collect_headers(ed, ed->doc->root, true) < 0) {
        if (ed->doc)
            oom(err);
        nvb_tedit_free(ed);
        return NULL;
    }
    if (ed->n_headers) /* qsort of no elements may still not be given NULL */
        qsort(ed->headers, ed->n_headers, sizeof *ed->headers, cmp_size);
    return ed;
}

static void free_appended(appended *a, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(a[i].header);
        free(a[i].body);
    }
    free(a);
}

void nvb_tedit_free(nvb_tedit *ed)
{
    if (!ed)
        return;
    toml_free(ed->doc);
    for (size_t i = 0; i < ed->n_splices; i++)
        free(ed->splices[i].text);
    free(ed->splices);
    free_appended(ed->tail, ed->n_tail);
    free_appended(ed->own, ed->n_own);
    free(ed->headers);
    free(ed->lines);
    free(ed);
}

const toml_node *nvb_tedit_root(const nvb_tedit *ed) { return ed->doc->root; }

char *nvb_toml_quote(const char *s)
{
    size_t n = 3;
    for (const char *p = s; *p; p++)
        n += 6;
    char *out = malloc(n), *o = out;
    if (!out)
        return NULL;
    *o++ = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            *o++ = '\\';
            *o++ = (char)*p;
        } else if (*p < 0x20 || *p == 0x7f) {
            o += sprintf(o, "\\u%04x", *p);
        } else {
            *o++ = (char)*p;
        }
    }
    *o++ = '"';
    *o = '\0';
    return out;
}

/* One name of a header: bare when it can be, quoted otherwise. */
static bool bare_key(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_' ||
              *s == '-'))
            return false;
    return true;
}

char *nvb_toml_key(const char *s) { return bare_key(s) ? strdup(s) : nvb_toml_quote(s); }

static char *header_of(const char *const *table, size_t n)
{
    size_t cap = 3;
    for (size_t i = 0; i < n; i++)
        cap += strlen(table[i]) * 6 + 3;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    char *o = out;
    *o++ = '[';
    for (size_t i = 0; i < n; i++) {
        if (i)
            *o++ = '.';
        if (bare_key(table[i])) {
            o = stpcpy(o, table[i]);
        } else {
            _cleanup_free_ char *q = nvb_toml_quote(table[i]);
            if (!q) {
                free(out);
                return NULL;
            }
            o = stpcpy(o, q);
        }
    }
    strcpy(o, "]");
    return out;
}

/* A readable name for messages: a.b."c.d".e */
static void dotted_name(char *buf, size_t size, const char *const *table, size_t n, const char *key)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i <= n && used < size; i++) {
        const char *part = i < n ? table[i] : key;
        if (!part)
            break;
        bool q = !bare_key(part);
        used += (size_t)snprintf(buf + used, size - used, "%s%s%s%s", i ? "." : "", q ? "\"" : "", part, q ? "\"" : "");
    }
}

static int add_splice(nvb_tedit *ed, size_t start, size_t end, char *text, nvb_err *err)
{
    if (!text)
        return oom(err);
    splice *s = nvb_grow(ed->splices, &ed->cap_splices, ed->n_splices, sizeof *s, 8);
    if (!s) {
        free(text);
        return oom(err);
    }
    ed->splices = s;
    s[ed->n_splices] = (splice){start, end, text, ed->n_splices};
    ed->n_splices++;
    return 0;
}

/* Add "line" to the appended table with this header, creating it. */
static int append_to(appended **list, size_t *n, size_t *cap, const char *header, const char *line, nvb_err *err)
{
    appended *a = NULL;
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*list)[i].header, header) == 0)
            a = &(*list)[i];
    if (!a) {
        appended *l = nvb_grow(*list, cap, *n, sizeof *l, 4);
        if (!l)
            return oom(err);
        *list = l;
        a = &l[(*n)++];
        *a = (appended){strdup(header), strdup("")};
        if (!a->header || !a->body)
            return oom(err);
    }
    char *body = vfmt("%s%s", a->body, line);
    if (!body)
        return oom(err);
    free(a->body);
    a->body = body;
    return 0;
}

/* Where the table at path stands in the document. */
typedef struct lookup {
    const toml_node *table; /* NULL when absent */
    const char *blocked;    /* why a key cannot be added under it, NULL when it can */
    uint32_t line, column;  /* of what blocks it */
    size_t depth;           /* what blocks it is the table of the path's first `depth` names */
} lookup;

static lookup find_table(const nvb_tedit *ed, const char *const *path, size_t n)
{
    const toml_node *t = ed->doc->root;
    for (size_t i = 0; i < n; i++) {
        const toml_kv *kv = toml_table_get_kv(t, path[i]);
        if (!kv)
            return (lookup){NULL, NULL, 0, 0, n};
        const toml_node *v = kv->value;
        if (v->type != TOML_TABLE)
            return (lookup){NULL, v->type == TOML_ARRAY && v->array.of_tables ? "is an array of tables" : "is not a table",
                            kv->line, kv->column, i + 1};
        if (v->table.kind == TOML_TABLE_INLINE)
            return (lookup){v, "is an inline table", v->line, v->column, i + 1};
        t = v;
    }
    if (t->table.kind == TOML_TABLE_DOTTED)
        return (lookup){t, "is written as dotted keys", t->line, t->column, n};
    return (lookup){t, NULL, 0, 0, n};
}

/* Bytes of the value token that starts at off: a boolean or a one-line string; 0 otherwise. */
static size_t token_len(const nvb_tedit *ed, size_t off, const toml_node *v)
{
    const char *p = ed->text + off, *end = ed->text + ed->len;
    if (v->type == TOML_BOOLEAN)
        return v->boolean ? 4 : 5;
    if (v->type != TOML_STRING || end - p < 2 || (p[0] != '"' && p[0] != '\''))
        return 0;
    if (end - p >= 3 && p[1] == p[0] && p[2] == p[0])
        return 0; /* multi-line string */
    char q = p[0];
    for (const char *s = p + 1; s < end && *s != '\n'; s++) {
        if (q == '"' && *s == '\\') {
            s++;
            continue;
        }
        if (*s == q)
            return (size_t)(s - p) + 1;
    }
    return 0;
}

static bool same_value(const toml_node *v, const char *str, bool b)
{
    if (str)
        return v->type == TOML_STRING && v->string.len == strlen(str) && memcmp(v->string.ptr, str, v->string.len) == 0;
    return v->type == TOML_BOOLEAN && v->boolean == b;
}

/* Put "key = value" into the table: under its header, or in a table appended at the end. */
static int add_key(nvb_tedit *ed, const char *const *table, size_t n, const lookup *lk, const char *key,
                   const char *value, nvb_err *err)
{
    char name[512];
    dotted_name(name, sizeof name, table, lk->depth, NULL);
    if (lk->blocked)
        return toml_errf(err, ed->doc, lk->line, lk->column,
                         "table %s %s; nvbind adds keys only under a [header]: add %s = %s by hand", name,
                         lk->blocked, key, value);
    _cleanup_free_ char *k = nvb_toml_key(key);
    _cleanup_free_ char *line = k ? vfmt("  %s = %s\n", k, value) : NULL;
    if (!line)
        return oom(err);
    if (lk->table && lk->table->table.kind == TOML_TABLE_EXPLICIT && lk->table != ed->doc->root) {
        size_t at = next_line(ed, offset_of(ed, lk->table->line, lk->table->column));
        /* A header on the file's last line, with no newline after it. */
        char *text = at == ed->len && (ed->len == 0 || ed->text[ed->len - 1] != '\n') ? vfmt("\n%s", line)
                                                                                     : strdup(line);
        return add_splice(ed, at, at, text, err);
    }
    if (n == 0) { /* a top-level key goes first, before any header */
        return add_splice(ed, 0, 0, vfmt("%s = %s\n", k, value), err);
    }
    _cleanup_free_ char *header = header_of(table, n);
    if (!header)
        return oom(err);
    return append_to(&ed->tail, &ed->n_tail, &ed->cap_tail, header, line, err);
}

int nvb_tedit_set(nvb_tedit *ed, const char *const *table, size_t n, const char *key, const char *str, bool b,
                  nvb_err *err)
{
    lookup lk = find_table(ed, table, n);
    const toml_kv *kv = lk.table ? toml_table_get_kv(lk.table, key) : NULL;
    _cleanup_free_ char *value = str ? nvb_toml_quote(str) : strdup(b ? "true" : "false");
    if (!value)
        return oom(err);
    if (!kv)
        return add_key(ed, table, n, &lk, key, value, err);
    if (same_value(kv->value, str, b))
        return 0;
    size_t off = offset_of(ed, kv->value->line, kv->value->column);
    size_t tl = token_len(ed, off, kv->value);
    if (!tl) {
        char name[512];
        dotted_name(name, sizeof name, table, n, key);
        return toml_errf(err, ed->doc, kv->value->line, kv->value->column,
                         "%s is a %s nvbind cannot rewrite in place; set it to %s by hand", name,
                         toml_type_name(kv->value->type), value);
    }
    return add_splice(ed, off, off + tl, NVB_TAKE(value), err);
}

int nvb_tedit_set_default(nvb_tedit *ed, const char *const *table, size_t n, const char *key,
                          const char *toml_value, nvb_err *err)
{
    lookup lk = find_table(ed, table, n);
    if (lk.table && toml_table_get_kv(lk.table, key))
        return 0;
    return add_key(ed, table, n, &lk, key, toml_value, err);
}

/* The header that follows off, or the end of the file. */
static size_t section_end(const nvb_tedit *ed, size_t header)
{
    for (size_t i = 0; i < ed->n_headers; i++)
        if (ed->headers[i] > header)
            return ed->headers[i];
    return ed->len;
}

/* The section ends with its last line that holds more than blanks or a comment: comment and
 * blank lines just before the next header belong to that header. */
static size_t trim_section(const nvb_tedit *ed, size_t start, size_t end)
{
    size_t keep = next_line(ed, start); /* the header line itself */
    for (size_t l = keep; l < end; l = next_line(ed, l)) {
        size_t p = l;
        while (p < end && (ed->text[p] == ' ' || ed->text[p] == '\t'))
            p++;
        if (p < end && ed->text[p] != '\n' && ed->text[p] != '\r' && ed->text[p] != '#')
            keep = next_line(ed, l);
    }
    return keep < end ? keep : end;
}

int nvb_tedit_own_table(nvb_tedit *ed, const char *const *table, size_t n, const char *body, nvb_err *err)
{
    lookup lk = find_table(ed, table, n);
    char name[512];
    dotted_name(name, sizeof name, table, lk.depth, NULL);
    if (lk.blocked && !(lk.table && lk.table->table.kind == TOML_TABLE_DOTTED))
        return toml_errf(err, ed->doc, lk.line, lk.column, "%s %s; nvbind rewrites only a table with a [header]",
                         name, lk.blocked);
    if (lk.table && lk.table->table.kind != TOML_TABLE_EXPLICIT && lk.table->table.kind != TOML_TABLE_IMPLICIT)
        return toml_errf(err, ed->doc, lk.table->line, lk.table->column,
                         "%s is written as %s keys; nvbind rewrites only a table with a [header]", name,
                         toml_table_kind_name(lk.table->table.kind));
    if (lk.table && lk.table->table.kind == TOML_TABLE_EXPLICIT) {
        size_t start = line_start(ed, offset_of(ed, lk.table->line, lk.table->column));
        size_t end = trim_section(ed, start, section_end(ed, start));
        if (add_splice(ed, start, end, strdup(""), err) < 0)
            return -1;
    }
    _cleanup_free_ char *header = header_of(table, n);
    if (!header)
        return oom(err);
    return append_to(&ed->own, &ed->n_own, &ed->cap_own, header, body, err);
}

static int cmp_splice(const void *a, const void *b)
{
    const splice *x = a, *y = b;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Appended tables, each after one blank line. */
static int put_tables(char **out, const appended *a, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char *s = vfmt("%s%s%s\n%s", *out, **out ? "\n" : "", a[i].header, a[i].body);
        if (!s)
            return -1;
        free(*out);
        *out = s;
    }
    return 0;
}

char *nvb_tedit_finish(nvb_tedit *ed, nvb_err *err)
{
    if (ed->n_splices)
        qsort(ed->splices, ed->n_splices, sizeof *ed->splices, cmp_splice);
    size_t cap = ed->len + 1;
    for (size_t i = 0; i < ed->n_splices; i++)
        cap += strlen(ed->splices[i].text);
    char *out = malloc(cap), *o = out;
    if (!out) {
        oom(err);
        return NULL;
    }
    size_t at = 0;
    for (size_t i = 0; i < ed->n_splices; i++) {
        const splice *s = &ed->splices[i];
        if (s->start < at) { /* two edits of one place: a bug, never a half-edited file */
            free(out);
            nvb_errf(err, NVB_EXIT_CONFIG, "%s: nvbind's edits overlap; the file was not changed", ed->filename);
            return NULL;
        }
        memcpy(o, ed->text + at, s->start - at);
        o += s->start - at;
        o = stpcpy(o, s->text);
        at = s->end;
    }
    memcpy(o, ed->text + at, ed->len - at);
    o += ed->len - at;
    *o = '\0';
    if (ed->n_tail || ed->n_own) {
        /* Trailing blank lines go, so that appending again gives the same file. */
        while (o > out && (o[-1] == '\n' || o[-1] == ' ' || o[-1] == '\t' || o[-1] == '\r'))
            *--o = '\0';
        if (o > out)
            strcpy(o, "\n");
        if (put_tables(&out, ed->tail, ed->n_tail) < 0 || put_tables(&out, ed->own, ed->n_own) < 0) {
            free(out);
            oom(err);
            return NULL;
        }
    }
    /* The result must still be TOML: a failure here is nvbind's, and nothing is written. */
    nvb_err perr = {0};
    toml_doc *check = toml_parse(out, strlen(out), ed->filename, &perr);
    if (!check) {
        nvb_errf(err, NVB_EXIT_CONFIG, "%s: nvbind's edit would not be valid TOML (%s); the file was not changed",
                 ed->filename, perr.msg);
        free(out);
        return NULL;
    }
    toml_free(check);
    return out;
}
