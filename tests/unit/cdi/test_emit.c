/* The JSON and YAML writers: exact layout, quoting of everything a YAML reader could misread,
 * and round trips (JSON -> YAML -> load -> the same data). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdi/cdi.h"

static json_t *J(const char *text)
{
    json_error_t e;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &e);
    if (!v)
        fail_msg("test JSON does not parse: %s (line %d)", e.text, e.line);
    return v;
}

/* json -> YAML -> our loader: must be equal; returns the YAML for further checks. */
static char *round_trip(const json_t *v)
{
    nvb_err err = {0};
    char *yaml = nvb_cdi_to_yaml(v, &err);
    if (!yaml)
        fail_msg("to_yaml failed: %s", err.msg);
    json_t *back = nvb_cdi_load_buffer(yaml, strlen(yaml), NVB_CDI_FORMAT_YAML, "emitted.yaml", &err);
    if (!back)
        fail_msg("emitted YAML does not load: %s\n%s", err.msg, yaml);
    if (!json_equal(v, back)) {
        char *a = json_dumps(v, JSON_ENCODE_ANY), *b = json_dumps(back, JSON_ENCODE_ANY);
        fail_msg("round trip changed the data:\n%s\nbecame\n%s\nvia\n%s", a, b, yaml);
    }
    json_decref(back);
    return yaml;
}

static void json_layout(void **state)
{
    (void)state;
    json_t *s = J("{\"cdiVersion\": \"0.5.0\", \"kind\": \"nvidia.com/gpu\", \"devices\": [{\"name\": \"0\", "
                  "\"containerEdits\": {\"env\": [\"A=1\"]}}], \"zz\": {}, \"aa\": []}");
    char *out = nvb_cdi_to_json(s);
    assert_string_equal(out,
                        "{\n"
                        "  \"cdiVersion\": \"0.5.0\",\n"
                        "  \"kind\": \"nvidia.com/gpu\",\n"
                        "  \"devices\": [\n"
                        "    {\n"
                        "      \"name\": \"0\",\n"
                        "      \"containerEdits\": {\n"
                        "        \"env\": [\n"
                        "          \"A=1\"\n"
                        "        ]\n"
                        "      }\n"
                        "    }\n"
                        "  ],\n"
                        "  \"zz\": {},\n"
                        "  \"aa\": []\n"
                        "}\n");
    free(out);
    json_decref(s);
    /* paths stay readable: '/' is not escaped */
    s = J("{\"p\": \"/usr/lib/x86_64-linux-gnu/libcuda.so.1\"}");
    out = nvb_cdi_to_json(s);
    assert_non_null(strstr(out, "\"/usr/lib/x86_64-linux-gnu/libcuda.so.1\""));
    free(out);
    json_decref(s);
}

static void yaml_layout(void **state)
{
    (void)state;
    json_t *s = J("{\"cdiVersion\": \"0.5.0\", \"kind\": \"nvidia.com/gpu\", \"devices\": [{\"name\": \"0\", "
                  "\"containerEdits\": {\"deviceNodes\": [{\"path\": \"/dev/nvidia0\", \"major\": 195, "
                  "\"minor\": 0}], \"env\": []}}], \"containerEdits\": {\"hooks\": [{\"hookName\": "
                  "\"createContainer\", \"path\": \"/usr/bin/nvbind\", \"args\": [\"nvbind\", \"hook\"]}], "
                  "\"mounts\": {}}}");
    nvb_err err = {0};
    char *out = nvb_cdi_to_yaml(s, &err);
    assert_string_equal(out,
                        "cdiVersion: \"0.5.0\"\n"
                        "kind: \"nvidia.com/gpu\"\n"
                        "devices:\n"
                        "  - name: \"0\"\n"
                        "    containerEdits:\n"
                        "      deviceNodes:\n"
                        "        - path: \"/dev/nvidia0\"\n"
                        "          major: 195\n"
                        "          minor: 0\n"
                        "      env: []\n"
                        "containerEdits:\n"
                        "  hooks:\n"
                        "    - hookName: \"createContainer\"\n"
                        "      path: \"/usr/bin/nvbind\"\n"
                        "      args:\n"
                        "        - \"nvbind\"\n"
                        "        - \"hook\"\n"
                        "  mounts: {}\n");
    free(out);
    json_decref(s);
}

/* Strings a careless YAML writer would leave plain and a reader would then turn into numbers,
 * booleans, null, comments, anchors, or break across lines. */
static const char *const tricky[] = {
    "0", "007", "0x1F", "0o17", "1e3", "1.5", "-1", "+1", ".inf", "-.Inf", ".NaN", "1_000",
    "true", "False", "yes", "No", "on", "OFF", "y", "n", "null", "Null", "~", "",
    " leading", "trailing ", "  ", "a: b", "a:b", "#comment", "a #b", "- x", "-", "--- x", "...", "? x", ": x",
    "[a, b]", "{a: b}", "*alias", "&anchor", "!tag", "!!str", "|", ">", "%YAML", "@x", "`x", "'single'",
    "\"double\"", "back\\slash", "line\nbreak", "tab\tx", "cr\rx", "bell\x07", "esc\x1b[0m", "del\x7f",
    "\xc2\x80 c1", "\xc2\x85 nel", "\xc2\xa0 nbsp", "\xe2\x80\xa8 ls", "\xe2\x80\xa9 ps", "\xef\xbb\xbf bom",
    "\xef\xbf\xbe nonchar", "caf\xc3\xa9", "\xe6\x97\xa5\xe6\x9c\xac", "\xf0\x9f\x9a\x80 rocket",
    "NVIDIA_VISIBLE_DEVICES=void", "/dev/nvidia0", "ro,nosuid", "x=\"y\"",
};

static void tricky_strings_survive_as_strings(void **state)
{
    (void)state;
    json_t *list = json_array();
    for (size_t i = 0; i < sizeof tricky / sizeof tricky[0]; i++)
        json_array_append_new(list, json_string(tricky[i]));
    /* as annotation values, env entries, names and free values in unknown places */
    json_t *ann = json_object();
    for (size_t i = 0; i < sizeof tricky / sizeof tricky[0]; i++) {
        char key[32];
        snprintf(key, sizeof key, "k%zu", i);
        json_object_set_new(ann, key, json_string(tricky[i]));
    }
    json_t *spec = json_pack("{s:s, s:s, s:o, s:[{s:s, s:{s:O}}], s:O}", "cdiVersion", "0.6.0", "kind",
                             "v.com/d", "annotations", ann, "devices", "name", "0", "containerEdits", "env", list,
                             "unknownPlace", list);
    assert_non_null(spec);
    char *yaml = round_trip(spec);
    /* every string is written double-quoted */
    assert_non_null(strstr(yaml, "  - \"yes\"\n"));
    assert_non_null(strstr(yaml, "  - \"0\"\n"));
    assert_non_null(strstr(yaml, "  - \"\"\n"));
    assert_non_null(strstr(yaml, "\"\\L ls\""));
    assert_null(strstr(yaml, "\xe2\x80\xa8")); /* raw line separator never written */
    assert_null(strchr(yaml, '\r'));
    assert_null(strchr(yaml, '\t'));
    free(yaml);
    json_decref(list);
    json_decref(spec);
}

static void tricky_keys_are_quoted(void **state)
{
    (void)state;
    json_t *obj = J("{\"y\": 1, \"on\": 2, \"1\": 3, \"a b\": 4, \"\": 5, \"with:colon\": 6, \"#x\": 7, "
                    "\"\\u043a\\u043b\\u044e\\u0447\": 8, \"plainKey_1\": 9, \"NULL\": 10, \"-\": 11}");
    char *yaml = round_trip(obj);
    assert_non_null(strstr(yaml, "\"y\": 1\n"));
    assert_non_null(strstr(yaml, "\"on\": 2\n"));
    assert_non_null(strstr(yaml, "\"1\": 3\n"));
    assert_non_null(strstr(yaml, "\"\": 5\n"));
    assert_non_null(strstr(yaml, "\nplainKey_1: 9\n"));
    free(yaml);
    json_decref(obj);
}

static void numbers_booleans_null_keep_their_types(void **state)
{
    (void)state;
    json_t *v = J("{\"cdiVersion\": \"0.7.0\", \"kind\": \"v.com/d\", \"devices\": [{\"name\": \"d\", "
                  "\"containerEdits\": {\"deviceNodes\": [{\"path\": \"/dev/x\", \"major\": -9223372036854775808, "
                  "\"minor\": 9223372036854775807, \"fileMode\": 8630, \"uid\": 0, \"gid\": 4294967295}], "
                  "\"hooks\": [{\"hookName\": \"poststop\", \"path\": \"/h\", \"timeout\": 30}], "
                  "\"additionalGids\": [0, 44, 4294967295], \"intelRdt\": {\"enableCMT\": true, "
                  "\"enableMBM\": false}}}], \"x\": {\"real\": 1.5, \"big\": 1e300, \"neg\": -0.25, \"t\": true, "
                  "\"f\": false, \"n\": null, \"nested\": [[1, [2, []]], {}, [{\"a\": [null]}]]}}");
    char *yaml = round_trip(v);
    assert_non_null(strstr(yaml, "major: -9223372036854775808\n"));
    assert_non_null(strstr(yaml, "enableCMT: true\n"));
    assert_non_null(strstr(yaml, "\"n\": null\n")); /* "n" is a YAML 1.1 boolean: quoted */
    free(yaml);
    json_decref(v);
}

/* Invalid specs too: a number where CDI wants a string is tagged so it reads back a number. */
static void wrong_types_in_string_fields_round_trip(void **state)
{
    (void)state;
    json_t *v = J("{\"cdiVersion\": 5, \"kind\": true, \"devices\": [{\"name\": 0, \"containerEdits\": "
                  "{\"env\": [1, 2.5, false, null, \"A=1\"], \"deviceNodes\": [{\"path\": 3, \"major\": \"195\"}]}}], "
                  "\"annotations\": {\"a\": 1}}");
    char *yaml = round_trip(v);
    assert_non_null(strstr(yaml, "cdiVersion: !!int 5\n"));
    assert_non_null(strstr(yaml, "name: !!int 0\n"));
    assert_non_null(strstr(yaml, "major: \"195\"\n"));
    free(yaml);
    json_decref(v);
}

static void top_level_shapes(void **state)
{
    (void)state;
    const char *docs[] = {"[]", "{}", "[1, \"a\", {\"b\": [true]}]", "\"just a string\"", "42",
                          "[[[[\"deep\"]]]]"};
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        json_t *v = J(docs[i]);
        free(round_trip(v));
        json_decref(v);
    }
    /* a null document is no spec: written, then refused when read back */
    json_t *n = json_null();
    nvb_err err = {0};
    char *y = nvb_cdi_to_yaml(n, &err);
    assert_string_equal(y, "null\n");
    assert_null(nvb_cdi_load_buffer(y, strlen(y), NVB_CDI_FORMAT_YAML, "n.yaml", &err));
    assert_non_null(strstr(err.msg, "the document is empty"));
    free(y);
}

static void yaml_ends_with_a_newline_and_json_too(void **state)
{
    (void)state;
    json_t *v = J("{\"a\": \"b\"}");
    nvb_err err = {0};
    char *y = nvb_cdi_to_yaml(v, &err), *j = nvb_cdi_to_json(v);
    assert_int_equal(y[strlen(y) - 1], '\n');
    assert_int_equal(j[strlen(j) - 1], '\n');
    assert_string_equal(y, "a: \"b\"\n");
    free(y);
    free(j);
    json_decref(v);
}

static void too_deep_is_an_error_not_a_crash(void **state)
{
    (void)state;
    json_t *root = json_array(), *cur = root;
    for (int i = 0; i < NVB_CDI_MAX_DEPTH + 5; i++) {
        json_t *next = json_array();
        json_array_append_new(cur, next);
        cur = next;
    }
    nvb_err err = {0};
    assert_null(nvb_cdi_to_yaml(root, &err));
    assert_non_null(strstr(err.msg, "nesting deeper"));
    assert_null(nvb_cdi_to_yaml(NULL, &err));
    json_decref(root);
}

/* YAML readers refuse implicit keys longer than 1024 characters: long keys go explicit. */
static void long_keys(void **state)
{
    (void)state;
    char key[1500];
    memset(key, 'k', sizeof key - 1);
    key[sizeof key - 1] = '\0';
    key[700] = ':'; /* and needs quoting */
    json_t *inner = json_pack("{s:i, s:{s:[s]}}", key, 1, "b", key, "x");
    json_t *v = json_pack("{s:s, s:[O, O], s:O}", key, "value", "list", inner, inner, "obj", inner);
    char *yaml = round_trip(v);
    assert_non_null(strstr(yaml, "? \"kkkk"));
    assert_non_null(strstr(yaml, "\n  - ? \"kkk"));
    free(yaml);
    json_decref(inner);
    json_decref(v);
}

/* A NUL inside a string: written escaped, refused by the loader with a clear message. */
static void nul_in_string(void **state)
{
    (void)state;
    json_t *v = json_pack("{s:s%}", "a", "x\0y", (size_t)3);
    nvb_err err = {0};
    char *y = nvb_cdi_to_yaml(v, &err);
    assert_string_equal(y, "a: \"x\\0y\"\n");
    assert_null(nvb_cdi_load_buffer(y, strlen(y), NVB_CDI_FORMAT_YAML, "nul.yaml", &err));
    assert_non_null(strstr(err.msg, "nul.yaml:1:4: a NUL character"));
    free(y);
    json_decref(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(json_layout),
        cmocka_unit_test(yaml_layout),
        cmocka_unit_test(tricky_strings_survive_as_strings),
        cmocka_unit_test(tricky_keys_are_quoted),
        cmocka_unit_test(numbers_booleans_null_keep_their_types),
        cmocka_unit_test(wrong_types_in_string_fields_round_trip),
        cmocka_unit_test(top_level_shapes),
        cmocka_unit_test(yaml_ends_with_a_newline_and_json_too),
        cmocka_unit_test(too_deep_is_an_error_not_a_crash),
        cmocka_unit_test(long_keys),
        cmocka_unit_test(nul_in_string),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
