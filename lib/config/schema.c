/* nvbind.toml's schema: walk the TOML tree (lib/config/toml.h) against the key table
 * (lib/config/keys.c), fill an nvb_config, and say precisely what is wrong when something
 * is: "file:line:column: key: problem", with a suggestion where a typo is likely. */
#include "config/config.h"
#include "config/keys.h"
#include "config/toml.h"
#include "config/values.h"
#include "policy/cdi_generate.h"
#include "util/cleanup.h"
#include "util/fileio.h"
#include "util/trust.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_CONFIG_BYTES (1u << 20)
#define MAX_PROFILES 256
#define MAX_ARRAY_ITEMS 4096

typedef struct walk {
    nvb_config *c;
    const char *file;
    nvb_err *err;
    /* Where the capsule limits were written, for the check that they need "virtual". */
    const toml_kv *memory_limit_kv, *compute_limit_kv;
} walk;

/* ---- message helpers ---- */

/* A key segment as TOML would write it: bare when it can be, quoted and escaped otherwise,
 * so a message stays one printable line whatever the file holds. */
static void append_segment(char *buf, size_t cap, const char *s, size_t len)
{
    size_t n = strlen(buf);
    bool bare = len > 0;
    for (size_t i = 0; i < len; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == '-') || (unsigned char)s[i] >= 0x80)
            bare = false;
    if (n && n + 1 < cap)
        buf[n++] = '.';
    if (!bare && n + 1 < cap)
        buf[n++] = '"';
    for (size_t i = 0; i < len && n + 5 < cap; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x20 || ch == 0x7f || ch == '"' || ch == '\\')
            n += (size_t)snprintf(buf + n, cap - n, "\\x%02x", ch);
        else
            buf[n++] = (char)ch;
    }
    if (!bare && n + 1 < cap)
        buf[n++] = '"';
    buf[n < cap ? n : cap - 1] = '\0';
}

/* "key[i]": an array element's name; cut (never overflowing) when the key is very long. */
static void index_key(char *buf, size_t cap, const char *key, size_t i)
{
    int n = snprintf(buf, cap, "%s[%zu]", key, i);
    if (n < 0)
        buf[0] = '\0';
}

static void key_path(char *buf, size_t cap, const char *table, const toml_kv *kv)
{
    size_t n = table ? strnlen(table, cap - 1) : 0;
    memcpy(buf, table ? table : "", n);
    buf[n] = '\0';
    if (kv)
        append_segment(buf, cap, kv->key, kv->key_len);
}

/* A string value quoted for a message, escaped and cut to a readable length. */
static void quote_value(char *buf, size_t cap, const char *s, size_t len)
{
    size_t n = 0;
    buf[n++] = '"';
    for (size_t i = 0; i < len && n + 8 < cap; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (i == 60) {
            n += (size_t)snprintf(buf + n, cap - n, "...");
            break;
        }
        if (ch < 0x20 || ch == 0x7f || ch == '"' || ch == '\\')
            n += (size_t)snprintf(buf + n, cap - n, "\\x%02x", ch);
        else
            buf[n++] = (char)ch;
    }
    buf[n++] = '"';
    buf[n] = '\0';
}

__attribute__((format(printf, 5, 6))) static int fail(walk *w, uint32_t line, uint32_t col, const char *key,
                                                      const char *fmt, ...)
{
    char msg[800];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return nvb_errf(w->err, NVB_EXIT_CONFIG, "%s:%u:%u: %s: %s", w->file, line, col, key, msg);
}

static const char *a_type(toml_type t)
{
    switch (t) {
    case TOML_TABLE: return "a table";
    case TOML_ARRAY: return "an array";
    case TOML_STRING: return "a string";
    case TOML_INTEGER: return "an integer";
    case TOML_FLOAT: return "a float";
    case TOML_BOOLEAN: return "a boolean";
    }
    return "a value";
}

static int wrong_type(walk *w, const char *key, const toml_node *n, const char *expected)
{
    return fail(w, n->line, n->column, key, "expected %s, found %s", expected, toml_type_name(n->type));
}

static int expect(walk *w, const char *key, const toml_node *n, toml_type t)
{
    return n->type == t ? 0 : wrong_type(w, key, n, a_type(t));
}

/* A string value without an embedded NUL (TOML allows "\u0000"; C strings cannot carry it). */
static int expect_string(walk *w, const char *key, const toml_node *n)
{
    if (expect(w, key, n, TOML_STRING) < 0)
        return -1;
    if (strlen(n->string.ptr) != n->string.len)
        return fail(w, n->line, n->column, key, "the string contains a NUL character");
    return 0;
}

static int record_origin(walk *w, const char *key, const toml_kv *kv)
{
    char where[4096 + 16];
    snprintf(where, sizeof where, "%s:%u", w->file, kv->line);
    if (nvb_config_set_origin(w->c, key, where) < 0)
        return nvb_errf(w->err, NVB_EXIT_IO, "out of memory");
    return 0;
}

static int oom(walk *w) { return nvb_errf(w->err, NVB_EXIT_IO, "out of memory"); }

/* Keys may hold a NUL ("\u0000"): compare the whole key, not its C-string prefix. */
static bool key_is(const toml_kv *kv, const char *name)
{
    return kv->key_len == strlen(name) && memcmp(kv->key, name, kv->key_len) == 0;
}

static int replace_string(walk *w, char **slot, const char *value)
{
    char *v = strdup(value);
    if (!v)
        return oom(w);
    free(*slot);
    *slot = v;
    return 0;
}

/* ---- value checks ---- */

/* An absolute path, no empty or ".." parts: container paths are matched literally and host
 * paths are resolved under the host root, so neither may climb out. */
static const char *path_problem(const char *p)
{
    if (p[0] != '/')
        return "must be an absolute path";
    for (const char *s = p; *s;) {
        while (*s == '/')
            s++;
        const char *e = strchr(s, '/');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (len == 2 && s[0] == '.' && s[1] == '.')
            return "must not contain \"..\"";
        s += len;
    }
    return NULL;
}

static int check_path(walk *w, const char *key, const toml_node *n)
{
    if (expect_string(w, key, n) < 0)
        return -1;
    const char *why = path_problem(n->string.ptr);
    if (why) {
        char q[160];
        quote_value(q, sizeof q, n->string.ptr, n->string.len);
        return fail(w, n->line, n->column, key, "%s %s", q, why);
    }
    return 0;
}

static int not_one_of(walk *w, const char *key, const toml_node *n, const char *const *choices)
{
    char q[160], list[256] = "";
    quote_value(q, sizeof q, n->string.ptr, n->string.len);
    size_t count = 0, len = 0;
    while (choices[count])
        count++;
    for (size_t i = 0; i < count; i++) {
        int k = snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "", choices[i]);
        if (k > 0 && (size_t)k < sizeof list - len)
            len += (size_t)k;
    }
    const char *s = nvb_suggest(n->string.ptr, choices, count);
    if (s)
        return fail(w, n->line, n->column, key, "%s is not one of %s; did you mean \"%s\"?", q, list, s);
    return fail(w, n->line, n->column, key, "%s is not one of %s", q, list);
}

static int choice_index(const char *s, const char *const *choices)
{
    for (int i = 0; choices[i]; i++)
        if (strcmp(s, choices[i]) == 0)
            return i;
    return -1;
}

/* GPU selection: all, none, or a comma list of indices (0), MIG devices (0:1) and UUIDs
 * (GPU-..., MIG-...). Which of them exist is checked against the host when used. */
static bool selection_valid(const char *s)
{
    if (strcmp(s, "all") == 0 || strcmp(s, "none") == 0)
        return true;
    if (!*s)
        return false;
    for (const char *p = s; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (!len)
            return false;
        bool ok;
        if (len > 4 && (strncmp(p, "GPU-", 4) == 0 || strncmp(p, "MIG-", 4) == 0)) {
            ok = true;
            for (size_t i = 4; i < len; i++)
                if (!(isxdigit((unsigned char)p[i]) || p[i] == '-' || p[i] == '/' || isalnum((unsigned char)p[i])))
                    ok = false;
        } else {
            size_t colons = 0, digits = 0;
            ok = true;
            for (size_t i = 0; i < len; i++) {
                if (p[i] == ':') {
                    if (!digits || ++colons > 1)
                        ok = false;
                    digits = 0;
                } else if (isdigit((unsigned char)p[i])) {
                    digits++;
                } else {
                    ok = false;
                }
            }
            if (!digits)
                ok = false;
        }
        if (!ok)
            return false;
        p += len;
        if (*p == ',')
            p++;
        if (e && !*p)
            return false; /* trailing comma */
    }
    return true;
}

/* Strings from an array of strings; a bad element is named by its index. */
static int string_array(walk *w, const char *key, const toml_node *n, bool paths, nvb_strv *out)
{
    if (expect(w, key, n, TOML_ARRAY) < 0)
        return -1;
    if (n->array.len > MAX_ARRAY_ITEMS)
        return fail(w, n->line, n->column, key, "too many entries (at most %d)", MAX_ARRAY_ITEMS);
    for (size_t i = 0; i < n->array.len; i++) {
        const toml_node *it = n->array.items[i];
        char ikey[600];
        index_key(ikey, sizeof ikey, key, i);
        if ((paths ? check_path(w, ikey, it) : expect_string(w, ikey, it)) < 0)
            return -1;
        if (nvb_strv_push(out, it->string.ptr) < 0)
            return oom(w);
    }
    return 0;
}

/* "index,uuid" or ["index", "uuid"] -> enum nvb_naming bits. */
static int naming_word(walk *w, const char *key, const toml_node *at, const char *word, size_t len, unsigned *bits)
{
    static const char *const names[] = {"index", "uuid", "type-index"};
    static const unsigned values[] = {NVB_NAMING_INDEX, NVB_NAMING_UUID, NVB_NAMING_TYPE_INDEX};
    for (size_t i = 0; i < 3; i++)
        if (strlen(names[i]) == len && strncmp(word, names[i], len) == 0) {
            *bits |= values[i];
            return 0;
        }
    char q[160], wbuf[80];
    quote_value(q, sizeof q, word, len);
    snprintf(wbuf, sizeof wbuf, "%.*s", (int)(len < 70 ? len : 70), word);
    const char *s = nvb_suggest(wbuf, names, 3);
    if (s)
        return fail(w, at->line, at->column, key,
                    "%s is not a naming strategy (index, uuid, type-index); did you mean \"%s\"?", q, s);
    return fail(w, at->line, at->column, key, "%s is not a naming strategy (index, uuid, type-index)", q);
}

/* A list written as an array of words or as one comma-separated string. */
typedef int (*word_fn)(walk *w, const char *key, const toml_node *at, const char *word, size_t len, unsigned *bits);

static int word_list(walk *w, const char *key, const toml_node *n, word_fn fn, unsigned *bits)
{
    *bits = 0;
    if (n->type == TOML_STRING) {
        if (expect_string(w, key, n) < 0)
            return -1;
        for (const char *p = n->string.ptr; *p;) {
            while (*p == ' ')
                p++;
            const char *e = strchr(p, ',');
            size_t len = e ? (size_t)(e - p) : strlen(p);
            while (len && p[len - 1] == ' ')
                len--;
            if (len && fn(w, key, n, p, len, bits) < 0)
                return -1;
            p = e ? e + 1 : p + strlen(p);
        }
    } else if (n->type == TOML_ARRAY) {
        for (size_t i = 0; i < n->array.len; i++) {
            const toml_node *it = n->array.items[i];
            char ikey[600];
            index_key(ikey, sizeof ikey, key, i);
            if (expect_string(w, ikey, it) < 0 || fn(w, ikey, it, it->string.ptr, it->string.len, bits) < 0)
                return -1;
        }
    } else {
        return wrong_type(w, key, n, "an array or a comma-separated string");
    }
    if (!*bits)
        return fail(w, n->line, n->column, key, "the list is empty");
    return 0;
}

static int cap_word(walk *w, const char *key, const toml_node *at, const char *word, size_t len, unsigned *bits)
{
    unsigned b;
    if (nvb_cap_word_parse(word, len, &b) == 0) {
        *bits |= b;
        return 0;
    }
    char q[160], wbuf[80];
    quote_value(q, sizeof q, word, len);
    snprintf(wbuf, sizeof wbuf, "%.*s", (int)(len < 70 ? len : 70), word);
    size_t count = 0;
    while (nvb_cap_words[count])
        count++;
    const char *s = nvb_suggest(wbuf, nvb_cap_words, count);
    const char *list = "utility, compute, video, graphics, display, ngx, compat32, all";
    if (s)
        return fail(w, at->line, at->column, key, "%s is not a driver capability (%s); did you mean \"%s\"?", q, list, s);
    return fail(w, at->line, at->column, key, "%s is not a driver capability (%s)", q, list);
}

/* ---- one key of the table ---- */

static int walk_key(walk *w, const nvb_key *k, const char *key, const toml_kv *kv)
{
    const toml_node *n = kv->value;
    void *ptr = nvb_key_ptr(w->c, k);
    char q[160];
    switch (k->kind) {
    case NVB_KEY_BOOL:
        if (expect(w, key, n, TOML_BOOLEAN) < 0)
            return -1;
        *(bool *)ptr = n->boolean;
        break;
    case NVB_KEY_ENUM: {
        if (expect_string(w, key, n) < 0)
            return -1;
        int i = choice_index(n->string.ptr, k->choices);
        if (i < 0)
            return not_one_of(w, key, n, k->choices);
        *(unsigned *)ptr = (unsigned)i;
        break;
    }
    case NVB_KEY_CHOICE:
        if (expect_string(w, key, n) < 0)
            return -1;
        if (choice_index(n->string.ptr, k->choices) < 0)
            return not_one_of(w, key, n, k->choices);
        if (replace_string(w, ptr, n->string.ptr) < 0)
            return -1;
        break;
    case NVB_KEY_PATH:
        if (check_path(w, key, n) < 0 || replace_string(w, ptr, n->string.ptr) < 0)
            return -1;
        break;
    case NVB_KEY_PATHS:
    case NVB_KEY_STRINGS: {
        nvb_strv v = {0};
        if (string_array(w, key, n, k->kind == NVB_KEY_PATHS, &v) < 0) {
            nvb_strv_free(&v);
            return -1;
        }
        nvb_strv_free(ptr);
        *(nvb_strv *)ptr = v;
        break;
    }
    case NVB_KEY_SIZE: {
        uint64_t bytes;
        if (n->type == TOML_INTEGER) {
            if (n->integer < 0)
                return fail(w, n->line, n->column, key, "%lld is negative; sizes are 0 or more bytes",
                            (long long)n->integer);
            bytes = (uint64_t)n->integer;
        } else if (n->type == TOML_STRING) {
            if (expect_string(w, key, n) < 0)
                return -1;
            const char *why;
            if (nvb_size_parse(n->string.ptr, &bytes, &why) < 0) {
                quote_value(q, sizeof q, n->string.ptr, n->string.len);
                return fail(w, n->line, n->column, key, "%s is not a size: %s", q, why);
            }
        } else {
            return wrong_type(w, key, n, "a size string such as \"8GB\" or an integer number of bytes");
        }
        *(uint64_t *)ptr = bytes;
        break;
    }
    case NVB_KEY_PERCENT: {
        unsigned pct;
        if (n->type == TOML_INTEGER) {
            if (n->integer < 0 || n->integer > 100)
                return fail(w, n->line, n->column, key, "%lld is out of range (0 to 100 percent)", (long long)n->integer);
            pct = (unsigned)n->integer;
        } else if (n->type == TOML_STRING) {
            if (expect_string(w, key, n) < 0)
                return -1;
            if (nvb_percent_parse(n->string.ptr, &pct) < 0) {
                quote_value(q, sizeof q, n->string.ptr, n->string.len);
                return fail(w, n->line, n->column, key, "%s is not a percentage from 0%% to 100%% (e.g. \"75%%\")", q);
            }
        } else {
            return wrong_type(w, key, n, "a percentage such as \"75%\"");
        }
        *(unsigned *)ptr = pct;
        break;
    }
    case NVB_KEY_UINT:
        if (expect(w, key, n, TOML_INTEGER) < 0)
            return -1;
        if (n->integer < 0 || (uint64_t)n->integer > k->max)
            return fail(w, n->line, n->column, key, "%lld is out of range (0 to %llu %s)", (long long)n->integer,
                        (unsigned long long)k->max, k->range_note ? k->range_note : "");
        *(uint64_t *)ptr = (uint64_t)n->integer;
        break;
    case NVB_KEY_NAMING: {
        unsigned bits;
        if (word_list(w, key, n, naming_word, &bits) < 0)
            return -1;
        *(unsigned *)ptr = bits;
        break;
    }
    case NVB_KEY_SELECTION:
        if (expect_string(w, key, n) < 0)
            return -1;
        if (!selection_valid(n->string.ptr)) {
            quote_value(q, sizeof q, n->string.ptr, n->string.len);
            return fail(w, n->line, n->column, key,
                        "%s is not a GPU selection (all, none, indices like \"0,1\", UUIDs, MIG devices like \"0:1\")",
                        q);
        }
        if (replace_string(w, ptr, n->string.ptr) < 0)
            return -1;
        break;
    case NVB_KEY_OCI_RUNTIME:
        if (expect_string(w, key, n) < 0)
            return -1;
        if (strcmp(n->string.ptr, "runc") != 0 && strcmp(n->string.ptr, "crun") != 0) {
            if (n->string.ptr[0] != '/' || path_problem(n->string.ptr)) {
                quote_value(q, sizeof q, n->string.ptr, n->string.len);
                static const char *const rt[] = {"runc", "crun"};
                const char *s = nvb_suggest(n->string.ptr, rt, 2);
                if (s)
                    return fail(w, n->line, n->column, key,
                                "%s is not runc, crun or an absolute path; did you mean \"%s\"?", q, s);
                return fail(w, n->line, n->column, key, "%s is not runc, crun or an absolute path", q);
            }
        }
        if (replace_string(w, ptr, n->string.ptr) < 0)
            return -1;
        break;
    }
    if (k->kind == NVB_KEY_SIZE && strcmp(k->name, "gpu_memory_limit") == 0)
        w->memory_limit_kv = kv;
    if (k->kind == NVB_KEY_PERCENT && strcmp(k->name, "compute_limit") == 0)
        w->compute_limit_kv = kv;
    return record_origin(w, key, kv);
}

/* ---- unknown names ---- */

static int unknown(walk *w, const char *table, const toml_kv *kv, const char *const *candidates, size_t n)
{
    char key[600], name[80];
    key_path(key, sizeof key, table, kv);
    snprintf(name, sizeof name, "%.*s", (int)(kv->key_len < 70 ? kv->key_len : 70), kv->key);
    const bool is_table = kv->value->type == TOML_TABLE;
    const char *what = is_table ? "unknown table" : "unknown key";
    /* A key written in the wrong table: say where it belongs. */
    if (!is_table) {
        for (size_t i = 0; i < nvb_n_keys; i++)
            if (strcmp(nvb_keys[i].name, name) == 0 && (!table || strcmp(nvb_keys[i].table, table) != 0))
                return fail(w, kv->line, kv->column, key, "%s here; it belongs in [%s]", what, nvb_keys[i].table);
    }
    const char *s = nvb_suggest(name, candidates, n);
    if (s) {
        if (is_table && table && *table)
            return fail(w, kv->line, kv->column, key, "%s; did you mean \"%s.%s\"?", what, table, s);
        return fail(w, kv->line, kv->column, key, "%s; did you mean \"%s\"?", what, s);
    }
    char list[512] = "";
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        int k = snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "", candidates[i]);
        if (k > 0 && (size_t)k < sizeof list - len)
            len += (size_t)k;
    }
    return fail(w, kv->line, kv->column, key, "%s (expected one of %s)", what, list);
}

/* ---- tables ---- */

static int walk_environment(walk *w, const toml_kv *tkv)
{
    const toml_node *t = tkv->value;
    if (expect(w, "runtime.environment", t, TOML_TABLE) < 0)
        return -1;
    for (size_t i = 0; i < t->table.len; i++) {
        const toml_kv *kv = &t->table.items[i];
        char key[600];
        key_path(key, sizeof key, "runtime.environment", kv);
        if (!nvb_env_name_valid(kv->key, kv->key_len))
            return fail(w, kv->line, kv->column, key,
                        "not a valid environment variable name (letters, digits and _, not starting with a digit)");
        if (kv->value->type != TOML_STRING)
            return wrong_type(w, key, kv->value, "a string (quote numbers and booleans: \"1\")");
        if (expect_string(w, key, kv->value) < 0)
            return -1;
        if (nvb_strv_pushf(&w->c->runtime.environment, "%s=%s", kv->key, kv->value->string.ptr) < 0)
            return oom(w);
        if (record_origin(w, key, kv) < 0)
            return -1;
    }
    return 0;
}

static int walk_table(walk *w, const char *table, const toml_kv *tkv)
{
    const toml_node *t = tkv->value;
    if (expect(w, table, t, TOML_TABLE) < 0)
        return -1;
    const char *candidates[32];
    size_t n = 0;
    for (size_t i = 0; i < nvb_n_keys && n < 31; i++)
        if (strcmp(nvb_keys[i].table, table) == 0)
            candidates[n++] = nvb_keys[i].name;
    const bool is_runtime = strcmp(table, "runtime") == 0;
    if (is_runtime)
        candidates[n++] = "environment";
    for (size_t i = 0; i < t->table.len; i++) {
        const toml_kv *kv = &t->table.items[i];
        if (is_runtime && key_is(kv, "environment")) {
            if (walk_environment(w, kv) < 0)
                return -1;
            continue;
        }
        const nvb_key *k = NULL;
        for (size_t j = 0; j < nvb_n_keys; j++)
            if (strcmp(nvb_keys[j].table, table) == 0 && key_is(kv, nvb_keys[j].name))
                k = &nvb_keys[j];
        if (!k)
            return unknown(w, table, kv, candidates, n);
        char key[600];
        key_path(key, sizeof key, table, kv);
        if (walk_key(w, k, key, kv) < 0)
            return -1;
    }
    return 0;
}

static int walk_bolt(walk *w, const toml_kv *tkv)
{
    const toml_node *t = tkv->value;
    if (expect(w, "bolt", t, TOML_TABLE) < 0)
        return -1;
    static const char *const parts[] = {"capsule", "gaming", "aiml"};
    for (size_t i = 0; i < t->table.len; i++) {
        const toml_kv *kv = &t->table.items[i];
        size_t p;
        for (p = 0; p < 3; p++)
            if (key_is(kv, parts[p]))
                break;
        if (p == 3)
            return unknown(w, "bolt", kv, parts, 3);
        char table[32];
        snprintf(table, sizeof table, "bolt.%s", parts[p]);
        if (walk_table(w, table, kv) < 0)
            return -1;
        if (p == 1)
            w->c->gaming.present = true;
        if (p == 2)
            w->c->aiml.present = true;
    }
    return 0;
}

/* ---- [profiles.NAME] ---- */

static bool profile_name_valid(const char *s, size_t len)
{
    if (!len || len > 64 || !isalnum((unsigned char)s[0]))
        return false;
    for (size_t i = 0; i < len; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '-' || s[i] == '_') || (unsigned char)s[i] >= 0x80)
            return false;
    return true;
}

static int profile_env(walk *w, const char *key, const toml_node *n, nvb_strv *env)
{
    if (n->type == TOML_TABLE) {
        for (size_t i = 0; i < n->table.len; i++) {
            const toml_kv *kv = &n->table.items[i];
            char ikey[600];
            key_path(ikey, sizeof ikey, key, kv);
            if (!nvb_env_name_valid(kv->key, kv->key_len))
                return fail(w, kv->line, kv->column, ikey,
                            "not a valid environment variable name (letters, digits and _, not starting with a digit)");
            if (kv->value->type != TOML_STRING)
                return wrong_type(w, ikey, kv->value, "a string (quote numbers and booleans: \"1\")");
            if (expect_string(w, ikey, kv->value) < 0)
                return -1;
            if (nvb_strv_pushf(env, "%s=%s", kv->key, kv->value->string.ptr) < 0)
                return oom(w);
        }
        return 0;
    }
    if (n->type != TOML_ARRAY)
        return wrong_type(w, key, n, "a table or an array of \"KEY=VALUE\" strings");
    for (size_t i = 0; i < n->array.len; i++) {
        const toml_node *it = n->array.items[i];
        char ikey[600];
        index_key(ikey, sizeof ikey, key, i);
        if (expect_string(w, ikey, it) < 0)
            return -1;
        const char *eq = strchr(it->string.ptr, '=');
        if (!eq || !nvb_env_name_valid(it->string.ptr, (size_t)(eq - it->string.ptr))) {
            char q[160];
            quote_value(q, sizeof q, it->string.ptr, it->string.len);
            return fail(w, it->line, it->column, ikey, "%s is not KEY=VALUE with a valid variable name", q);
        }
        if (nvb_strv_push(env, it->string.ptr) < 0)
            return oom(w);
    }
    return 0;
}

static int profile_devices(walk *w, const char *key, const toml_node *n, nvb_strv *out)
{
    if (string_array(w, key, n, true, out) < 0)
        return -1;
    for (size_t i = 0; i < n->array.len; i++) {
        const toml_node *it = n->array.items[i];
        if (strncmp(it->string.ptr, "/dev/", 5) != 0 || !it->string.ptr[5]) {
            char ikey[600], q[160];
            index_key(ikey, sizeof ikey, key, i);
            quote_value(q, sizeof q, it->string.ptr, it->string.len);
            return fail(w, it->line, it->column, ikey, "%s is not a device node path under /dev/", q);
        }
    }
    return 0;
}

static int profile_mounts(walk *w, const char *key, const toml_node *n, nvb_strv *out)
{
    if (expect(w, key, n, TOML_ARRAY) < 0)
        return -1;
    for (size_t i = 0; i < n->array.len; i++) {
        const toml_node *it = n->array.items[i];
        char ikey[600], q[160];
        index_key(ikey, sizeof ikey, key, i);
        if (expect_string(w, ikey, it) < 0)
            return -1;
        quote_value(q, sizeof q, it->string.ptr, it->string.len);
        const char *colon = strchr(it->string.ptr, ':');
        if (!colon || strchr(colon + 1, ':'))
            return fail(w, it->line, it->column, ikey, "%s is not HOST:CONTAINER (two absolute paths, one colon)", q);
        _cleanup_free_ char *host = strndup(it->string.ptr, (size_t)(colon - it->string.ptr));
        if (!host)
            return oom(w);
        const char *why = path_problem(host);
        if (why)
            return fail(w, it->line, it->column, ikey, "%s: the host path %s", q, why);
        why = path_problem(colon + 1);
        if (why)
            return fail(w, it->line, it->column, ikey, "%s: the container path %s", q, why);
        if (nvb_strv_push(out, it->string.ptr) < 0)
            return oom(w);
    }
    return 0;
}

static int walk_profile(walk *w, const toml_kv *pkv, nvb_custom_profile *p)
{
    char pkey[600];
    key_path(pkey, sizeof pkey, "profiles", pkv);
    const toml_node *t = pkv->value;
    if (expect(w, pkey, t, TOML_TABLE) < 0)
        return -1;
    if (!profile_name_valid(pkv->key, pkv->key_len))
        return fail(w, pkv->line, pkv->column, pkey,
                    "profile names use letters, digits, - and _ (at most 64, starting with a letter or digit)");
    for (size_t i = 0; nvb_builtin_profiles[i]; i++)
        if (strcmp(pkv->key, nvb_builtin_profiles[i]) == 0)
            return fail(w, pkv->line, pkv->column, pkey,
                        "\"%s\" is a built-in profile; a custom profile cannot replace it (choose another name)",
                        nvb_builtin_profiles[i]);
    if (!(p->name = strdup(pkv->key)))
        return oom(w);
    if (record_origin(w, pkey, pkv) < 0)
        return -1;
    size_t nkeys = 0;
    while (nvb_profile_keys[nkeys])
        nkeys++;
    for (size_t i = 0; i < t->table.len; i++) {
        const toml_kv *kv = &t->table.items[i];
        char key[600];
        key_path(key, sizeof key, pkey, kv);
        int r;
        if (key_is(kv, "env"))
            r = profile_env(w, key, kv->value, &p->env);
        else if (key_is(kv, "driver_capabilities"))
            r = word_list(w, key, kv->value, cap_word, &p->caps);
        else if (key_is(kv, "devices"))
            r = profile_devices(w, key, kv->value, &p->device_nodes);
        else if (key_is(kv, "mounts"))
            r = profile_mounts(w, key, kv->value, &p->mounts);
        else
            return unknown(w, pkey, kv, nvb_profile_keys, nkeys);
        if (r < 0 || record_origin(w, key, kv) < 0)
            return -1;
    }
    return 0;
}

static int walk_profiles(walk *w, const toml_kv *tkv)
{
    const toml_node *t = tkv->value;
    if (expect(w, "profiles", t, TOML_TABLE) < 0)
        return -1;
    if (t->table.len > MAX_PROFILES)
        return fail(w, t->line, t->column, "profiles", "too many profiles (at most %d)", MAX_PROFILES);
    if (!t->table.len)
        return 0;
    w->c->profiles = calloc(t->table.len, sizeof *w->c->profiles);
    if (!w->c->profiles)
        return oom(w);
    for (size_t i = 0; i < t->table.len; i++) {
        /* Counted before walking so that nvb_config_clear frees a half-built profile. */
        w->c->n_profiles++;
        if (walk_profile(w, &t->table.items[i], &w->c->profiles[i]) < 0)
            return -1;
    }
    return 0;
}

/* ---- the document ---- */

static const char *const top_tables[] = {"bolt", "runtime", "host", "gpu", "security", "cdi", "isolation", "profiles"};

static int walk_root(walk *w, const toml_node *root)
{
    for (size_t i = 0; i < root->table.len; i++) {
        const toml_kv *kv = &root->table.items[i];
        const char *k = kv->key;
        if (strlen(k) != kv->key_len)
            return unknown(w, NULL, kv, top_tables, sizeof top_tables / sizeof top_tables[0]);
        int r;
        if (strcmp(k, "bolt") == 0)
            r = walk_bolt(w, kv);
        else if (strcmp(k, "profiles") == 0)
            r = walk_profiles(w, kv);
        else if (strcmp(k, "services") == 0)
            r = fail(w, kv->line, kv->column, "services",
                     "[services.*] belongs in Bolt's own service configuration, not in nvbind.toml; nvbind reads "
                     "[bolt.capsule], [bolt.gaming], [bolt.aiml], [runtime], [host], [gpu], [security], [cdi], "
                     "[isolation] and [profiles.NAME]");
        else if (strcmp(k, "runtime") == 0 || strcmp(k, "host") == 0 || strcmp(k, "gpu") == 0 ||
                 strcmp(k, "security") == 0 || strcmp(k, "cdi") == 0 || strcmp(k, "isolation") == 0)
            r = walk_table(w, k, kv);
        else
            r = unknown(w, NULL, kv, top_tables, sizeof top_tables / sizeof top_tables[0]);
        if (r < 0)
            return -1;
    }
    /* Limits only mean something when the capsule's GPU is partitioned. */
    const nvb_config *c = w->c;
    if (c->capsule.isolation_level != NVB_ISOLATION_VIRTUAL) {
        const toml_kv *kv = c->capsule.gpu_memory_limit ? w->memory_limit_kv
                            : c->capsule.compute_limit_percent ? w->compute_limit_kv
                                                               : NULL;
        if (kv)
            return fail(w, kv->value->line, kv->value->column,
                        kv == w->memory_limit_kv ? "bolt.capsule.gpu_memory_limit" : "bolt.capsule.compute_limit",
                        "limits apply only with isolation_level = \"virtual\", not \"%s\"",
                        nvb_isolation_name(c->capsule.isolation_level));
    }
    return 0;
}

int nvb_config_load_text(nvb_config *c, const char *text, size_t len, const char *name, nvb_err *err)
{
    if (!name)
        name = "<input>";
    _cleanup_toml_ toml_doc *doc = toml_parse(text, len, name, err);
    if (!doc)
        return -1;
    nvb_config tmp;
    nvb_config_init(&tmp);
    walk w = {.c = &tmp, .file = name, .err = err};
    if (walk_root(&w, doc->root) < 0 || !(tmp.source = strdup(name))) {
        if (!err || !err->msg[0])
            nvb_errf(err, NVB_EXIT_IO, "out of memory");
        nvb_config_clear(&tmp);
        return -1;
    }
    nvb_config_clear(c);
    *c = tmp;
    return 0;
}

int nvb_config_check_trusted(const char *path, nvb_err *err)
{
    char why[768];
    int r = nvb_trust_path(path, geteuid(), why, sizeof why);
    if (r < 0)
        return nvb_errf_errno(err, NVB_EXIT_CONFIG, errno, "%s: cannot read the configuration file", path);
    if (r > 0)
        return nvb_errf(err, NVB_EXIT_CONFIG,
                        "%s: refusing the configuration file: %s (only root or you may write it or the folders above it)",
                        path, why);
    return 0;
}

int nvb_config_load_file(nvb_config *c, const char *path, nvb_err *err)
{
    /* Checked before reading: once the file and its folders pass, nobody else can swap it. */
    if (nvb_config_check_trusted(path, err) < 0)
        return -1;
    size_t len = 0;
    _cleanup_free_ char *text = nvb_read_file(path, MAX_CONFIG_BYTES, &len);
    if (!text) {
        if (errno == EFBIG)
            return nvb_errf(err, NVB_EXIT_CONFIG, "%s: larger than %u KiB, not a configuration file", path,
                            MAX_CONFIG_BYTES / 1024);
        return nvb_errf_errno(err, NVB_EXIT_CONFIG, errno, "%s: cannot read the configuration file", path);
    }
    return nvb_config_load_text(c, text, len, path, err);
}

/* Does a candidate exist? Missing is fine for the search; anything else (no permission on
 * a folder on the way) is reported, since silently skipping it would load another file. */
static int exists(const char *path, bool *yes, nvb_err *err)
{
    struct stat st;
    if (stat(path, &st) == 0) {
        *yes = true;
        return 0;
    }
    *yes = false;
    if (errno == ENOENT || errno == ENOTDIR)
        return 0;
    return nvb_errf_errno(err, NVB_EXIT_CONFIG, errno, "%s: cannot check for a configuration file", path);
}

int nvb_config_find(const char *explicit_path, char **found, nvb_strv *searched, nvb_err *err)
{
    *found = NULL;
    const char *named = explicit_path, *by = "--config";
    if (!named || !*named) {
        named = getenv("NVBIND_CONFIG");
        by = "NVBIND_CONFIG";
    }
    if (named && *named) {
        if (searched)
            nvb_strv_push(searched, named);
        bool yes;
        if (exists(named, &yes, err) < 0)
            return -1;
        if (!yes)
            return nvb_errf(err, NVB_EXIT_CONFIG, "%s: no such configuration file (named by %s)", named, by);
        return (*found = strdup(named)) ? 0 : nvb_errf(err, NVB_EXIT_IO, "out of memory");
    }
    char xdg[4096] = "";
    const char *x = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
    /* The XDG base directory rules ignore a relative XDG_CONFIG_HOME. */
    if (x && x[0] == '/')
        snprintf(xdg, sizeof xdg, "%s/nvbind/config.toml", x);
    else if (home && home[0] == '/')
        snprintf(xdg, sizeof xdg, "%s/.config/nvbind/config.toml", home);
    /* No ./nvbind.toml: a file in whatever folder one stands in would choose the hooks root
     * runs (git's CVE-2022-24765 is the same mistake); name it with --config. */
    const char *candidates[] = {xdg, "/etc/nvbind/config.toml"};
    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++) {
        if (!candidates[i][0])
            continue;
        if (searched)
            nvb_strv_push(searched, candidates[i]);
        bool yes;
        if (exists(candidates[i], &yes, err) < 0)
            return -1;
        if (yes)
            return (*found = strdup(candidates[i])) ? 0 : nvb_errf(err, NVB_EXIT_IO, "out of memory");
    }
    return 0;
}

int nvb_config_load(nvb_config *c, const char *explicit_path, nvb_err *err)
{
    _cleanup_free_ char *path = NULL;
    if (nvb_config_find(explicit_path, &path, NULL, err) < 0)
        return -1;
    if (path)
        return nvb_config_load_file(c, path, err);
    nvb_config_clear(c);
    nvb_config_init(c);
    return 0;
}
