/* The streaming JSON writer: its text must be exactly what jansson prints for the same
 * tree with JSON_INDENT(2) (plus a newline), so it can replace json_dumps() on hot paths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "util/json_text.h"
#include "util/jsonw.h"

/* nvb_json_dump_line's text for `doc`, in the layouts nvbind writes and others: jansson's and
 * a newline. */
static void dump_line_same_as_jansson(const char *doc)
{
    json_t *v = json_loads(doc, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    assert_non_null(v);
    char *want;
    static const size_t layouts[] = {JSON_COMPACT | JSON_PRESERVE_ORDER, JSON_INDENT(2), JSON_INDENT(4) | JSON_PRESERVE_ORDER,
                                     JSON_COMPACT, 0, JSON_INDENT(2) | JSON_COMPACT, JSON_INDENT(2) | JSON_SORT_KEYS,
                                     JSON_COMPACT | JSON_ENSURE_ASCII, JSON_INDENT(1) | JSON_ESCAPE_SLASH};
    for (size_t i = 0; i < sizeof layouts / sizeof layouts[0]; i++) {
        size_t flags = layouts[i] | JSON_ENCODE_ANY;
        char *line = nvb_json_dump_line(v, flags);
        want = json_dumps(v, flags);
        assert_non_null(line);
        assert_non_null(want);
        size_t n = strlen(line);
        assert_true(n > 0 && line[n - 1] == '\n');
        line[n - 1] = '\0';
        assert_string_equal(line, want);
        free(line);
        free(want);
    }
    json_decref(v);
}

/* Parse `doc`, print it with jansson and with the writer, and compare. */
static void same_as_jansson(const char *doc)
{
    json_error_t e;
    json_t *v = json_loads(doc, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    assert_non_null(v);
    char *want = json_dumps(v, JSON_INDENT(2) | JSON_ENCODE_ANY);
    assert_non_null(want);
    nvb_jsonw w;
    nvb_jsonw_init(&w, 2, 16); /* small: the buffer must grow */
    assert_true(nvb_jsonw_tree(&w, v));
    size_t len = 0;
    char *got = nvb_jsonw_finish(&w, &len);
    assert_non_null(got);
    assert_int_equal(len, strlen(got));
    assert_int_equal(got[len - 1], '\n');
    got[len - 1] = '\0';
    assert_string_equal(got, want);
    free(got);
    free(want);
    json_decref(v);
    dump_line_same_as_jansson(doc);
}

static void layout_matches_jansson(void **state)
{
    (void)state;
    same_as_jansson("{}");
    same_as_jansson("[]");
    same_as_jansson("{\"a\": [], \"b\": {}, \"c\": [[]], \"d\": [{}]}");
    same_as_jansson("{\"driver\": {\"version\": \"550.54.14\", \"cuda\": null}, \"gpus\": [{\"index\": 0, "
                    "\"nodes\": [\"/dev/nvidia0\", \"/dev/dri/card0\"]}, {\"index\": 1, \"nodes\": []}], "
                    "\"wsl2\": false, \"ok\": true}");
    same_as_jansson("[[[1, 2], [3]], [], [[[[\"deep\"]]]]]");
    same_as_jansson("\"just a string\"");
    same_as_jansson("42");
}

static void numbers_match_jansson(void **state)
{
    (void)state;
    same_as_jansson("[0, 1, -1, 9, 10, 195, 438, 2147483648, -2147483649, 9223372036854775807, "
                    "-9223372036854775808]");
}

static void escapes_match_jansson(void **state)
{
    (void)state;
    same_as_jansson("[\"quote \\\" backslash \\\\ slash /\", \"\\b\\f\\n\\r\\t\", \"\\u0001\\u001f\\u007f\"]");
    same_as_jansson("[\"caf\\u00e9\", \"\\u20ac \\ud83d\\ude00\", \"\\u2028\\ufeff\"]");
    same_as_jansson("{\"key \\\"with\\\" quotes\\n\": \"v\"}");
    /* An embedded NUL (jansson keeps the length; it refuses one in a key). */
    same_as_jansson("[\"a\\u0000b\"]");
}

/* What nvb_jsonw does not write as jansson would is left to jansson: reals, and trees deeper
 * than the writer's limit; so nvb_json_dump_line's text is jansson's whatever the tree. */
static void dump_line_falls_back_to_jansson(void **state)
{
    (void)state;
    json_t *v = json_loads("{\"a\": [1, 2.5, 1e300, -0.0, 3.0], \"b\": {\"c\": 0.1}}", 0, NULL);
    assert_non_null(v);
    nvb_jsonw w;
    nvb_jsonw_init(&w, 0, 0);
    assert_false(nvb_jsonw_tree(&w, v));
    nvb_jsonw_free(&w);
    json_decref(v);
    dump_line_same_as_jansson("{\"a\": [1, 2.5, 1e300, -0.0, 3.0], \"b\": {\"c\": 0.1}}");
    char deep[2 * (NVB_JSONW_MAX_DEPTH + 4) + 1];
    size_t d = NVB_JSONW_MAX_DEPTH + 4;
    memset(deep, '[', d);
    memset(deep + d, ']', d);
    deep[2 * d] = '\0';
    dump_line_same_as_jansson(deep);
}

static void invalid_utf8_stays_valid_json(void **state)
{
    (void)state;
    nvb_jsonw w;
    nvb_jsonw_init(&w, 2, 0);
    nvb_jsonw_array_begin(&w);
    nvb_jsonw_string(&w, "ok\xff" "a\xc3(\xed\xa0\x80");  /* stray byte, cut sequence, surrogate */
    nvb_jsonw_array_end(&w);
    assert_true(w.bad_utf8);
    char *got = nvb_jsonw_finish(&w, NULL);
    assert_non_null(got);
    json_error_t e;
    json_t *v = json_loads(got, 0, &e);
    assert_non_null(v);
    assert_string_equal(json_string_value(json_array_get(v, 0)),
                        "ok\xef\xbf\xbd" "a\xef\xbf\xbd(\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    json_decref(v);
    free(got);
}

static void misuse_fails(void **state)
{
    (void)state;
    nvb_jsonw w;
    /* A container left open. */
    nvb_jsonw_init(&w, 2, 0);
    nvb_jsonw_object_begin(&w);
    assert_null(nvb_jsonw_finish(&w, NULL));
    /* A key without a value. */
    nvb_jsonw_init(&w, 2, 0);
    nvb_jsonw_object_begin(&w);
    nvb_jsonw_key(&w, "k");
    nvb_jsonw_object_end(&w);
    assert_true(w.failed);
    assert_null(nvb_jsonw_finish(&w, NULL));
    /* A key outside an object, and two top-level values. */
    nvb_jsonw_init(&w, 2, 0);
    nvb_jsonw_key(&w, "k");
    assert_true(w.failed);
    nvb_jsonw_free(&w);
    nvb_jsonw_init(&w, 2, 0);
    nvb_jsonw_int(&w, 1);
    nvb_jsonw_int(&w, 2);
    assert_null(nvb_jsonw_finish(&w, NULL));
    /* Nothing written at all. */
    nvb_jsonw_init(&w, 2, 0);
    assert_null(nvb_jsonw_finish(&w, NULL));
    /* Deeper than the limit. */
    nvb_jsonw_init(&w, 2, 0);
    for (int i = 0; i < NVB_JSONW_MAX_DEPTH + 1; i++)
        nvb_jsonw_array_begin(&w);
    assert_true(w.failed);
    nvb_jsonw_free(&w);
}

static void compact_mode(void **state)
{
    (void)state;
    nvb_jsonw w;
    nvb_jsonw_init(&w, 0, 0);
    nvb_jsonw_object_begin(&w);
    nvb_jsonw_kstring(&w, "a", "x");
    nvb_jsonw_key(&w, "b");
    nvb_jsonw_array_begin(&w);
    nvb_jsonw_int(&w, 1);
    nvb_jsonw_null(&w);
    nvb_jsonw_array_end(&w);
    nvb_jsonw_kbool(&w, "c", true);
    nvb_jsonw_object_end(&w);
    char *got = nvb_jsonw_finish(&w, NULL);
    assert_string_equal(got, "{\"a\":\"x\",\"b\":[1,null],\"c\":true}\n");
    free(got);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(layout_matches_jansson),
        cmocka_unit_test(numbers_match_jansson),
        cmocka_unit_test(escapes_match_jansson),
        cmocka_unit_test(dump_line_falls_back_to_jansson),
        cmocka_unit_test(invalid_utf8_stays_valid_json),
        cmocka_unit_test(misuse_fails),
        cmocka_unit_test(compact_mode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
