/* The manager, its configuration (BoltConfig and nvbind.toml), enum names, sizes, errors and
 * the version. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "api_test_util.h"

static char *tmpdir;

static int setup(void **state)
{
    (void)state;
    tmpdir = tu_mkdtemp("nvbind-api-manager");
    return tmpdir ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    tu_rm_rf(tmpdir);
    free(tmpdir);
    return 0;
}

static char *write_config(const char *name, const char *text)
{
    char *path = NULL;
    assert_true(asprintf(&path, "%s/%s", tmpdir, name) > 0);
    assert_int_equal(tu_write_file(path, text), 0);
    return path;
}

static void test_version(void **state)
{
    (void)state;
    char want[64];
    snprintf(want, sizeof want, "%d.%d.%d", NVBIND_VERSION_MAJOR, NVBIND_VERSION_MINOR, NVBIND_VERSION_PATCH);
    assert_string_equal(nvbind_version(), want);
    assert_int_equal(NVBIND_VERSION_NUMBER,
                     (NVBIND_VERSION_MAJOR << 16) | (NVBIND_VERSION_MINOR << 8) | NVBIND_VERSION_PATCH);
}

static void test_default_manager(void **state)
{
    (void)state;
    nvbind_gpu_manager *m = nvbind_gpu_manager_new_default();
    assert_non_null(m);
    nvbind_bolt_config got, want;
    nvbind_gpu_manager_get_config(m, &got);
    nvbind_bolt_config_default(&want);
    assert_int_equal(got.capsule.isolation_level, NVBIND_ISOLATION_SHARED);
    assert_false(got.capsule.snapshot_gpu_state);
    assert_false(got.has_gaming);
    assert_false(got.has_aiml);
    assert_int_equal(got.capsule.gpu_memory_limit, want.capsule.gpu_memory_limit);
    nvbind_gpu_manager_free(m);
    nvbind_gpu_manager_free(NULL);
}

static void test_config_given(void **state)
{
    (void)state;
    nvbind_bolt_config c;
    nvbind_bolt_config_default(&c);
    c.capsule.isolation_level = NVBIND_ISOLATION_EXCLUSIVE;
    c.capsule.snapshot_gpu_state = true;
    c.has_gaming = true;
    nvbind_bolt_gaming_gpu_config_default(&c.gaming);
    c.gaming.performance_profile = NVBIND_PERFORMANCE_EFFICIENCY;
    nvbind_error *err = NULL;
    nvbind_gpu_manager *m = nvbind_gpu_manager_new(&c, NULL, &err);
    assert_non_null(m);
    assert_null(err);
    nvbind_bolt_config got;
    nvbind_gpu_manager_get_config(m, &got);
    assert_int_equal(got.capsule.isolation_level, NVBIND_ISOLATION_EXCLUSIVE);
    assert_true(got.capsule.snapshot_gpu_state);
    assert_true(got.has_gaming);
    assert_int_equal(got.gaming.performance_profile, NVBIND_PERFORMANCE_EFFICIENCY);
    assert_false(got.has_aiml);
    nvbind_gpu_manager_free(m);
}

static void expect_bad_config(const nvbind_bolt_config *c, const char *field)
{
    nvbind_error *err = NULL;
    assert_null(nvbind_gpu_manager_new(c, NULL, &err));
    assert_non_null(err);
    assert_int_equal(nvbind_error_code(err), NVBIND_EXIT_USAGE);
    assert_non_null(strstr(nvbind_error_message(err), field));
    nvbind_error_free(err);
}

static void test_config_out_of_range(void **state)
{
    (void)state;
    nvbind_bolt_config c;
    nvbind_bolt_config_default(&c);
    c.capsule.isolation_level = (nvbind_isolation)7;
    expect_bad_config(&c, "capsule.isolation_level");
    nvbind_bolt_config_default(&c);
    c.capsule.compute_limit_percent = 101;
    expect_bad_config(&c, "compute_limit_percent");
    nvbind_bolt_config_default(&c);
    c.has_gaming = true;
    nvbind_bolt_gaming_gpu_config_default(&c.gaming);
    c.gaming.power_profile = (nvbind_power_profile)9;
    expect_bad_config(&c, "gaming.power_profile");
    nvbind_bolt_config_default(&c);
    c.has_aiml = true;
    nvbind_bolt_aiml_gpu_config_default(&c.aiml);
    c.aiml.cuda_cache_size = 8192;
    expect_bad_config(&c, "aiml.cuda_cache_size");
    /* A part that is not given is not checked. */
    nvbind_bolt_config_default(&c);
    c.gaming.power_profile = (nvbind_power_profile)9;
    nvbind_gpu_manager *m = nvbind_gpu_manager_new(&c, NULL, NULL);
    assert_non_null(m);
    nvbind_gpu_manager_free(m);
}

/* The guide's gaming configuration block, as a file. */
static const char seed_gaming[] = "[bolt.capsule]\n"
                                  "snapshot_gpu_state = true\n"
                                  "isolation_level = \"exclusive\"\n"
                                  "quic_acceleration = true\n"
                                  "\n"
                                  "[bolt.gaming]\n"
                                  "dlss_enabled = true\n"
                                  "rt_cores_enabled = true\n"
                                  "performance_profile = \"ultra-low-latency\"\n"
                                  "wine_optimizations = true\n"
                                  "vrs_enabled = true\n"
                                  "power_profile = \"maximum\"\n";

static void test_config_file(void **state)
{
    (void)state;
    char *path = write_config("gaming.toml", seed_gaming);
    nvbind_manager_options o = {.config_path = path};
    nvbind_error *err = NULL;
    nvbind_gpu_manager *m = nvbind_gpu_manager_new(NULL, &o, &err);
    assert_non_null(m);
    nvbind_bolt_config got;
    nvbind_gpu_manager_get_config(m, &got);
    assert_true(got.capsule.snapshot_gpu_state);
    assert_true(got.capsule.quic_acceleration);
    assert_int_equal(got.capsule.isolation_level, NVBIND_ISOLATION_EXCLUSIVE);
    assert_true(got.has_gaming);
    assert_false(got.has_aiml);
    assert_true(got.gaming.vrs_enabled);
    assert_int_equal(got.gaming.performance_profile, NVBIND_PERFORMANCE_ULTRA_LOW_LATENCY);
    assert_int_equal(got.gaming.power_profile, NVBIND_POWER_MAXIMUM);
    nvbind_gpu_manager_free(m);

    /* A BoltConfig given explicitly wins over the file's [bolt.*]. */
    nvbind_bolt_config mine;
    nvbind_bolt_config_default(&mine);
    m = nvbind_gpu_manager_new(&mine, &o, &err);
    assert_non_null(m);
    nvbind_gpu_manager_get_config(m, &got);
    assert_false(got.has_gaming);
    assert_int_equal(got.capsule.isolation_level, NVBIND_ISOLATION_SHARED);
    nvbind_gpu_manager_free(m);

    /* nvbind_bolt_config_load reads the same tables. */
    assert_int_equal(nvbind_bolt_config_load(path, &got, &err), 0);
    assert_true(got.has_gaming);
    assert_int_equal(got.capsule.isolation_level, NVBIND_ISOLATION_EXCLUSIVE);
    free(path);
}

static void test_config_file_errors(void **state)
{
    (void)state;
    char *path = write_config("typo.toml", "[bolt.capsule]\nisolation_level = \"exclusve\"\n");
    nvbind_manager_options o = {.config_path = path};
    nvbind_error *err = NULL;
    assert_null(nvbind_gpu_manager_new(NULL, &o, &err));
    assert_non_null(err);
    assert_int_equal(nvbind_error_code(err), NVBIND_EXIT_CONFIG);
    char where[512];
    snprintf(where, sizeof where, "%s:2:", path);
    assert_non_null(strstr(nvbind_error_message(err), where));
    assert_non_null(strstr(nvbind_error_message(err), "exclusive"));
    nvbind_bolt_config c;
    assert_int_equal(nvbind_bolt_config_load(path, &c, &err), -1);
    assert_int_equal(nvbind_error_code(err), NVBIND_EXIT_CONFIG);
    nvbind_error_free(err);
    free(path);

    err = NULL;
    o.config_path = "/nonexistent/nvbind.toml";
    assert_null(nvbind_gpu_manager_new(NULL, &o, &err));
    assert_non_null(strstr(nvbind_error_message(err), "/nonexistent/nvbind.toml"));
    nvbind_error_free(err);
}

static void test_options_checked(void **state)
{
    (void)state;
    nvbind_error *err = NULL;
    nvbind_manager_options o = {.driver_root = "run/nvidia/driver"};
    assert_null(nvbind_gpu_manager_new(NULL, &o, &err));
    assert_int_equal(nvbind_error_code(err), NVBIND_EXIT_USAGE);
    assert_non_null(strstr(nvbind_error_message(err), "run/nvidia/driver"));
    o = (nvbind_manager_options){.hook_path = "nvbind"};
    assert_null(nvbind_gpu_manager_new(NULL, &o, &err)); /* replaces the first error */
    assert_non_null(strstr(nvbind_error_message(err), "hook_path"));
    /* A relative host root (issue item 12, through the C API): specs would hold host paths
     * relative to the caller's folder. */
    o = (nvbind_manager_options){.host_root = "host"};
    assert_null(nvbind_gpu_manager_new(NULL, &o, &err));
    assert_int_equal(nvbind_error_code(err), NVBIND_EXIT_USAGE);
    assert_non_null(strstr(nvbind_error_message(err), "host_root 'host'"));
    nvbind_error_free(err);
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(nvbind_isolation_name(NVBIND_ISOLATION_VIRTUAL), "virtual");
    assert_string_equal(nvbind_performance_profile_name(NVBIND_PERFORMANCE_ULTRA_LOW_LATENCY), "ultra-low-latency");
    assert_string_equal(nvbind_power_profile_name(NVBIND_POWER_EFFICIENCY), "efficiency");
    assert_null(nvbind_isolation_name((nvbind_isolation)3));
    assert_null(nvbind_performance_profile_name((nvbind_performance_profile)-1));
    nvbind_isolation iso;
    nvbind_performance_profile perf;
    nvbind_power_profile power;
    assert_int_equal(nvbind_isolation_from_name("exclusive", &iso, NULL), 0);
    assert_int_equal(iso, NVBIND_ISOLATION_EXCLUSIVE);
    assert_int_equal(nvbind_performance_profile_from_name("balanced", &perf, NULL), 0);
    assert_int_equal(perf, NVBIND_PERFORMANCE_BALANCED);
    assert_int_equal(nvbind_power_profile_from_name("maximum", &power, NULL), 0);
    assert_int_equal(power, NVBIND_POWER_MAXIMUM);
    nvbind_error *err = NULL;
    assert_int_equal(nvbind_isolation_from_name("exclusve", &iso, &err), -1);
    assert_string_equal(nvbind_error_message(err),
                        "isolation_level: unknown value 'exclusve' (expected shared, exclusive, virtual)");
    assert_int_equal(nvbind_power_profile_from_name(NULL, &power, &err), -1);
    assert_non_null(strstr(nvbind_error_message(err), "power_profile"));
    nvbind_error_free(err);
    /* A NULL output pointer is a usage error, not a crash in the embedding daemon. */
    err = NULL;
    assert_int_equal(nvbind_isolation_from_name("exclusive", NULL, &err), -1);
    assert_string_equal(nvbind_error_message(err), "nvbind_isolation_from_name: the output pointer is NULL");
    nvbind_error_free(err);
    assert_int_equal(nvbind_performance_profile_from_name("balanced", NULL, NULL), -1);
    assert_int_equal(nvbind_power_profile_from_name("maximum", NULL, NULL), -1);
    nvbind_bolt_config_default(NULL);
    nvbind_bolt_gaming_gpu_config_default(NULL);
    nvbind_bolt_aiml_gpu_config_default(NULL);
}

static void test_sizes(void **state)
{
    (void)state;
    uint64_t b = 0;
    assert_int_equal(nvbind_parse_size("8GB", &b, NULL), 0);
    assert_true(b == 8000000000ull);
    assert_int_equal(nvbind_parse_size("512MiB", &b, NULL), 0);
    assert_true(b == 536870912ull);
    assert_int_equal(nvbind_parse_size("1048576", &b, NULL), 0);
    assert_true(b == 1048576ull);
    nvbind_error *err = NULL;
    assert_int_equal(nvbind_parse_size("8QB", &b, &err), -1);
    assert_int_equal(nvbind_error_code(err), NVBIND_EXIT_USAGE);
    assert_non_null(strstr(nvbind_error_message(err), "'8QB' is not a size"));
    nvbind_error_free(err);
}

static int failing_callback(nvbind_error **err)
{
    return nvbind_error_set(err, NVBIND_EXIT_BUSY, "GPU %d is busy", 3);
}

static void test_errors(void **state)
{
    (void)state;
    nvbind_error *err = NULL;
    assert_int_equal(failing_callback(&err), -1);
    assert_string_equal(nvbind_error_message(err), "GPU 3 is busy");
    assert_int_equal(nvbind_error_code(err), NVBIND_EXIT_BUSY);
    assert_int_equal(nvbind_error_errno(err), 0);
    /* A second failure replaces the first (the old one is freed: ASan would see a leak). */
    assert_int_equal(nvbind_error_set(&err, 0, "again"), -1);
    assert_string_equal(nvbind_error_message(err), "again");
    assert_int_equal(nvbind_error_code(err), NVBIND_EXIT_FAIL);
    nvbind_error_free(err);
    /* No error object wanted: still reports failure. */
    assert_int_equal(failing_callback(NULL), -1);
    nvbind_error_free(NULL);
    assert_string_equal(nvbind_error_message(NULL), "no error");
    nvbind_string_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_default_manager),
        cmocka_unit_test(test_config_given),
        cmocka_unit_test(test_config_out_of_range),
        cmocka_unit_test(test_config_file),
        cmocka_unit_test(test_config_file_errors),
        cmocka_unit_test(test_options_checked),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
