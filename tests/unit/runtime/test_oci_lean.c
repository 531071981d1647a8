/* config.json parsed with its seccomp profile kept as text (runtime/oci_lean.h): the
 * profile's extent is found only where it is unambiguous, and what the shim writes back is
 * the same document as parsing it all and dumping it would give. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/oci_lean.h"
#include "util/json_scan.h"
#include "runtime/oci_patch.h"

static const char *const seccomp[] = {"linux", "seccomp"};

/* The extent of linux.seccomp in doc as a string, or NULL when the scan declines. */
static char *extent(const char *doc)
{
    size_t s, e;
    if (!nvb_json_member_extent(doc, strlen(doc), seccomp, 2, &s, &e))
        return NULL;
    return strndup(doc + s, e - s);
}

static void assert_extent(const char *doc, const char *want)
{
    char *got = extent(doc);
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static void finds_the_profile(void **state)
{
    (void)state;
    assert_extent("{\"linux\":{\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ERRNO\"}}}",
                  "{\"defaultAction\":\"SCMP_ACT_ERRNO\"}");
    /* Strings holding braces, brackets, quotes and backslashes; members around it; spaces. */
    assert_extent("{ \"ociVersion\" : \"1.0\", \"process\": {\"env\": [\"A={x}\", \"B=\\\"]\\\\\"]},\n"
                  "  \"linux\" : { \"devices\": [], \"seccomp\" : {\"names\": [\"}\", \"\\\"{\", \"[\"], \"n\": 1}"
                  " , \"x\": null } , \"mounts\": [] }",
                  "{\"names\": [\"}\", \"\\\"{\", \"[\"], \"n\": 1}");
    /* "seccomp" at another level, or as a value, is not linux.seccomp. */
    assert_extent("{\"seccomp\":1,\"a\":{\"linux\":{\"seccomp\":2}},\"linux\":{\"x\":\"seccomp\",\"seccomp\":[3]}}",
                  "[3]");
}

static void declines_what_is_ambiguous_or_broken(void **state)
{
    (void)state;
    static const char *const docs[] = {
        "{\"linux\":{\"seccomp\":{},\"seccomp\":{}}}",              /* twice: jansson keeps the last */
        "{\"linux\":{\"seccomp\":{}},\"linux\":{\"seccomp\":{}}}",  /* linux twice */
        "{\"linux\":{\"s\\u0065ccomp\":{},\"seccomp\":{}}}",        /* an escaped key at that level */
        "{\"linux\":{\"seccomp\":{\"a\":[}}}",                      /* mismatched nesting */
        "{\"linux\":{\"seccomp\":{\"a\":\"open}}}",                 /* a string that never ends */
        "{\"linux\":{\"seccomp\":{}}",                              /* the document does not end */
        "{\"linux\":{}}",                                           /* no profile */
        "{\"linux\":[{\"seccomp\":{}}]}",                           /* linux not an object */
        "[{\"linux\":{\"seccomp\":{}}}]",                           /* not an object at all */
        "",
        "{\"linux\" {\"seccomp\":{}}}",                             /* no colon */
    };
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        char *got = extent(docs[i]);
        if (got)
            fail_msg("doc %zu: found '%s'", i, got);
    }
}

/* Parsed lean, then dumped: the same tree as a full parse; and the profile's bytes as they
 * were. Edits applied in between land as with a full parse. */
static void same_document_as_a_full_parse(void **state)
{
    (void)state;
    const char *doc = "{\"ociVersion\":\"1.0.2\",\"process\":{\"env\":[\"PATH=/bin\"]},\"root\":{\"path\":\"rootfs\"},"
                      "\"linux\":{\"resources\":{\"devices\":[{\"allow\":false,\"access\":\"rwm\"}]},"
                      "\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"architectures\":[\"SCMP_ARCH_X86_64\"],"
                      "\"syscalls\":[{\"names\":[\"read\",\"write\"],\"action\":\"SCMP_ACT_ALLOW\"}]},"
                      "\"namespaces\":[{\"type\":\"mount\"}]},\"mounts\":[]}";
    nvb_err err = {0};
    nvb_oci_lean lean;
    assert_int_equal(nvb_oci_config_parse_lean(doc, strlen(doc), "config.json", &lean, &err), 0);
    assert_non_null(lean.stand_in);
    assert_int_equal(json_object_size(lean.stand_in), 0);
    nvb_edits e = {0};
    assert_int_equal(nvb_strv_push(&e.env, "NVIDIA_VISIBLE_DEVICES=void"), 0);
    assert_int_equal(nvb_oci_config_apply_edits(lean.config, &e, "config.json", &err), 0);
    char *out = nvb_oci_config_dump_lean(&lean);
    assert_non_null(out);
    assert_non_null(strstr(out, "\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"architectures\""));

    json_t *full = nvb_oci_config_parse(doc, strlen(doc), "config.json", &err);
    assert_non_null(full);
    assert_int_equal(nvb_oci_config_apply_edits(full, &e, "config.json", &err), 0);
    json_t *back = json_loads(out, 0, NULL);
    assert_non_null(back);
    assert_true(json_equal(back, full));
    char *want = nvb_oci_config_dump(full);
    assert_string_equal(out, want); /* compact input: byte for byte */
    free(want);
    free(out);
    json_decref(back);
    json_decref(full);
    json_decref(lean.config);
    nvb_edits_clear(&e);
}

/* A profile written with spaces and newlines is copied as it is; the document stays JSON. */
static void pretty_profile_kept_as_written(void **state)
{
    (void)state;
    const char *doc = "{\n  \"linux\": {\n    \"seccomp\": {\n      \"defaultAction\": \"SCMP_ACT_ALLOW\"\n    }\n  }\n}\n";
    nvb_err err = {0};
    nvb_oci_lean lean;
    assert_int_equal(nvb_oci_config_parse_lean(doc, strlen(doc), "config.json", &lean, &err), 0);
    assert_non_null(lean.stand_in);
    char *out = nvb_oci_config_dump_lean(&lean);
    assert_string_equal(out, "{\"linux\":{\"seccomp\":{\n      \"defaultAction\": \"SCMP_ACT_ALLOW\"\n    }}}\n");
    json_t *back = json_loads(out, 0, NULL);
    assert_non_null(back);
    json_decref(back);
    free(out);
    json_decref(lean.config);
}

/* A syntax error outside the profile is reported at its true place in the whole text, not
 * in the shortened one; a document without a profile parses as before. */
static void errors_name_the_true_place(void **state)
{
    (void)state;
    const char *doc = "{\"linux\":{\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ALLOW\"}},\"mounts\":[,]}";
    nvb_err err = {0};
    nvb_oci_lean lean;
    assert_int_equal(nvb_oci_config_parse_lean(doc, strlen(doc), "config.json", &lean, &err), -1);
    assert_null(lean.config);
    assert_non_null(strstr(err.msg, "config.json:1:67:")); /* the cut text would say 1:35 */
    const char *plain = "{\"linux\":{}}";
    assert_int_equal(nvb_oci_config_parse_lean(plain, strlen(plain), "config.json", &lean, &err), 0);
    assert_null(lean.stand_in);
    char *out = nvb_oci_config_dump_lean(&lean);
    assert_string_equal(out, "{\"linux\":{}}\n");
    free(out);
    json_decref(lean.config);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(finds_the_profile),
        cmocka_unit_test(declines_what_is_ambiguous_or_broken),
        cmocka_unit_test(same_document_as_a_full_parse),
        cmocka_unit_test(pretty_profile_kept_as_written),
        cmocka_unit_test(errors_name_the_true_place),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
