/* CUDA forward compatibility: numeric version order, and the compat folder read by name
 * only, inside the root (a symlink there must not lead the hook to the host's files). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "oci/cuda_compat.h"
#include "oci/ldconf.h"
#include "oci/root_lock.h"
#include "oci_test_util.h"
#include "util/clock.h"
#include "util/fileio.h"

typedef struct fixture {
    char *dir, *root, *host;
    int rootfd;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->dir = t_mkdtemp();
    f->root = t_printf("%s/root", f->dir);
    f->host = t_printf("%s/host", f->dir);
    t_mkdirs(f->root);
    t_mkdirs(f->host);
    f->rootfd = open(f->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    *state = f;
    return f->rootfd >= 0 ? 0 : -1;
}

static int teardown(void **state)
{
    fixture *f = *state;
    close(f->rootfd);
    t_rm_rf(f->dir);
    free(f->dir);
    free(f->root);
    free(f->host);
    free(f);
    return 0;
}

/* mkdir -p <root><rel> */
static void mk(const fixture *f, const char *rel)
{
    char *p = t_printf("%s%s", f->root, rel);
    t_mkdirs(p);
    free(p);
}

static void touch(const char *dir, const char *name)
{
    char *p = t_printf("%s/%s", dir, name);
    t_write(p, "not read\n");
    free(p);
}

static void version_order_is_numeric(void **state)
{
    (void)state;
    /* As strings "1000.0" < "550.54.14" and "550.100.1" < "550.54.14": wrong both times. */
    assert_true(nvb_driver_version_cmp("1000.0", "550.54.14") > 0);
    assert_true(nvb_driver_version_cmp("550.100.1", "550.54.14") > 0);
    assert_true(nvb_driver_version_cmp("550.54.14", "550.54.14") == 0);
    assert_true(nvb_driver_version_cmp("550.54", "550.54.0") == 0);
    assert_true(nvb_driver_version_cmp("535.183.01", "545.23.08") < 0);
    assert_true(nvb_driver_version_ok("535.183.01"));
    const char *bad[] = {"", "1", "550", "550.", ".550", "550..1", "550.54a", "1.2.3.4.5", "1234567890.1", "-1.2"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (nvb_driver_version_ok(bad[i]))
            fail_msg("accepted %s", bad[i]);
}

static void newest_compat_library_by_name(void **state)
{
    fixture *f = *state;
    char v[64];
    assert_false(nvb_cuda_compat_newest(f->rootfd, v, sizeof v)); /* no folder */
    char *compat = t_printf("%s/usr/local/cuda-12.4/compat", f->root);
    t_mkdirs(compat);
    t_symlink_at(f->root, "cuda-12.4", "/usr/local/cuda"); /* as CUDA images have it */
    assert_false(nvb_cuda_compat_newest(f->rootfd, v, sizeof v)); /* empty */
    touch(compat, "libcuda.so.1");
    touch(compat, "libcuda.so");
    touch(compat, "libcuda.so.99999"); /* one part: not a driver version */
    touch(compat, "libnvidia-ptxjitcompiler.so.999.1");
    touch(compat, "libcuda.so.550.100.1");
    touch(compat, "libcuda.so.550.54.14");
    assert_true(nvb_cuda_compat_newest(f->rootfd, v, sizeof v));
    assert_string_equal(v, "550.100.1");
    assert_true(nvb_cuda_compat_wanted(f->rootfd, "550.54.14"));
    assert_false(nvb_cuda_compat_wanted(f->rootfd, "550.100.1")); /* the same: not newer */
    assert_false(nvb_cuda_compat_wanted(f->rootfd, "560.28.03"));
    free(compat);
}

/* Attack: the image's /usr/local/cuda (or its compat folder) is a symlink to a host folder
 * holding a "newer" libcuda. Inside the root that path names nothing: no compat. */
static void compat_symlink_to_host_is_not_followed(void **state)
{
    fixture *f = *state;
    touch(f->host, "libcuda.so.999.1.1");
    char v[64];
    mk(f, "/usr/local");
    t_symlink_at(f->root, f->host, "/usr/local/cuda");
    assert_false(nvb_cuda_compat_newest(f->rootfd, v, sizeof v));
    char *rel = t_printf("../../../../../../../..%s", f->host);
    char *link = t_printf("%s/usr/local/cuda", f->root);
    unlink(link);
    free(link);
    mk(f, "/usr/local/cuda");
    t_symlink_at(f->root, rel, "/usr/local/cuda/compat");
    assert_false(nvb_cuda_compat_newest(f->rootfd, v, sizeof v));
    assert_false(nvb_cuda_compat_wanted(f->rootfd, "1.0"));
    free(rel);
}

/* Attack: /etc/ld.so.conf.d is a symlink to a host folder; the conf file lands inside the
 * root (the link resolves against it), the host folder stays untouched. */
static void ldconf_written_inside_the_root(void **state)
{
    fixture *f = *state;
    mk(f, "/etc");
    t_symlink_at(f->root, f->host, "/etc/ld.so.conf.d");
    nvb_err err = {0};
    const char *folders[] = {"/usr/lib/x86_64-linux-gnu", "/usr/lib/i386-linux-gnu"};
    int r = nvb_ldconf_write(f->rootfd, NVB_LDCONF_DRIVER, folders, 2, &err);
    assert_int_equal(r, -1); /* the host path does not exist inside the root */
    char *host_file = t_printf("%s/%s", f->host, NVB_LDCONF_DRIVER);
    assert_int_equal(access(host_file, F_OK), -1);
    mk(f, f->host); /* now it names a folder inside */
    assert_int_equal(nvb_ldconf_write(f->rootfd, NVB_LDCONF_DRIVER, folders, 2, &err), 0);
    assert_int_equal(access(host_file, F_OK), -1);
    char *inside = t_printf("%s%s/%s", f->root, f->host, NVB_LDCONF_DRIVER);
    size_t len;
    char *text = nvb_read_file(inside, 4096, &len);
    assert_non_null(text);
    assert_non_null(strstr(text, "\n/usr/lib/x86_64-linux-gnu\n/usr/lib/i386-linux-gnu\n"));
    assert_int_equal(nvb_ldconf_remove(f->rootfd, NVB_LDCONF_DRIVER, &err), 0);
    assert_int_equal(access(inside, F_OK), -1);
    free(text);
    free(inside);
    free(host_file);
}

static void lock_waits_a_bounded_time(void **state)
{
    fixture *f = *state;
    nvb_err err = {0};
    int a = nvb_root_lock(f->rootfd, f->root, 1000, &err);
    assert_true(a >= 0);
    int64_t t0 = nvb_mono_ms();
    int b = nvb_root_lock(f->rootfd, f->root, 200, &err);
    int64_t waited = nvb_mono_ms() - t0;
    assert_int_equal(b, -1);
    assert_int_equal(err.exit_code, NVB_EXIT_RUNTIME);
    assert_non_null(strstr(err.msg, "still locked by another hook after 200 ms"));
    assert_true(waited >= 190 && waited < 2000);
    close(a);
    b = nvb_root_lock(f->rootfd, f->root, 200, &err);
    assert_true(b >= 0);
    close(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(version_order_is_numeric),
        cmocka_unit_test_setup_teardown(newest_compat_library_by_name, setup, teardown),
        cmocka_unit_test_setup_teardown(compat_symlink_to_host_is_not_followed, setup, teardown),
        cmocka_unit_test_setup_teardown(ldconf_written_inside_the_root, setup, teardown),
        cmocka_unit_test_setup_teardown(lock_waits_a_bounded_time, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
