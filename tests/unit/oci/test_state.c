/* The container state a runtime passes to hooks: what is accepted and what is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "oci/state.h"
#include "oci_test_util.h"

static int parse(const char *json, nvb_oci_state *st, nvb_err *err)
{
    return nvb_oci_state_parse(json, strlen(json), st, err);
}

static void test_runc_state(void **unused)
{
    (void)unused;
    const char *json = "{\"ociVersion\":\"1.0.2-dev\",\"id\":\"c1\",\"status\":\"creating\",\"pid\":4242,"
                       "\"bundle\":\"/run/containers/c1/userdata\",\"annotations\":{\"a\":\"b\"}}";
    nvb_oci_state st;
    nvb_err err = {0};
    assert_int_equal(parse(json, &st, &err), 0);
    assert_string_equal(st.bundle, "/run/containers/c1/userdata");
    assert_string_equal(st.id, "c1");
    assert_string_equal(st.status, "creating");
    assert_string_equal(st.oci_version, "1.0.2-dev");
    assert_int_equal(st.pid, 4242);
    nvb_oci_state_free(&st);
}

static void test_only_bundle(void **unused)
{
    (void)unused;
    nvb_oci_state st;
    nvb_err err = {0};
    assert_int_equal(parse("{\"bundle\":\"/b\"}", &st, &err), 0);
    assert_string_equal(st.bundle, "/b");
    assert_null(st.id);
    assert_int_equal(st.pid, -1);
    nvb_oci_state_free(&st);
}

/* Each refused document and the words its error must contain. */
static void test_refused(void **unused)
{
    (void)unused;
    static const struct {
        const char *json, *want;
    } cases[] = {
        {"", "container state: line"},
        {"{\"bundle\":", "container state: line 1"},
        {"[\"/b\"]", "not a JSON object"},
        {"{\"id\":\"x\"}", "\"bundle\" missing"},
        {"{\"bundle\":\"rel/dir\"}", "\"bundle\" rel/dir is not an absolute path"},
        {"{\"bundle\":\"\"}", "is not an absolute path"},
        {"{\"bundle\":42}", "\"bundle\" is not a string"},
        {"{\"bundle\":\"/b\",\"pid\":-3}", "\"pid\" is not a non-negative integer"},
        {"{\"bundle\":\"/b\",\"pid\":\"12\"}", "\"pid\" is not a non-negative integer"},
        {"{\"bundle\":\"/b\",\"id\":[]}", "\"id\" is not a string"},
        {"{\"bundle\":\"/a\",\"bundle\":\"/b\"}", "duplicate"},
        {"{\"bundle\":\"/a\\u0000/b\"}", "container state"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nvb_oci_state st;
        nvb_err err = {0};
        if (parse(cases[i].json, &st, &err) == 0)
            fail_msg("accepted %s", cases[i].json);
        assert_int_equal(err.exit_code, NVB_EXIT_INPUT);
        assert_contains(err.msg, cases[i].want);
        assert_null(st.bundle);
    }
}

static void test_huge_input(void **unused)
{
    (void)unused;
    /* A valid document padded past the limit with whitespace. */
    size_t len = NVB_OCI_STATE_MAX + 16;
    char *buf = malloc(len);
    assert_non_null(buf);
    memset(buf, ' ', len);
    memcpy(buf, "{\"bundle\":\"/b\"}", 15);
    nvb_oci_state st;
    nvb_err err = {0};
    assert_int_equal(nvb_oci_state_parse(buf, len, &st, &err), -1);
    assert_contains(err.msg, "larger than 1048576 bytes");

    /* The same through a pipe-like fd: read stops at the limit instead of eating it all. */
    char *dir = t_mkdtemp();
    char *path = t_printf("%s/state", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, len, f), len);
    fclose(f);
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    nvb_err err2 = {0};
    assert_int_equal(nvb_oci_state_read_fd(fd, &st, &err2), -1);
    assert_contains(err2.msg, "container state on stdin: larger than 1048576 bytes");
    close(fd);
    t_rm_rf(dir);
    free(path);
    free(dir);
    free(buf);
}

static void test_read_fd(void **unused)
{
    (void)unused;
    int p[2];
    assert_int_equal(pipe(p), 0);
    const char *json = "{\"ociVersion\":\"1.0.2\",\"id\":\"x\",\"status\":\"creating\",\"bundle\":\"/srv/b\"}";
    assert_int_equal(write(p[1], json, strlen(json)), (ssize_t)strlen(json));
    close(p[1]);
    nvb_oci_state st;
    nvb_err err = {0};
    assert_int_equal(nvb_oci_state_read_fd(p[0], &st, &err), 0);
    assert_string_equal(st.bundle, "/srv/b");
    nvb_oci_state_free(&st);
    close(p[0]);

    assert_int_equal(pipe(p), 0);
    close(p[1]);
    nvb_err err2 = {0};
    assert_int_equal(nvb_oci_state_read_fd(p[0], &st, &err2), -1);
    assert_contains(err2.msg, "container state on stdin: empty");
    close(p[0]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_runc_state), cmocka_unit_test(test_only_bundle), cmocka_unit_test(test_refused),
        cmocka_unit_test(test_huge_input), cmocka_unit_test(test_read_fd),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
