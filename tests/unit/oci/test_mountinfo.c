/* Which mounts beneath a container root the ldconfig sandbox hides. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "oci/mountinfo.h"
#include "oci_test_util.h"

static const char sample[] =
    "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
    "23 22 0:21 / /proc rw,nosuid shared:12 - proc proc rw\n"
    "24 22 0:22 / /sys rw,nosuid shared:7 - sysfs sysfs rw\n"
    "40 22 0:40 / /run/c/merged rw,relatime - overlay overlay rw,lowerdir=/l,upperdir=/u\n"
    "41 40 0:41 / /run/c/merged/proc rw,nosuid,nodev,noexec - proc proc rw\n"
    "42 40 0:42 / /run/c/merged/sys ro,nosuid - sysfs sysfs ro\n"
    "43 42 0:43 / /run/c/merged/sys/fs/cgroup ro master:9 shared:3 - cgroup2 cgroup2 rw\n"
    "44 40 0:44 / /run/c/merged/dev rw,nosuid - tmpfs tmpfs rw,mode=755\n"
    "45 40 8:1 /usr/lib/libcuda.so.550.54.14 /run/c/merged/usr/lib/libcuda.so.550.54.14 ro - ext4 /dev/sda1 rw\n"
    "46 40 0:45 / /run/c/merged/with\\040space/proc rw - proc proc rw\n"
    "47 22 0:46 / /run/c/merged-other/proc rw - proc proc rw\n"
    "48 40 0:47 / /run/c/merged/dev/pts rw - devpts devpts rw\n";

static void test_beneath_root(void **unused)
{
    (void)unused;
    nvb_strv out = {0};
    nvb_err err = {0};
    assert_int_equal(nvb_mounts_to_hide(sample, "/run/c/merged", &out, &err), 0);
    /* Shallowest first; the sibling "merged-other" and the host's own /proc are not ours;
     * overlay, tmpfs, devpts and the driver's bind mount stay visible. */
    assert_int_equal(out.n, 4);
    assert_string_equal(out.v[0], "/sys");
    assert_string_equal(out.v[1], "/proc");
    assert_string_equal(out.v[2], "/sys/fs/cgroup");
    assert_string_equal(out.v[3], "/with space/proc");
    nvb_strv_free(&out);
}

static void test_root_is_slash(void **unused)
{
    (void)unused;
    nvb_strv out = {0};
    nvb_err err = {0};
    assert_int_equal(nvb_mounts_to_hide(sample, "/", &out, &err), 0);
    assert_true(nvb_strv_contains(&out, "/proc"));
    assert_true(nvb_strv_contains(&out, "/sys"));
    assert_true(nvb_strv_contains(&out, "/run/c/merged/proc"));
    assert_false(nvb_strv_contains(&out, "/"));
    assert_false(nvb_strv_contains(&out, "/run/c/merged/dev"));
    nvb_strv_free(&out);
}

static void test_malformed(void **unused)
{
    (void)unused;
    static const char *const bad[] = {
        "22 1 8:1 / / rw\n",                        /* no separator */
        "22 1 8:1 / / rw shared:1 -\n",             /* no fstype */
        "23 22 0:21 / relative rw - proc proc rw\n", /* mount point not absolute */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        nvb_strv out = {0};
        nvb_err err = {0};
        assert_int_equal(nvb_mounts_to_hide(bad[i], "/r", &out, &err), -1);
        assert_int_equal(err.exit_code, NVB_EXIT_HOST_DATA);
        assert_contains(err.msg, "line 1");
        nvb_strv_free(&out);
    }
}

static void test_this_machine(void **unused)
{
    (void)unused;
    /* The real file parses, and "/proc" is a kernel interface mount beneath "/". */
    FILE *f = fopen("/proc/self/mountinfo", "r");
    assert_non_null(f);
    char *text = NULL;
    size_t cap = 0;
    ssize_t n = getdelim(&text, &cap, '\0', f);
    fclose(f);
    assert_true(n > 0);
    nvb_strv out = {0};
    nvb_err err = {0};
    assert_int_equal(nvb_mounts_to_hide(text, "/", &out, &err), 0);
    assert_true(nvb_strv_contains(&out, "/proc"));
    nvb_strv_free(&out);
    free(text);
}

static void test_kinds(void **unused)
{
    (void)unused;
    assert_true(nvb_fstype_is_kernel_interface("proc"));
    assert_true(nvb_fstype_is_kernel_interface("sysfs"));
    assert_true(nvb_fstype_is_kernel_interface("cgroup2"));
    assert_true(nvb_fstype_is_kernel_interface("debugfs"));
    assert_false(nvb_fstype_is_kernel_interface("ext4"));
    assert_false(nvb_fstype_is_kernel_interface("overlay"));
    assert_false(nvb_fstype_is_kernel_interface("tmpfs"));
    assert_false(nvb_fstype_is_kernel_interface("procfs"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_beneath_root), cmocka_unit_test(test_root_is_slash),
        cmocka_unit_test(test_malformed),    cmocka_unit_test(test_this_machine),
        cmocka_unit_test(test_kinds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
