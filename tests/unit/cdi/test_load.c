/* The loader: JSON and YAML into the same model, YAML scalars typed as the engines read them,
 * errors that name file, line and column, and hostile documents refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cdi/cdi.h"

static json_t *yaml_ok(const char *text)
{
    nvb_err err = {0};
    json_t *v = nvb_cdi_load_buffer(text, strlen(text), NVB_CDI_FORMAT_YAML, "t.yaml", &err);
    if (!v)
        fail_msg("YAML did not load: %s\n%s", err.msg, text);
    return v;
}

/* Loading must fail with a message containing want. */
static void load_fails(const char *text, nvb_cdi_format fmt, const char *want)
{
    nvb_err err = {0};
    json_t *v = nvb_cdi_load_buffer(text, strlen(text), fmt, "t.yaml", &err);
    if (v) {
        char *s = json_dumps(v, JSON_ENCODE_ANY);
        fail_msg("loaded although it should not:\n%s\nas %s", text, s);
    }
    if (!strstr(err.msg, want))
        fail_msg("error \"%s\" does not contain \"%s\"", err.msg, want);
    assert_int_equal(err.exit_code, NVB_EXIT_INPUT);
}

static const json_t *at(const json_t *root, const char *path)
{
    /* path like "devices.0.containerEdits.deviceNodes.0.major" */
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    const json_t *cur = root;
    for (char *save = NULL, *tok = strtok_r(buf, ".", &save); tok && cur; tok = strtok_r(NULL, ".", &save))
        cur = json_is_array(cur) ? json_array_get(cur, strtoul(tok, NULL, 10)) : json_object_get(cur, tok);
    if (!cur)
        fail_msg("no %s in the loaded document", path);
    return cur;
}

static void yaml_scalars_are_typed_by_field(void **state)
{
    (void)state;
    json_t *v = yaml_ok("cdiVersion: 0.5.0\n"
                        "kind: nvidia.com/gpu\n"
                        "devices:\n"
                        "- name: 0\n"
                        "  containerEdits:\n"
                        "    deviceNodes:\n"
                        "    - path: /dev/nvidia0\n"
                        "      hostPath:\n"
                        "      major: 195\n"
                        "      minor: 0x10\n"
                        "      fileMode: 0o666\n"
                        "      uid: 0666\n"
                        "      gid: \"5\"\n"
                        "      type: c\n"
                        "    env: [true, 1.5, A=1]\n"
                        "    intelRdt: {enableCMT: yes, enableMBM: Off}\n"
                        "    additionalGids: [44, 0b101, 1_000]\n"
                        "- name: yes\n"
                        "  annotations: {a: 1, b: null}\n"
                        "  containerEdits: {}\n"
                        "unknownInt: 12\n"
                        "unknownYes: yes\n"
                        "unknownTrue: true\n"
                        "unknownReal: 2.5e3\n"
                        "unknownNull: ~\n"
                        "unknownStr: hello world\n");
    assert_string_equal(json_string_value(at(v, "cdiVersion")), "0.5.0");
    assert_string_equal(json_string_value(at(v, "devices.0.name")), "0");
    assert_true(json_is_null(at(v, "devices.0.containerEdits.deviceNodes.0.hostPath")));
    assert_int_equal(json_integer_value(at(v, "devices.0.containerEdits.deviceNodes.0.major")), 195);
    assert_int_equal(json_integer_value(at(v, "devices.0.containerEdits.deviceNodes.0.minor")), 16);
    assert_int_equal(json_integer_value(at(v, "devices.0.containerEdits.deviceNodes.0.fileMode")), 0666);
    assert_int_equal(json_integer_value(at(v, "devices.0.containerEdits.deviceNodes.0.uid")), 0666);
    assert_string_equal(json_string_value(at(v, "devices.0.containerEdits.deviceNodes.0.gid")), "5");
    assert_string_equal(json_string_value(at(v, "devices.0.containerEdits.env.0")), "true");
    assert_string_equal(json_string_value(at(v, "devices.0.containerEdits.env.1")), "1.5");
    assert_true(json_is_true(at(v, "devices.0.containerEdits.intelRdt.enableCMT")));
    assert_true(json_is_false(at(v, "devices.0.containerEdits.intelRdt.enableMBM")));
    assert_int_equal(json_integer_value(at(v, "devices.0.containerEdits.additionalGids.1")), 5);
    assert_int_equal(json_integer_value(at(v, "devices.0.containerEdits.additionalGids.2")), 1000);
    assert_string_equal(json_string_value(at(v, "devices.1.name")), "yes");
    assert_string_equal(json_string_value(at(v, "devices.1.annotations.a")), "1");
    assert_true(json_is_null(at(v, "devices.1.annotations.b")));
    assert_int_equal(json_integer_value(at(v, "unknownInt")), 12);
    assert_string_equal(json_string_value(at(v, "unknownYes")), "yes"); /* YAML 1.2 core outside CDI fields */
    assert_true(json_is_true(at(v, "unknownTrue")));
    assert_true(json_real_value(at(v, "unknownReal")) == 2500.0);
    assert_true(json_is_null(at(v, "unknownNull")));
    assert_string_equal(json_string_value(at(v, "unknownStr")), "hello world");
    json_decref(v);
}

static void quoted_and_tagged_scalars(void **state)
{
    (void)state;
    json_t *v = yaml_ok("devices:\n"
                        "- name: '007'\n"
                        "  containerEdits:\n"
                        "    deviceNodes:\n"
                        "    - major: \"195\"\n"
                        "      minor: !!str 7\n"
                        "      uid: !!int \"9\"\n"
                        "      path: |\n"
                        "        /dev/lit\n"
                        "x: !!float 3\n"
                        "y: !!bool yes\n"
                        "z: !!null ''\n");
    assert_string_equal(json_string_value(at(v, "devices.0.name")), "007");
    assert_string_equal(json_string_value(at(v, "devices.0.containerEdits.deviceNodes.0.major")), "195");
    assert_string_equal(json_string_value(at(v, "devices.0.containerEdits.deviceNodes.0.minor")), "7");
    assert_int_equal(json_integer_value(at(v, "devices.0.containerEdits.deviceNodes.0.uid")), 9);
    assert_string_equal(json_string_value(at(v, "devices.0.containerEdits.deviceNodes.0.path")), "/dev/lit\n");
    assert_true(json_real_value(at(v, "x")) == 3.0);
    assert_true(json_is_true(at(v, "y")));
    assert_true(json_is_null(at(v, "z")));
    json_decref(v);

    load_fails("a: !!int abc\n", NVB_CDI_FORMAT_YAML, "t.yaml:1:4: value is tagged !!int");
    load_fails("a: !custom x\n", NVB_CDI_FORMAT_YAML, "tag \"!custom\" is not supported");
    load_fails("a: !!set {x}\n", NVB_CDI_FORMAT_YAML, "is not supported");
}

static void json_and_yaml_give_the_same_model(void **state)
{
    (void)state;
    const char *json = "{\"cdiVersion\": \"0.5.0\", \"kind\": \"v.com/d\", \"devices\": [{\"name\": \"0\", "
                       "\"containerEdits\": {\"deviceNodes\": [{\"path\": \"/dev/x\", \"major\": 1}]}}]}";
    const char *yaml = "cdiVersion: 0.5.0\nkind: v.com/d\ndevices:\n  - name: 0\n    containerEdits:\n"
                       "      deviceNodes:\n        - {path: /dev/x, major: 1}\n";
    nvb_err err = {0};
    json_t *a = nvb_cdi_load_buffer(json, strlen(json), NVB_CDI_FORMAT_AUTO, "a.json", &err);
    json_t *b = nvb_cdi_load_buffer(yaml, strlen(yaml), NVB_CDI_FORMAT_AUTO, "b.yaml", &err);
    json_t *c = nvb_cdi_load_buffer(json, strlen(json), NVB_CDI_FORMAT_YAML, "c.yaml", &err); /* JSON is YAML */
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    assert_true(json_equal(a, b));
    assert_true(json_equal(a, c));
    json_decref(a);
    json_decref(b);
    json_decref(c);
}

static void errors_name_file_line_and_column(void **state)
{
    (void)state;
    load_fails("{\"a\": 1, \"a\": 2}", NVB_CDI_FORMAT_JSON, "duplicate object key");
    load_fails("kind: x\ndevices:\n  - name: a\n     bad: indentation\n", NVB_CDI_FORMAT_YAML, "t.yaml:4:");
    load_fails("a: b: c\n", NVB_CDI_FORMAT_YAML, "t.yaml:1:5: mapping values are not allowed");
    load_fails("kind: a\nkind: b\n", NVB_CDI_FORMAT_YAML, "t.yaml:2:1: duplicate key \"kind\"");
    load_fails("a: [1, 2\n", NVB_CDI_FORMAT_YAML, "t.yaml:2:");
    load_fails("a: \"\\ud800\"\n", NVB_CDI_FORMAT_YAML, "invalid Unicode");
    load_fails("a: \xff\n", NVB_CDI_FORMAT_YAML, "t.yaml: byte 3: invalid leading UTF-8 octet");
    load_fails("{\"a\": \"\xff\"}", NVB_CDI_FORMAT_JSON, "t.yaml:1:");
    load_fails("{\"a\": \"x\\u0000y\"}", NVB_CDI_FORMAT_JSON, "NUL");
    load_fails("{\"a\": 99999999999999999999}", NVB_CDI_FORMAT_JSON, "too big");
}

static void empty_and_multi_document_inputs(void **state)
{
    (void)state;
    load_fails("", NVB_CDI_FORMAT_AUTO, "t.yaml: the file is empty");
    load_fails("  \n\t\n", NVB_CDI_FORMAT_AUTO, "the file is empty");
    load_fails("# only a comment\n", NVB_CDI_FORMAT_AUTO, "the document is empty");
    load_fails("---\n...\n", NVB_CDI_FORMAT_YAML, "the document is empty");
    load_fails("a: 1\n---\nb: 2\n", NVB_CDI_FORMAT_YAML, "t.yaml:2:1: a second YAML document");
    /* a byte order mark is fine */
    json_t *v = yaml_ok("\xef\xbb\xbf{\"a\": \"b\"}");
    assert_string_equal(json_string_value(json_object_get(v, "a")), "b");
    json_decref(v);
    nvb_err err = {0};
    const char *bom = "\xef\xbb\xbf{\"a\": 1}";
    v = nvb_cdi_load_buffer(bom, strlen(bom), NVB_CDI_FORMAT_AUTO, "bom.json", &err);
    assert_non_null(v);
    json_decref(v);
}

static void anchors_and_aliases_expand_by_copy(void **state)
{
    (void)state;
    json_t *v = yaml_ok("common: &e {env: [A=1], deviceNodes: [{path: /dev/x, major: 5}]}\n"
                        "devices:\n"
                        "- {name: a, containerEdits: *e}\n"
                        "- {name: b, containerEdits: *e}\n"
                        "n: &num 7\n"
                        "m: *num\n");
    const json_t *a = at(v, "devices.0.containerEdits"), *b = at(v, "devices.1.containerEdits");
    assert_true(json_equal(a, b));
    assert_ptr_not_equal(a, b); /* separate copies: editing one leaves the other alone */
    assert_int_equal(json_integer_value(at(v, "devices.1.containerEdits.deviceNodes.0.major")), 5);
    assert_int_equal(json_integer_value(at(v, "m")), 7);
    json_decref(v);

    load_fails("a: *nothing\n", NVB_CDI_FORMAT_YAML, "alias *nothing refers to no complete anchor");
    load_fails("a: &x [1, *x]\n", NVB_CDI_FORMAT_YAML, "refers to no complete anchor"); /* self reference */
    load_fails("a: &k key\n*k : v\n", NVB_CDI_FORMAT_YAML, "an alias as a mapping key");
    load_fails("? [a]\n: b\n", NVB_CDI_FORMAT_YAML, "a sequence as a mapping key");
}

static void alias_bomb_is_refused(void **state)
{
    (void)state;
    /* "billion laughs": 10 levels of 10 aliases each would be 10^10 values */
    char doc[4096] = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
    for (int i = 1; i < 10; i++) {
        char line[256];
        snprintf(line, sizeof line, "a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n", i, i,
                 i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1);
        strcat(doc, line);
    }
    load_fails(doc, NVB_CDI_FORMAT_YAML, "aliases expanding too far");
}

static void deep_nesting_is_refused(void **state)
{
    (void)state;
    char doc[1024];
    size_t n = 0;
    for (int i = 0; i < NVB_CDI_MAX_DEPTH + 1; i++)
        doc[n++] = '[';
    for (int i = 0; i < NVB_CDI_MAX_DEPTH + 1; i++)
        doc[n++] = ']';
    doc[n] = '\0';
    load_fails(doc, NVB_CDI_FORMAT_YAML, "nesting deeper than 64 levels");
    load_fails(doc, NVB_CDI_FORMAT_JSON, "nesting deeper than 64 levels");
    load_fails(doc, NVB_CDI_FORMAT_AUTO, "nesting deeper than 64 levels");
    /* 64 levels are fine */
    n = 0;
    for (int i = 0; i < NVB_CDI_MAX_DEPTH; i++)
        doc[n++] = '[';
    for (int i = 0; i < NVB_CDI_MAX_DEPTH; i++)
        doc[n++] = ']';
    doc[n] = '\0';
    nvb_err err = {0};
    json_t *v = nvb_cdi_load_buffer(doc, n, NVB_CDI_FORMAT_YAML, "ok.yaml", &err);
    if (!v)
        fail_msg("%s", err.msg);
    json_decref(v);
    v = nvb_cdi_load_buffer(doc, n, NVB_CDI_FORMAT_JSON, "ok.json", &err);
    if (!v)
        fail_msg("%s", err.msg);
    json_decref(v);
}

static void json_looking_text_must_be_json(void **state)
{
    (void)state;
    /* YAML flow style, not JSON: read when YAML is asked for, refused when the text is sniffed */
    const char *text = "{cdiVersion: 0.5.0, kind: v.com/d, devices: [{name: 0, containerEdits: {env: [A=1]}}]}";
    nvb_err err = {0};
    json_t *v = nvb_cdi_load_buffer(text, strlen(text), NVB_CDI_FORMAT_YAML, "flow.yaml", &err);
    if (!v)
        fail_msg("%s", err.msg);
    assert_string_equal(json_string_value(at(v, "devices.0.name")), "0");
    json_decref(v);
    load_fails(text, NVB_CDI_FORMAT_AUTO, "t.yaml:1:11: string or '}' expected near 'cdiVersion'");
    /* a typo in JSON is reported where it is, not read some other way */
    load_fails("{\"a\": 1,\n \"b\": }\n", NVB_CDI_FORMAT_AUTO, "t.yaml:2:7: unexpected token");
}

static void files_by_path(void **state)
{
    (void)state;
    char dir[] = "/tmp/nvb-cdi-load-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[512];

    snprintf(path, sizeof path, "%s/spec.json", dir);
    FILE *f = fopen(path, "w");
    fputs("cdiVersion: 0.3.0\nkind: v.com/d\n", f); /* YAML in a .json file: engines accept it */
    fclose(f);
    nvb_err err = {0};
    json_t *v = nvb_cdi_load_file(path, &err);
    assert_non_null(v);
    assert_string_equal(json_string_value(json_object_get(v, "kind")), "v.com/d");
    json_decref(v);
    unlink(path);

    assert_null(nvb_cdi_load_file(path, &err));
    assert_int_equal(err.exit_code, NVB_EXIT_IO);
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, "No such file"));

    snprintf(path, sizeof path, "%s/big.yaml", dir);
    f = fopen(path, "w");
    assert_int_equal(ftruncate(fileno(f), NVB_CDI_MAX_FILE_SIZE + 1), 0);
    fclose(f);
    assert_null(nvb_cdi_load_file(path, &err));
    assert_non_null(strstr(err.msg, "larger than 16 MiB"));
    unlink(path);

    assert_null(nvb_cdi_load_file(dir, &err)); /* a directory */
    assert_non_null(strstr(err.msg, dir));
    rmdir(dir);

    assert_int_equal(nvb_cdi_format_from_path("/etc/cdi/nvidia.com-gpu.json"), NVB_CDI_FORMAT_JSON);
    assert_int_equal(nvb_cdi_format_from_path("x.yaml"), NVB_CDI_FORMAT_YAML);
    assert_int_equal(nvb_cdi_format_from_path("x.yml"), NVB_CDI_FORMAT_YAML);
    assert_int_equal(nvb_cdi_format_from_path("x.txt"), NVB_CDI_FORMAT_AUTO);
    assert_int_equal(nvb_cdi_format_from_path("-"), NVB_CDI_FORMAT_AUTO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(yaml_scalars_are_typed_by_field),
        cmocka_unit_test(quoted_and_tagged_scalars),
        cmocka_unit_test(json_and_yaml_give_the_same_model),
        cmocka_unit_test(errors_name_file_line_and_column),
        cmocka_unit_test(empty_and_multi_document_inputs),
        cmocka_unit_test(anchors_and_aliases_expand_by_copy),
        cmocka_unit_test(alias_bomb_is_refused),
        cmocka_unit_test(deep_nesting_is_refused),
        cmocka_unit_test(json_looking_text_must_be_json),
        cmocka_unit_test(files_by_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
