/* CDI name rules: what a user can put in --kind and in device names, and what engines accept. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "cdi/cdi.h"

typedef bool (*name_rule)(const char *s, char *why, size_t len);

static void expect_valid(name_rule valid, const char *s)
{
    char why[256] = "";
    if (!valid(s, why, sizeof why))
        fail_msg("%s rejected: %s", s, why);
}

/* what: "kind", "device name", for the failure message. */
static void expect_refused(name_rule valid, const char *what, const char *s, const char *reason_part)
{
    char why[256] = "";
    if (valid(s, why, sizeof why))
        fail_msg("%s \"%s\" accepted", what, s);
    if (!strstr(why, reason_part))
        fail_msg("%s \"%s\": reason \"%s\" does not mention \"%s\"", what, s, why, reason_part);
}

static void kinds_engines_use_are_valid(void **state)
{
    (void)state;
    const char *good[] = {"nvidia.com/gpu", "nvidia.com/gpu-bolt", "vendor.com/device", "foo.bar.baz/foo-bar123.B_az",
                          "a/b", "Vendor_1.example-org/Class_2", "x.y/mig-1g.10gb"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        expect_valid(nvb_cdi_kind_valid, good[i]);
}

static void bad_kinds_are_refused_with_a_reason(void **state)
{
    (void)state;
    static const struct {
        const char *kind, *reason_part;
    } bad[] = {
        {"", "empty"},
        {"foo", "no '/'"},
        {"vendor.com/foo/", "exactly one '/'"},
        {"vendor.com/foo/bar", "exactly one '/'"},
        {"/gpu", "vendor is empty"},
        {"nvidia.com/", "class is empty"},
        {"1nvidia.com/gpu", "start with a letter"},
        {"nvidia.com/1gpu", "start with a letter"},
        {"nvidia.com-/gpu", "end with a letter or digit"},
        {"nvidia.com/gpu-", "end with a letter or digit"},
        {"nvi dia.com/gpu", "' '"},
        {"nvidia.com/g!pu", "'!'"},
        {"nvidia..com/gpu", "empty label"},
        {"nvidia.com/gpu=0", "'='"},
        {"nvidia.com/g\x01pu", "\\x01"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_refused(nvb_cdi_kind_valid, "kind", bad[i].kind, bad[i].reason_part);
    assert_false(nvb_cdi_kind_valid(NULL, NULL, 0)); /* no reason buffer: still answers */
}

static void kind_length_limits(void **state)
{
    (void)state;
    char kind[600];
    /* class: 63 characters allowed, 64 refused */
    snprintf(kind, sizeof kind, "v.com/%s", "c23456789012345678901234567890123456789012345678901234567890123");
    assert_int_equal(strlen(kind) - 6, 63);
    assert_true(nvb_cdi_kind_valid(kind, NULL, 0));
    snprintf(kind, sizeof kind, "v.com/%s", "c234567890123456789012345678901234567890123456789012345678901234");
    char why[256];
    assert_false(nvb_cdi_kind_valid(kind, why, sizeof why));
    assert_non_null(strstr(why, "at most 63"));
    /* vendor: 253 allowed, 254 refused */
    char vendor[300];
    memset(vendor, 'a', 253);
    vendor[253] = '\0';
    assert_true(nvb_cdi_vendor_valid(vendor, NULL, 0));
    vendor[253] = 'a';
    vendor[254] = '\0';
    assert_false(nvb_cdi_vendor_valid(vendor, why, sizeof why));
    snprintf(kind, sizeof kind, "%s/gpu", vendor);
    assert_false(nvb_cdi_kind_valid(kind, why, sizeof why));
    assert_non_null(strstr(why, "at most 253"));
}

static void device_names(void **state)
{
    (void)state;
    const char *good[] = {"0", "gpu0", "GPU-8f1c1d5e-6c1b-4a3e-9d0e-1234567890ab", "0:1", "MIG-abc", "all",
                          "a.b_c-d:e", "9"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        expect_valid(nvb_cdi_device_name_valid, good[i]);
    static const struct {
        const char *name, *reason_part;
    } bad[] = {
        {"", "empty"},
        {"bad name!", "' '"},
        {"-0", "start with a letter or digit"},
        {"gpu0:", "end with a letter or digit"},
        {"gpu/0", "'/'"},
        {"gpu=0", "'='"},
        {":", "start with"},
        {"g\xc3\xa9", "\\xc3"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_refused(nvb_cdi_device_name_valid, "device name", bad[i].name, bad[i].reason_part);
}

static void qualified_names_parse_and_format(void **state)
{
    (void)state;
    nvb_cdi_qname q;
    char why[256];
    assert_true(nvb_cdi_parse_qualified_name("nvidia.com/gpu=0:1", &q, why, sizeof why));
    assert_string_equal(q.vendor, "nvidia.com");
    assert_string_equal(q.cls, "gpu");
    assert_string_equal(q.name, "0:1");
    nvb_cdi_qname_free(&q);
    assert_null(q.vendor);

    /* the first '=' separates the name, so '=' cannot hide in the class */
    assert_false(nvb_cdi_parse_qualified_name("nvidia.com/gpu=a=b", &q, why, sizeof why));
    assert_null(q.name);
    assert_false(nvb_cdi_parse_qualified_name("nvidia.com/gpu", &q, why, sizeof why));
    assert_non_null(strstr(why, "no '='"));
    assert_false(nvb_cdi_parse_qualified_name("gpu=0", &q, why, sizeof why));
    assert_non_null(strstr(why, "no '/'"));
    assert_false(nvb_cdi_parse_qualified_name("nvidia.com/gpu=", &q, why, sizeof why));
    assert_false(nvb_cdi_parse_qualified_name("/dev/nvidia0", &q, why, sizeof why));
    assert_false(nvb_cdi_parse_qualified_name("nvidia.com/gpu=bad name", &q, why, sizeof why));
    assert_non_null(strstr(why, "' '"));

    char *s = nvb_cdi_qualified_name("nvidia.com/gpu", "GPU-1");
    assert_string_equal(s, "nvidia.com/gpu=GPU-1");
    assert_true(nvb_cdi_parse_qualified_name(s, &q, NULL, 0));
    assert_string_equal(q.name, "GPU-1");
    nvb_cdi_qname_free(&q);
    free(s);
}

static void reasons_are_truncated_safely(void **state)
{
    (void)state;
    char why[8];
    assert_false(nvb_cdi_kind_valid("no-slash-here", why, sizeof why));
    assert_int_equal(strlen(why), sizeof why - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(kinds_engines_use_are_valid),
        cmocka_unit_test(bad_kinds_are_refused_with_a_reason),
        cmocka_unit_test(kind_length_limits),
        cmocka_unit_test(device_names),
        cmocka_unit_test(qualified_names_parse_and_format),
        cmocka_unit_test(reasons_are_truncated_safely),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
