/* "TARGET::LINK" arguments and container path rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "oci/safepath.h"
#include "oci/symlinks.h"
#include "oci_test_util.h"

static void test_parse_ok(void **unused)
{
    (void)unused;
    nvb_link_spec l;
    nvb_err err = {0};
    assert_int_equal(nvb_link_spec_parse("libcuda.so.1::/usr/lib/x86_64-linux-gnu/libcuda.so", &l, &err), 0);
    assert_string_equal(l.target, "libcuda.so.1");
    assert_string_equal(l.link, "/usr/lib/x86_64-linux-gnu/libcuda.so");
    nvb_link_spec_free(&l);

    /* Absolute and ".."-relative targets are just link content: allowed. */
    assert_int_equal(nvb_link_spec_parse("../lib/libGLX_nvidia.so.0::/usr/lib64/libGLX_indirect.so.0", &l, &err), 0);
    assert_string_equal(l.target, "../lib/libGLX_nvidia.so.0");
    nvb_link_spec_free(&l);
    assert_int_equal(nvb_link_spec_parse("/abs/target::/l", &l, &err), 0);
    assert_string_equal(l.target, "/abs/target");
    assert_string_equal(l.link, "/l");
    nvb_link_spec_free(&l);

    /* The split is at the last "::". */
    assert_int_equal(nvb_link_spec_parse("a::b::/c", &l, &err), 0);
    assert_string_equal(l.target, "a::b");
    assert_string_equal(l.link, "/c");
    nvb_link_spec_free(&l);
}

static void test_parse_refused(void **unused)
{
    (void)unused;
    static const struct {
        const char *arg, *want;
    } cases[] = {
        {"libcuda.so.1", "expected TARGET::LINK"},
        {"libcuda.so.1:/usr/lib/libcuda.so", "expected TARGET::LINK"},
        {"::/usr/lib/libcuda.so", "TARGET is empty"},
        {"x::usr/lib/libcuda.so", "not an absolute path"},
        {"x::", "not an absolute path"},
        {"x::/", "is the root itself"},
        {"x::/usr/../etc/passwd", "'..'"},
        {"x::/usr/./lib", "'.'"},
        {"x::/usr//lib", "empty component"},
        {"x::/usr/lib/", "trailing"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nvb_link_spec l;
        nvb_err err = {0};
        if (nvb_link_spec_parse(cases[i].arg, &l, &err) == 0)
            fail_msg("accepted %s", cases[i].arg);
        assert_int_equal(err.exit_code, NVB_EXIT_USAGE);
        assert_contains(err.msg, cases[i].arg);
        assert_contains(err.msg, cases[i].want);
        assert_null(l.target);
    }
}

static void test_long_parts(void **unused)
{
    (void)unused;
    nvb_link_spec l;
    nvb_err err = {0};
    char *big = malloc(5000);
    assert_non_null(big);
    memset(big, 'a', 4200);
    strcpy(big + 4200, "::/x");
    assert_int_equal(nvb_link_spec_parse(big, &l, &err), -1);
    assert_contains(err.msg, "TARGET is longer than");

    /* One component longer than NAME_MAX. */
    strcpy(big, "t::/");
    memset(big + 4, 'n', 300);
    big[304] = '\0';
    assert_int_equal(nvb_link_spec_parse(big, &l, &err), -1);
    assert_contains(err.msg, "NAME_MAX");
    free(big);
}

static void test_container_path_ok(void **unused)
{
    (void)unused;
    assert_true(nvb_container_path_ok("/usr/lib/x86_64-linux-gnu", false, NULL));
    assert_true(nvb_container_path_ok("/a", false, NULL));
    assert_true(nvb_container_path_ok("/...", false, NULL)); /* a legal name */
    assert_true(nvb_container_path_ok("/..a/b.", false, NULL));
    assert_true(nvb_container_path_ok("/", true, NULL));
    assert_false(nvb_container_path_ok("/", false, NULL));
    assert_false(nvb_container_path_ok("", false, NULL));
    assert_false(nvb_container_path_ok("a/b", false, NULL));
    assert_false(nvb_container_path_ok("/a/..", false, NULL));
    assert_false(nvb_container_path_ok("/../a", false, NULL));
    assert_false(nvb_container_path_ok("/a/./b", false, NULL));
    assert_false(nvb_container_path_ok("//a", false, NULL));
    assert_false(nvb_container_path_ok("/a/", false, NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_ok),
        cmocka_unit_test(test_parse_refused),
        cmocka_unit_test(test_long_parts),
        cmocka_unit_test(test_container_path_ok),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
