/* NVIDIA's request variables: NVIDIA_DRIVER_CAPABILITIES, NVIDIA_REQUIRE_*, NVIDIA_DISABLE_REQUIRE. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "policy/nvidia_env.h"

static void test_caps(void **unused)
{
    (void)unused;
    unsigned caps;
    nvb_err err = {0};
    assert_int_equal(nvb_nvidia_caps_parse("compute,utility", &caps, &err), 0);
    assert_int_equal(caps, NVB_CAP_COMPUTE | NVB_CAP_UTILITY);
    assert_int_equal(nvb_nvidia_caps_parse(" video , graphics,,display,compat32,ngx", &caps, &err), 0);
    assert_int_equal(caps, NVB_CAP_VIDEO | NVB_CAP_GRAPHICS | NVB_CAP_DISPLAY | NVB_CAP_COMPAT32 | NVB_CAP_NGX);
    assert_int_equal(nvb_nvidia_caps_parse("all", &caps, &err), 0);
    assert_int_equal(caps, NVB_CAP_ALL);
    assert_int_equal(nvb_nvidia_caps_parse("compute,gpgpu", &caps, &err), -1);
    assert_int_equal(err.exit_code, NVB_EXIT_INPUT);
    assert_string_equal(err.msg, "NVIDIA_DRIVER_CAPABILITIES 'compute,gpgpu': unknown capability 'gpgpu' (expected "
                                 "compute, compat32, display, graphics, ngx, utility, video or all)");
    assert_int_equal(nvb_nvidia_caps_parse("Compute", &caps, &err), -1); /* names are lower case */
}

static void test_env_entries(void **unused)
{
    (void)unused;
    nvb_nvidia_env e = {0};
    nvb_err err = {0};
    const char *env[] = {"PATH=/bin", "NVIDIA_DRIVER_CAPABILITIES=all", "NVIDIA_REQUIRE_CUDA=cuda>=12.2",
                         "NVIDIA_DRIVER_CAPABILITIES=utility", "NVIDIA_DISABLE_REQUIRE=true", "NVIDIA_REQUIRE_X=driver>=1",
                         "NVIDIA_VISIBLE_DEVICES=0"};
    for (size_t i = 0; i < sizeof env / sizeof env[0]; i++)
        assert_int_equal(nvb_nvidia_env_add(&e, env[i], &err), 0);
    assert_true(e.has_caps);
    assert_int_equal(e.caps, NVB_CAP_UTILITY); /* the last one wins */
    assert_true(e.disable_require);
    assert_int_equal(e.require.n, 2);
    assert_string_equal(e.require.v[0], "NVIDIA_REQUIRE_CUDA=cuda>=12.2");
    assert_int_equal(nvb_nvidia_env_add(&e, "NVIDIA_DISABLE_REQUIRE=false", &err), 0);
    assert_false(e.disable_require);
    assert_int_equal(nvb_nvidia_env_add(&e, "NVIDIA_DRIVER_CAPABILITIES=", &err), 0);
    assert_false(e.has_caps); /* empty: nothing narrowed */
    assert_int_equal(nvb_nvidia_env_add(&e, "NVIDIA_DRIVER_CAPABILITIES=bogus", &err), -1);
    nvb_nvidia_env_clear(&e);
}

static void test_versions(void **unused)
{
    (void)unused;
    assert_true(nvb_version_cmp("12.10", "12.9") > 0);
    assert_true(nvb_version_cmp("12.2", "12.4") < 0);
    assert_int_equal(nvb_version_cmp("535", "535.0"), 0);
    assert_true(nvb_version_cmp("550.54.14", "550.54.2") > 0);
    assert_int_equal(nvb_version_cmp("12.4", "12.4"), 0);
    assert_string_equal(nvb_cuda_version_of_driver("550.54.14"), "12.4");
    assert_string_equal(nvb_cuda_version_of_driver("535.183.01"), "12.2");
    assert_string_equal(nvb_cuda_version_of_driver("470.256.02"), "11.4");
    assert_string_equal(nvb_cuda_version_of_driver("580.65.06"), "13.0");
    assert_string_equal(nvb_cuda_version_of_driver("999.1"), "13.0");
    assert_null(nvb_cuda_version_of_driver("418.1"));
    assert_null(nvb_cuda_version_of_driver("x"));
    assert_null(nvb_cuda_version_of_driver(NULL));
}

static int check(const char *entry, const nvb_host *h, const nvb_gpu *const *gpus, size_t n, nvb_err *err)
{
    nvb_nvidia_env e = {0};
    assert_int_equal(nvb_nvidia_env_add(&e, entry, err), 0);
    int r = nvb_nvidia_require_check(&e, h, gpus, n, err);
    nvb_nvidia_env_clear(&e);
    return r;
}

static void test_require(void **unused)
{
    (void)unused;
    nvb_gpu a100 = {.cc_major = 8, .cc_minor = 0, .brand = (char *)"Tesla"};
    nvb_gpu bare = {.cc_major = -1, .cc_minor = -1};
    const nvb_gpu *one[] = {&a100}, *unknown[] = {&bare};
    nvb_host h = {.driver_version = (char *)"550.54.14"}; /* no NVML: CUDA 12.4 from the branch */
    nvb_err err = {0};
    assert_int_equal(check("NVIDIA_REQUIRE_CUDA=cuda>=12.2", &h, one, 1, &err), 0);
    assert_int_equal(check("NVIDIA_REQUIRE_CUDA=cuda>=12.9", &h, one, 1, &err), -1);
    assert_int_equal(err.exit_code, NVB_EXIT_INPUT);
    assert_string_equal(err.msg, "NVIDIA_REQUIRE_CUDA 'cuda>=12.9': not met by this host (driver 550.54.14, CUDA "
                                 "12.4); set NVIDIA_DISABLE_REQUIRE=true to skip the check");
    assert_int_equal(check("NVIDIA_REQUIRE_DRIVER=driver>=535", &h, one, 1, &err), 0);
    assert_int_equal(check("NVIDIA_REQUIRE_DRIVER=driver<550", &h, one, 1, &err), -1);
    /* Blank-separated alternatives are ORed, comma-separated constraints ANDed (as in CUDA
     * images' NVIDIA_REQUIRE_CUDA). */
    assert_int_equal(check("NVIDIA_REQUIRE_CUDA=cuda>=13.0 brand=tesla,driver>=535,driver<551", &h, one, 1, &err), 0);
    assert_int_equal(check("NVIDIA_REQUIRE_CUDA=cuda>=13.0 brand=geforce,driver>=535", &h, one, 1, &err), -1);
    assert_int_equal(check("NVIDIA_REQUIRE_ARCH=arch>=7.0", &h, one, 1, &err), 0);
    assert_int_equal(check("NVIDIA_REQUIRE_ARCH=arch=9.0", &h, one, 1, &err), -1);
    assert_int_equal(check("NVIDIA_REQUIRE_BRAND=brand!=geforce", &h, one, 1, &err), 0);
    /* Without NVML arch and brand are unknown: not met. */
    assert_int_equal(check("NVIDIA_REQUIRE_ARCH=arch>=7.0", &h, unknown, 1, &err), -1);
    assert_int_equal(check("NVIDIA_REQUIRE_BRAND=brand=tesla", &h, unknown, 1, &err), -1);
    /* NVML's CUDA version wins over the table. */
    h.cuda_version = (char *)"12.5";
    assert_int_equal(check("NVIDIA_REQUIRE_CUDA=cuda>=12.5", &h, one, 1, &err), 0);
    /* Malformed constraints are named. */
    assert_int_equal(check("NVIDIA_REQUIRE_CUDA=cuda~12", &h, one, 1, &err), -1);
    assert_string_equal(err.msg, "NVIDIA_REQUIRE_CUDA 'cuda~12': bad constraint 'cuda~12' (expected cuda, driver, arch "
                                 "or brand, an operator of = == != < <= > >= and a value)");
    assert_int_equal(check("NVIDIA_REQUIRE_OS=os=linux", &h, one, 1, &err), -1);
    assert_int_equal(check("NVIDIA_REQUIRE_BRAND=brand>tesla", &h, one, 1, &err), -1);
    assert_int_equal(check("NVIDIA_REQUIRE_CUDA=", &h, one, 1, &err), 0); /* empty asks nothing */

    /* Several variables are ANDed; NVIDIA_DISABLE_REQUIRE turns all of them off. */
    nvb_nvidia_env e = {0};
    assert_int_equal(nvb_nvidia_env_add(&e, "NVIDIA_REQUIRE_CUDA=cuda>=12.0", &err), 0);
    assert_int_equal(nvb_nvidia_env_add(&e, "NVIDIA_REQUIRE_DRIVER=driver>=560", &err), 0);
    assert_int_equal(nvb_nvidia_require_check(&e, &h, one, 1, &err), -1);
    assert_int_equal(nvb_nvidia_env_add(&e, "NVIDIA_DISABLE_REQUIRE=1", &err), 0);
    assert_int_equal(nvb_nvidia_require_check(&e, &h, one, 1, &err), 0);
    nvb_nvidia_env_clear(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_caps),
        cmocka_unit_test(test_env_entries),
        cmocka_unit_test(test_versions),
        cmocka_unit_test(test_require),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
