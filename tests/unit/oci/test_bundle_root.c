/* root.path of a bundle's config.json: absolute, relative to the bundle, and broken. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <sys/stat.h>
#include <unistd.h>

#include "oci/bundle_root.h"
#include "oci_test_util.h"

static char *root_of(const char *json, nvb_err *err)
{
    return nvb_oci_config_root_path(json, strlen(json), "/b/c1", err);
}

static void test_absolute(void **unused)
{
    (void)unused;
    nvb_err err = {0};
    char *p = root_of("{\"ociVersion\":\"1.0.2\",\"root\":{\"path\":\"/var/lib/c/merged\",\"readonly\":true}}", &err);
    assert_non_null(p);
    assert_string_equal(p, "/var/lib/c/merged");
    free(p);
}

static void test_relative(void **unused)
{
    (void)unused;
    nvb_err err = {0};
    char *p = root_of("{\"root\":{\"path\":\"rootfs\"}}", &err);
    assert_non_null(p);
    assert_string_equal(p, "/b/c1/rootfs");
    free(p);
    p = root_of("{\"root\":{\"path\":\"./sub/rootfs\"}}", &err);
    assert_non_null(p);
    assert_string_equal(p, "/b/c1/./sub/rootfs");
    free(p);
}

static void test_broken(void **unused)
{
    (void)unused;
    static const struct {
        const char *json, *want;
    } cases[] = {
        {"{", "bundle /b/c1: config.json: line 1"},
        {"[]", "bundle /b/c1: config.json: not a JSON object"},
        {"{\"process\":{}}", "bundle /b/c1: config.json: root missing"},
        {"{\"root\":\"/x\"}", "bundle /b/c1: config.json: root is not an object"},
        {"{\"root\":{}}", "bundle /b/c1: config.json: root.path missing"},
        {"{\"root\":{\"path\":7}}", "root.path is not a non-empty string"},
        {"{\"root\":{\"path\":\"\"}}", "root.path is not a non-empty string"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nvb_err err = {0};
        char *p = root_of(cases[i].json, &err);
        if (p)
            fail_msg("accepted %s as %s", cases[i].json, p);
        assert_int_equal(err.exit_code, NVB_EXIT_INPUT);
        assert_contains(err.msg, cases[i].want);
    }
}

static void test_from_bundle_dir(void **unused)
{
    (void)unused;
    char *dir = t_mkdtemp();
    nvb_err err = {0};
    char *p = nvb_oci_bundle_root_path(dir, &err);
    assert_null(p);
    assert_int_equal(err.exit_code, NVB_EXIT_INPUT);
    assert_contains(err.msg, "config.json: No such file or directory");

    char *cfg = t_printf("%s/config.json", dir);
    t_write(cfg, "{\"root\":{\"path\":\"rootfs\"}}");
    p = nvb_oci_bundle_root_path(dir, &err);
    char *want = t_printf("%s/rootfs", dir);
    assert_non_null(p);
    assert_string_equal(p, want);
    free(p);
    free(want);

    /* Larger than the bound: refused without reading it all into memory. */
    FILE *f = fopen(cfg, "w");
    assert_non_null(f);
    assert_int_equal(ftruncate(fileno(f), NVB_OCI_CONFIG_MAX + 1), 0);
    fclose(f);
    nvb_err err2 = {0};
    assert_null(nvb_oci_bundle_root_path(dir, &err2));
    assert_contains(err2.msg, "config.json: larger than");
    free(cfg);
    t_rm_rf(dir);
    free(dir);
}

/* A hook told root.path (--root-path) opens that root without config.json: relative to the
 * state's bundle or absolute; an empty one is refused. */
static void test_root_given(void **unused)
{
    (void)unused;
    char *dir = t_mkdtemp();
    char *rootfs = t_printf("%s/rootfs", dir);
    assert_int_equal(mkdir(rootfs, 0755), 0);
    char *state = t_printf("{\"ociVersion\":\"1.0.2\",\"id\":\"c1\",\"status\":\"creating\",\"pid\":1,"
                           "\"bundle\":\"%s\"}", dir);
    const char *given[] = {"rootfs", rootfs};
    for (size_t i = 0; i < 2; i++) {
        int fds[2];
        assert_int_equal(pipe(fds), 0);
        assert_int_equal(write(fds[1], state, strlen(state)), (ssize_t)strlen(state));
        close(fds[1]);
        nvb_err err = {0};
        char *path = NULL;
        int fd = nvb_oci_state_root_open(fds[0], given[i], &path, &err);
        close(fds[0]);
        if (fd < 0)
            fail_msg("%s: %s", given[i], err.msg);
        assert_string_equal(path, rootfs); /* no config.json in the bundle: not read */
        struct stat a, b;
        assert_int_equal(fstat(fd, &a), 0);
        assert_int_equal(stat(rootfs, &b), 0);
        assert_int_equal(a.st_ino, b.st_ino);
        close(fd);
        free(path);
    }
    nvb_err err = {0};
    char *path = NULL;
    assert_int_equal(nvb_oci_state_root_open(-1, "", &path, &err), -1);
    assert_null(path);
    assert_int_equal(err.exit_code, NVB_EXIT_USAGE);
    free(state);
    free(rootfs);
    t_rm_rf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_absolute),
        cmocka_unit_test(test_relative),
        cmocka_unit_test(test_broken),
        cmocka_unit_test(test_from_bundle_dir),
        cmocka_unit_test(test_root_given),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
