/* The TOML parser: the conformance documents under tests/toml (one test case each) and the
 * API the configuration schema relies on (lookups, positions, table kinds, messages). */
#include <dirent.h>
#include <inttypes.h>
#include <jansson.h>
#include <locale.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "config/toml.h"
#include "util/cleanup.h"
#include "util/fileio.h"

#ifndef TOML_TESTDATA
#error "TOML_TESTDATA must name the tests/toml folder"
#endif

static toml_doc *parse(const char *text, nvb_err *err)
{
    return toml_parse(text, strlen(text), "nvbind.toml", err);
}

static toml_doc *parse_ok(const char *text)
{
    nvb_err err = { 0 };
    toml_doc *doc = parse(text, &err);
    if (!doc)
        fail_msg("unexpected parse error: %s", err.msg);
    return doc;
}

static void assert_parse_error(const char *text, const char *message)
{
    nvb_err err = { 0 };
    toml_doc *doc = parse(text, &err);
    if (doc) {
        toml_free(doc);
        fail_msg("parsed, expected \"%s\"", message);
    }
    assert_string_equal(err.msg, message);
    assert_int_equal(err.exit_code, NVB_EXIT_CONFIG);
}

/* ---- conformance: valid/NAME.toml against valid/NAME.json ---- */

static const char *json_tag(const json_t *j, const char *field)
{
    const char *s = json_string_value(json_object_get(j, field));
    return s ? s : "(none)";
}

/* {"type": ..., "value": ...}: how the expected JSON writes a scalar. */
static bool is_tagged(const json_t *j)
{
    return json_object_size(j) == 2 && json_is_string(json_object_get(j, "type")) &&
           json_is_string(json_object_get(j, "value"));
}

static void compare(const char *file, const char *path, const toml_node *n, const json_t *j)
{
    char buf[64], sub[512];
    switch (n->type) {
    case TOML_TABLE: {
        if (!json_is_object(j) || is_tagged(j))
            fail_msg("%s: %s: got a table, expected %s", file, path, json_is_object(j) ? json_tag(j, "type") : "an array");
        if (n->table.len != json_object_size(j))
            fail_msg("%s: %s: table has %zu keys, expected %zu", file, path, n->table.len, json_object_size(j));
        void *it = json_object_iter((json_t *)j);
        for (size_t i = 0; i < n->table.len; i++, it = json_object_iter_next((json_t *)j, it)) {
            const toml_kv *kv = &n->table.items[i];
            const char *key = json_object_iter_key(it);
            size_t key_len = json_object_iter_key_len(it);
            if (kv->key_len != key_len || memcmp(kv->key, key, key_len))
                fail_msg("%s: %s: key %zu is '%s', expected '%s' (document order)", file, path, i, kv->key, key);
            snprintf(sub, sizeof sub, "%s.%s", path, kv->key);
            compare(file, sub, kv->value, json_object_iter_value(it));
        }
        return;
    }
    case TOML_ARRAY:
        if (!json_is_array(j))
            fail_msg("%s: %s: got an array, expected something else", file, path);
        if (n->array.len != json_array_size(j))
            fail_msg("%s: %s: array has %zu items, expected %zu", file, path, n->array.len, json_array_size(j));
        for (size_t i = 0; i < n->array.len; i++) {
            snprintf(sub, sizeof sub, "%s[%zu]", path, i);
            compare(file, sub, n->array.items[i], json_array_get(j, i));
        }
        return;
    default:
        break;
    }
    const char *type = n->type == TOML_BOOLEAN ? "bool" : toml_type_name(n->type);
    const json_t *value = json_object_get(j, "value");
    if (strcmp(json_tag(j, "type"), type) || !json_is_string(value))
        fail_msg("%s: %s: got a %s, expected %s", file, path, type, json_tag(j, "type"));
    const char *want = json_string_value(value);
    switch (n->type) {
    case TOML_STRING:
        if (n->string.len != json_string_length(value) || memcmp(n->string.ptr, want, n->string.len))
            fail_msg("%s: %s: string \"%s\", expected \"%s\"", file, path, n->string.ptr, want);
        break;
    case TOML_INTEGER:
        snprintf(buf, sizeof buf, "%" PRId64, n->integer);
        if (strcmp(buf, want))
            fail_msg("%s: %s: integer %s, expected %s", file, path, buf, want);
        break;
    case TOML_BOOLEAN:
        if (strcmp(n->boolean ? "true" : "false", want))
            fail_msg("%s: %s: boolean %d, expected %s", file, path, n->boolean, want);
        break;
    case TOML_FLOAT: {
        double w = strtod(want, NULL);
        bool same = isnan(w) ? isnan(n->fp) : (n->fp == w && !signbit(n->fp) == !signbit(w));
        if (!same)
            fail_msg("%s: %s: float %.17g, expected %s", file, path, n->fp, want);
        break;
    }
    default:
        break;
    }
}

static void test_valid_document(void **state)
{
    const char *path = *state;
    size_t len;
    _cleanup_free_ char *text = nvb_read_file(path, 1 << 20, &len);
    assert_non_null(text);
    nvb_err err = { 0 };
    _cleanup_toml_ toml_doc *doc = toml_parse(text, len, path, &err);
    if (!doc)
        fail_msg("%s", err.msg);

    char expected_path[4096];
    snprintf(expected_path, sizeof expected_path, "%.*s.json", (int)(strlen(path) - 5), path);
    json_error_t jerr;
    json_t *expected = json_load_file(expected_path, JSON_ALLOW_NUL, &jerr);
    if (!expected)
        fail_msg("%s: %s", expected_path, jerr.text);
    compare(path, "(root)", doc->root, expected);
    json_decref(expected);
}

/* ---- conformance: invalid/NAME.toml must fail with the message in invalid/NAME.err ---- */

static void test_invalid_document(void **state)
{
    const char *path = *state;
    const char *name = strrchr(path, '/') + 1;
    size_t len;
    _cleanup_free_ char *text = nvb_read_file(path, 1 << 20, &len);
    assert_non_null(text);

    char err_path[4096];
    snprintf(err_path, sizeof err_path, "%.*s.err", (int)(strlen(path) - 5), path);
    _cleanup_free_ char *want = nvb_read_file(err_path, 4096, NULL);
    assert_non_null(want);
    unsigned line, column;
    int used = 0;
    if (sscanf(want, "%u:%u: %n", &line, &column, &used) != 2 || !used)
        fail_msg("%s: expected \"LINE:COLUMN: message\"", err_path);
    want[strcspn(want, "\n")] = '\0';
    const char *message = want + used;

    nvb_err err = { 0 };
    toml_doc *doc = toml_parse(text, len, name, &err);
    if (doc) {
        toml_free(doc);
        fail_msg("%s: parsed, expected an error \"%u:%u: %s\"", path, line, column, message);
    }
    char prefix[512];
    snprintf(prefix, sizeof prefix, "%s:%u:%u: ", name, line, column);
    if (strncmp(err.msg, prefix, strlen(prefix)) || !strstr(err.msg + strlen(prefix), message))
        fail_msg("%s: got \"%s\", expected \"%s%s...\"", path, err.msg, prefix, message);
    assert_int_equal(err.exit_code, NVB_EXIT_CONFIG);
}

/* ---- API ---- */

static void test_error_names_file_line_column(void **state)
{
    assert_parse_error("[bolt.capsule]\nsnapshot_gpu_state = true\nisolation_level = \"exclusive\n",
                       "nvbind.toml:3:19: unterminated string");
    assert_parse_error("a = 1\na = 2\n", "nvbind.toml:2:1: duplicate key 'a' (first defined at line 1)");
    assert_parse_error("[a]\n[a]\n", "nvbind.toml:2:1: table [a] defined twice (first at line 1)");
    assert_parse_error("x = \"\\q\"\n", "nvbind.toml:1:6: invalid escape '\\q'");
    assert_parse_error("gpu_memory_limit = 99999999999999999999\n", "nvbind.toml:1:20: integer out of range");
    assert_parse_error("a = \"\xC3\x28\"\n", "nvbind.toml:1:6: invalid UTF-8 (byte 0xC3)");
    assert_parse_error("when = 2024-01-01\n", "nvbind.toml:1:8: dates and times are not supported");

    nvb_err err = { 0 };
    assert_null(toml_parse("a", 1, NULL, &err));
    assert_string_equal(err.msg, "<input>:1:2: expected '=' after key");
    assert_null(toml_parse("a", 1, "x.toml", NULL)); /* no error object: still just fails */
}

static void test_lookup(void **state)
{
    _cleanup_toml_ toml_doc *doc = parse_ok("[bolt.capsule]\nisolation_level = \"exclusive\"\n"
                                            "[bolt.aiml]\ncuda_cache_size = 4096\n");
    assert_string_equal(doc->filename, "nvbind.toml");
    const toml_node *capsule = toml_get_path(doc->root, "bolt.capsule");
    assert_non_null(capsule);
    assert_int_equal(capsule->type, TOML_TABLE);
    const toml_node *level = toml_table_get(capsule, "isolation_level");
    assert_non_null(level);
    assert_int_equal(level->type, TOML_STRING);
    assert_string_equal(level->string.ptr, "exclusive");
    assert_int_equal(level->string.len, 9);
    const toml_node *cache = toml_get_path(doc->root, "bolt.aiml.cuda_cache_size");
    assert_non_null(cache);
    assert_int_equal(cache->integer, 4096);

    assert_null(toml_table_get(capsule, "missing"));
    assert_null(toml_get_path(doc->root, "bolt.gaming"));
    assert_null(toml_get_path(doc->root, "bolt.aiml.cuda_cache_size.deeper")); /* through a scalar */
    assert_null(toml_table_get(level, "x"));                                  /* not a table */
    assert_null(toml_table_get(NULL, "x"));
    assert_null(toml_table_get_kv(doc->root, NULL));
}

static void test_errors_for_the_schema_layer(void **state)
{
    _cleanup_toml_ toml_doc *doc = parse_ok("[bolt.capsule]\nisolation_level = \"exclusve\"\n");
    const toml_kv *kv = toml_table_get_kv(toml_get_path(doc->root, "bolt.capsule"), "isolation_level");
    nvb_err err = { 0 };
    assert_int_equal(toml_errf(&err, doc, kv->value->line, kv->value->column, "key '%s': did you mean \"%s\"?",
                               kv->key, "exclusive"),
                     -1);
    assert_string_equal(err.msg, "nvbind.toml:2:19: key 'isolation_level': did you mean \"exclusive\"?");
    assert_int_equal(err.exit_code, NVB_EXIT_CONFIG);
}

static void test_type_names(void **state)
{
    assert_string_equal(toml_type_name(TOML_TABLE), "table");
    assert_string_equal(toml_type_name(TOML_ARRAY), "array");
    assert_string_equal(toml_type_name(TOML_STRING), "string");
    assert_string_equal(toml_type_name(TOML_INTEGER), "integer");
    assert_string_equal(toml_type_name(TOML_FLOAT), "float");
    assert_string_equal(toml_type_name(TOML_BOOLEAN), "boolean");
    assert_string_equal(toml_table_kind_name(TOML_TABLE_EXPLICIT), "explicit");
    assert_string_equal(toml_table_kind_name(TOML_TABLE_IMPLICIT), "implicit");
    assert_string_equal(toml_table_kind_name(TOML_TABLE_DOTTED), "dotted");
    assert_string_equal(toml_table_kind_name(TOML_TABLE_INLINE), "inline");
}

static void assert_at(const toml_node *n, unsigned line, unsigned column)
{
    assert_non_null(n);
    if (n->line != line || n->column != column)
        fail_msg("node at %u:%u, expected %u:%u", n->line, n->column, line, column);
}

static void test_positions(void **state)
{
    _cleanup_toml_ toml_doc *doc = parse_ok("# comment\n"
                                            "name = \"x\"\n"           /* 2 */
                                            "  [gpu]  \n"              /* 3 */
                                            "\tsel = [1, \"é\", 2.5]\n" /* 4 */
                                            "a.b.c = true\n"           /* 5 */
                                            "\"ключ\" = { k = 0x10 }\n" /* 6 */
                                            "[[list]]\n"               /* 7 */
                                            "[[list]]\n");             /* 8 */
    assert_at(doc->root, 1, 1);
    assert_at(toml_table_get(doc->root, "name"), 2, 8);
    const toml_kv *gpu = toml_table_get_kv(doc->root, "gpu");
    assert_non_null(gpu);
    assert_int_equal(gpu->line, 3);
    assert_int_equal(gpu->column, 4); /* the key */
    assert_at(gpu->value, 3, 3);      /* the header */
    const toml_node *sel = toml_table_get(gpu->value, "sel");
    assert_at(sel, 4, 8);
    assert_at(sel->array.items[0], 4, 9);
    assert_at(sel->array.items[1], 4, 12);
    assert_at(sel->array.items[2], 4, 17); /* "é" is one column */
    const toml_kv *a = toml_table_get_kv(gpu->value, "a");
    assert_int_equal(a->line, 5);
    assert_int_equal(a->column, 1);
    const toml_kv *b = toml_table_get_kv(a->value, "b");
    assert_int_equal(b->column, 3);
    assert_at(toml_get_path(gpu->value, "a.b.c"), 5, 9);
    const toml_kv *key = toml_table_get_kv(gpu->value, "ключ");
    assert_non_null(key);
    assert_int_equal(key->column, 1);
    assert_at(key->value, 6, 10);
    assert_at(toml_table_get(key->value, "k"), 6, 16);
    const toml_node *list = toml_table_get(doc->root, "list");
    assert_at(list, 7, 1);
    assert_int_equal(list->array.len, 2);
    assert_at(list->array.items[1], 8, 1);
}

static void test_positions_crlf(void **state)
{
    _cleanup_toml_ toml_doc *doc = parse_ok("a = 1\r\nb = \"\"\"x\r\ny\"\"\"\r\nc = 3\r\n");
    assert_at(toml_table_get(doc->root, "c"), 4, 5);
    assert_string_equal(toml_table_get(doc->root, "b")->string.ptr, "x\ny");
    assert_parse_error("a = 1\r\nb = 2\r\n\"c\r\n", "nvbind.toml:3:1: unterminated string");
}

static void test_table_kinds(void **state)
{
    _cleanup_toml_ toml_doc *doc = parse_ok("top.dotted = 1\n"
                                            "[x.y.z]\n"
                                            "[inl]\n"
                                            "t = { a = 1 }\n"
                                            "[[arr]]\n"
                                            "[later.sub]\n"
                                            "[later]\n");
    assert_int_equal(doc->root->table.kind, TOML_TABLE_EXPLICIT);
    assert_int_equal(toml_table_get(doc->root, "top")->table.kind, TOML_TABLE_DOTTED);
    assert_int_equal(toml_table_get(doc->root, "x")->table.kind, TOML_TABLE_IMPLICIT);
    assert_int_equal(toml_get_path(doc->root, "x.y")->table.kind, TOML_TABLE_IMPLICIT);
    assert_int_equal(toml_get_path(doc->root, "x.y.z")->table.kind, TOML_TABLE_EXPLICIT);
    assert_int_equal(toml_get_path(doc->root, "inl.t")->table.kind, TOML_TABLE_INLINE);
    const toml_node *arr = toml_table_get(doc->root, "arr");
    assert_int_equal(arr->type, TOML_ARRAY);
    assert_true(arr->array.of_tables);
    assert_int_equal(arr->array.items[0]->table.kind, TOML_TABLE_EXPLICIT);
    /* [later] defines the table [later.sub] created implicitly; it now sits at its header */
    const toml_node *later = toml_table_get(doc->root, "later");
    assert_int_equal(later->table.kind, TOML_TABLE_EXPLICIT);
    assert_at(later, 7, 1);

    _cleanup_toml_ toml_doc *doc2 = parse_ok("a = [1, 2]\n");
    assert_false(toml_table_get(doc2->root, "a")->array.of_tables);
}

static void test_key_order_and_iteration(void **state)
{
    _cleanup_toml_ toml_doc *doc = parse_ok("zeta = 1\nalpha = 2\n[mid]\nm = 3\n[beta]\n");
    const char *order[] = { "zeta", "alpha", "mid", "beta" };
    assert_int_equal(doc->root->table.len, 4);
    for (size_t i = 0; i < 4; i++)
        assert_string_equal(doc->root->table.items[i].key, order[i]);
}

static void test_scalars(void **state)
{
    _cleanup_toml_ toml_doc *doc = parse_ok("i = -9223372036854775808\nh = 0xff\nf = 1e3\nb = false\n"
                                            "n = -nan\ns = \"a\\u0000b\"\n");
    assert_true(toml_table_get(doc->root, "i")->integer == INT64_MIN);
    assert_int_equal(toml_table_get(doc->root, "h")->integer, 255);
    assert_true(toml_table_get(doc->root, "f")->fp == 1000.0);
    assert_int_equal(toml_table_get(doc->root, "b")->type, TOML_BOOLEAN);
    assert_false(toml_table_get(doc->root, "b")->boolean);
    assert_true(isnan(toml_table_get(doc->root, "n")->fp));
    const toml_node *s = toml_table_get(doc->root, "s");
    assert_int_equal(s->string.len, 3); /* an escaped NUL keeps its place */
    assert_memory_equal(s->string.ptr, "a\0b", 4);
}

static void test_floats_ignore_caller_locale(void **state)
{
    /* A caller that switched LC_NUMERIC to a locale with a decimal comma must still get 1.5. */
    const char *old = setlocale(LC_NUMERIC, NULL);
    char saved[64];
    snprintf(saved, sizeof saved, "%s", old ? old : "C");
    const char *locales[] = { "de_DE.UTF-8", "fr_FR.UTF-8", "de_DE", "fr_FR" };
    bool switched = false;
    for (size_t i = 0; i < 4 && !switched; i++)
        switched = setlocale(LC_NUMERIC, locales[i]) != NULL;
    if (!switched)
        skip(); /* no decimal-comma locale installed on this machine */
    toml_doc *doc = parse_ok("f = 1.5\n");
    double f = toml_table_get(doc->root, "f")->fp;
    toml_free(doc);
    setlocale(LC_NUMERIC, saved);
    assert_true(f == 1.5);
}

static void test_input_need_not_be_nul_terminated(void **state)
{
    const char text[] = "a = 12345";
    nvb_err err = { 0 };
    _cleanup_toml_ toml_doc *doc = toml_parse(text, 6, "t", &err); /* "a = 12" */
    assert_non_null(doc);
    assert_int_equal(toml_table_get(doc->root, "a")->integer, 12);

    toml_doc *empty = toml_parse(NULL, 0, "t", &err);
    assert_non_null(empty);
    assert_int_equal(empty->root->table.len, 0);
    toml_free(empty);
}

static void test_bom_at_start_only(void **state)
{
    _cleanup_toml_ toml_doc *doc = parse_ok("\xEF\xBB\xBF" "a = 1\n");
    assert_at(toml_table_get(doc->root, "a"), 1, 5);
    assert_parse_error("a = 1\n\xEF\xBB\xBF" "b = 2\n", "nvbind.toml:2:1: expected a key, found U+FEFF");
}

static void test_many_keys(void **state)
{
    /* Large tables use a hash index: every key found, a duplicate reported with its line. */
    size_t n = 20000, cap = n * 24 + 64, o = 0;
    _cleanup_free_ char *text = malloc(cap);
    assert_non_null(text);
    for (size_t i = 0; i < n; i++)
        o += (size_t)snprintf(text + o, cap - o, "key%zu = %zu\n", i, i);
    _cleanup_toml_ toml_doc *doc = parse_ok(text);
    assert_int_equal(doc->root->table.len, n);
    for (size_t i = 0; i < n; i += 997) {
        char key[32];
        snprintf(key, sizeof key, "key%zu", i);
        const toml_node *v = toml_table_get(doc->root, key);
        assert_non_null(v);
        assert_int_equal(v->integer, (int64_t)i);
    }
    snprintf(text + o, cap - o, "key12345 = 0\n");
    char want[128];
    snprintf(want, sizeof want, "nvbind.toml:%zu:1: duplicate key 'key12345' (first defined at line 12346)", n + 1);
    assert_parse_error(text, want);
}

static void test_nesting_limit(void **state)
{
    /* Deep input is refused at TOML_MAX_DEPTH instead of exhausting the stack. */
    size_t n = 100000;
    _cleanup_free_ char *text = malloc(3 * n + 8);
    assert_non_null(text);
    memcpy(text, "a = ", 4);
    memset(text + 4, '[', n);
    text[n + 4] = '\0';
    nvb_err err = { 0 };
    assert_null(parse(text, &err));
    assert_string_equal(err.msg, "nvbind.toml:1:69: nesting too deep (more than 64 levels of tables and arrays)");

    for (size_t i = 0; i < n; i++)
        memcpy(text + 4 + 3 * i, "{b=", 3);
    text[4 + 3 * n] = '\0';
    assert_null(parse(text, &err));
    assert_string_equal(err.msg, "nvbind.toml:1:197: nesting too deep (more than 64 levels of tables and arrays)");
}

static void test_sealed_inline_tables(void **state)
{
    assert_parse_error("a = {}\n[a]\n", "nvbind.toml:2:1: cannot define [a]: 'a' is an inline table (line 1), "
                                        "and inline tables are sealed");
    assert_parse_error("a = { b = {} }\na.b.c = 1\n",
                       "nvbind.toml:2:1: cannot add to inline table 'a' (defined at line 1): inline tables are sealed");
}

static void test_long_keys_in_messages(void **state)
{
    /* A message names at most ~250 bytes of a key, cut at a character boundary. */
    char line[1024], text[2 * sizeof line + 8], want[512];
    int o = 0;
    for (int i = 0; i < 20; i++)
        o += snprintf(line + o, sizeof line - (size_t)o, "\"ключ ключ %d\".", i);
    snprintf(line + o, sizeof line - (size_t)o, "x = 1\n");
    snprintf(text, sizeof text, "[t]\n%s%s", line, line);
    nvb_err err = { 0 };
    assert_null(parse(text, &err));
    /* x is at column 291: ten parts of 14 characters, ten of 15, then x */
    snprintf(want, sizeof want, "nvbind.toml:3:291: duplicate key '\"ключ ключ 0\".\"ключ ключ 1\".");
    assert_memory_equal(err.msg, want, strlen(want));
    const char *cut = strstr(err.msg, "...' (first defined at line 2)");
    assert_non_null(cut);
    assert_true(cut - err.msg < 300);
    assert_true(((unsigned char)cut[-1] & 0xC0) != 0xC0); /* not half of a character */

    assert_parse_error("\"a\\u0001\\\"b\" = 1\n\"a\\u0001\\\"b\" = 2\n",
                       "nvbind.toml:2:1: duplicate key '\"a\\u0001\\u0022b\"' (first defined at line 1)");
}

/* ---- runner: one case per conformance document, then the API cases ---- */

static int is_toml(const struct dirent *d)
{
    size_t len = strlen(d->d_name);
    return len > 5 && !strcmp(d->d_name + len - 5, ".toml");
}

static size_t add_folder(struct CMUnitTest **tests, size_t n, const char *folder, CMUnitTestFunction fn)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/%s", TOML_TESTDATA, folder);
    struct dirent **names;
    int count = scandir(dir, &names, is_toml, alphasort);
    if (count <= 0) {
        fprintf(stderr, "no conformance documents in %s\n", dir);
        exit(1);
    }
    *tests = realloc(*tests, (n + (size_t)count) * sizeof **tests);
    if (!*tests)
        exit(1);
    for (int i = 0; i < count; i++) {
        char *path, *name;
        if (asprintf(&path, "%s/%s", dir, names[i]->d_name) < 0 ||
            asprintf(&name, "%s/%s", folder, names[i]->d_name) < 0)
            exit(1);
        (*tests)[n++] = (struct CMUnitTest){ .name = name, .test_func = fn, .initial_state = path };
        free(names[i]);
    }
    free(names);
    return n;
}

int main(void)
{
    static const struct CMUnitTest api[] = {
        cmocka_unit_test(test_error_names_file_line_column),
        cmocka_unit_test(test_lookup),
        cmocka_unit_test(test_errors_for_the_schema_layer),
        cmocka_unit_test(test_type_names),
        cmocka_unit_test(test_positions),
        cmocka_unit_test(test_positions_crlf),
        cmocka_unit_test(test_table_kinds),
        cmocka_unit_test(test_key_order_and_iteration),
        cmocka_unit_test(test_scalars),
        cmocka_unit_test(test_floats_ignore_caller_locale),
        cmocka_unit_test(test_input_need_not_be_nul_terminated),
        cmocka_unit_test(test_bom_at_start_only),
        cmocka_unit_test(test_many_keys),
        cmocka_unit_test(test_nesting_limit),
        cmocka_unit_test(test_sealed_inline_tables),
        cmocka_unit_test(test_long_keys_in_messages),
    };
    struct CMUnitTest *tests = NULL;
    size_t n = add_folder(&tests, 0, "valid", test_valid_document);
    n = add_folder(&tests, n, "invalid", test_invalid_document);
    tests = realloc(tests, (n + sizeof api / sizeof api[0]) * sizeof *tests);
    if (!tests)
        return 1;
    memcpy(tests + n, api, sizeof api);
    n += sizeof api / sizeof api[0];

    int failed = _cmocka_run_group_tests("toml", tests, n, NULL, NULL);
    for (size_t i = 0; i < n - sizeof api / sizeof api[0]; i++) {
        free((char *)tests[i].name);
        free(tests[i].initial_state);
    }
    free(tests);
    return failed;
}
