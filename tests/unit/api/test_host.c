/* The compatibility check, GPU information, WSL2 detection and the utils, on fake hosts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <sys/sysmacros.h>
#include <time.h>

#include "api_test_util.h"

static tu_host host;     /* 2 A100s, no NVML */
static char *bolt_dir;   /* a folder holding a fake `bolt` */
static char *old_path;

static int setup(void **state)
{
    (void)state;
    if (tu_host_build(&host, "--gpus 2") < 0)
        return -1;
    bolt_dir = tu_mkdtemp("nvbind-api-bolt");
    char *bolt = NULL;
    if (!bolt_dir || asprintf(&bolt, "%s/bolt", bolt_dir) < 0)
        return -1;
    int r = tu_write_file(bolt, "#!/bin/sh\necho 'bolt 0.1.0'\n");
    if (r == 0)
        r = chmod(bolt, 0755);
    free(bolt);
    const char *p = getenv("PATH");
    old_path = strdup(p ? p : "/usr/bin:/bin");
    return r;
}

static int teardown(void **state)
{
    (void)state;
    tu_host_free(&host);
    tu_rm_rf(bolt_dir);
    free(bolt_dir);
    free(old_path);
    return 0;
}

/* PATH with or without the fake bolt (the tests of this file run one at a time). */
static void path_with_bolt(bool with)
{
    char *p = NULL;
    assert_true(asprintf(&p, "%s%s%s", with ? bolt_dir : "", with ? ":" : "", old_path) > 0);
    assert_int_equal(setenv("PATH", p, 1), 0);
    free(p);
}

static nvbind_gpu_manager *manager_on(const char *root)
{
    nvbind_manager_options o = {.host_root = root, .hook_path = "/usr/bin/nvbind"};
    nvbind_error *err = NULL;
    nvbind_gpu_manager *m = nvbind_gpu_manager_new(NULL, &o, &err);
    assert_non_null(m);
    return m;
}

static const nvbind_check *find_check(const nvbind_compatibility *c, const char *name)
{
    for (size_t i = 0; i < c->check_count; i++)
        if (strcmp(c->checks[i].name, name) == 0)
            return &c->checks[i];
    return NULL;
}

static void test_compatibility(void **state)
{
    (void)state;
    nvbind_gpu_manager *m = manager_on(host.root);
    path_with_bolt(false);
    nvbind_error *err = NULL;
    nvbind_compatibility *c = nvbind_check_bolt_gpu_compatibility(m, &err);
    assert_non_null(c);
    assert_true(c->gpus_available);
    assert_int_equal(c->gpu_count, 2);
    const char *want = json_string_value(json_object_get(json_object_get(host.manifest, "driver"), "version"));
    assert_string_equal(c->driver_version, want);
    assert_true(c->nvidia_open_driver); /* the builder's default kernel module */
    assert_false(c->wsl2_mode);
    assert_true(c->ready);
    assert_false(c->bolt_optimizations_available); /* no bolt in PATH */
    const nvbind_check *gpus = find_check(c, "gpus");
    TU_NON_NULL(gpus);
    assert_int_equal(gpus->level, NVBIND_CHECK_OK);
    assert_string_equal(gpus->message, "2 GPUs");
    nvbind_compatibility_free(c);

    path_with_bolt(true);
    c = nvbind_check_bolt_gpu_compatibility(m, &err);
    assert_non_null(c);
    assert_true(c->bolt_optimizations_available);
    nvbind_compatibility_free(c);
    path_with_bolt(false);
    nvbind_gpu_manager_free(m);
}

static void test_compatibility_without_driver(void **state)
{
    (void)state;
    /* The guide: "should not panic even without GPU hardware". */
    char *empty = tu_mkdtemp("nvbind-api-nodriver");
    assert_non_null(empty);
    nvbind_gpu_manager *m = manager_on(empty);
    nvbind_error *err = NULL;
    nvbind_compatibility *c = nvbind_check_bolt_gpu_compatibility(m, &err);
    assert_non_null(c);
    assert_null(err);
    assert_false(c->gpus_available);
    assert_int_equal(c->gpu_count, 0);
    assert_string_equal(c->driver_version, "");
    assert_false(c->ready);
    assert_false(c->bolt_optimizations_available);
    const nvbind_check *drv = find_check(c, "driver");
    TU_NON_NULL(drv);
    assert_int_equal(drv->level, NVBIND_CHECK_ERROR);
    assert_non_null(drv->fix);
    nvbind_compatibility_free(c);

    nvbind_gpu_list *l = nvbind_get_gpu_info(m, &err);
    assert_null(l);
    assert_int_equal(nvbind_error_code(err), NVBIND_EXIT_NO_DRIVER);
    assert_non_null(strstr(nvbind_error_message(err), empty));
    nvbind_error_free(err);
    err = NULL;
    assert_int_equal(nvbind_get_recommended_bolt_config(&(nvbind_manager_options){.host_root = empty},
                                                        &(nvbind_bolt_config){0}, &err),
                     -1);
    assert_int_equal(nvbind_error_code(err), NVBIND_EXIT_NO_DRIVER);
    nvbind_error_free(err);
    nvbind_gpu_manager_free(m);
    tu_rm_rf(empty);
    free(empty);
}

static void test_gpu_info(void **state)
{
    (void)state;
    nvbind_gpu_manager *m = manager_on(host.root);
    nvbind_error *err = NULL;
    nvbind_gpu_list *l = nvbind_get_gpu_info(m, &err);
    assert_non_null(l);
    assert_int_equal(l->count, 2);
    for (size_t i = 0; i < l->count; i++) {
        assert_int_equal(l->gpus[i].id, i);
        assert_string_equal(l->gpus[i].uuid, tu_gpu_field(&host, i, "uuid"));
        assert_string_equal(l->gpus[i].pci_bus_id, tu_gpu_field(&host, i, "pci_bus_id"));
        assert_string_equal(l->gpus[i].name, tu_gpu_field(&host, i, "name"));
        /* This host has no NVML: memory is unknown, not 0. */
        assert_int_equal(l->gpus[i].memory_mib, -1);
        assert_int_equal(l->gpus[i].compute_capability_major, -1);
    }
    assert_string_equal(l->driver_version, "550.54.14");
    assert_null(l->cuda_version);
    nvbind_gpu_list_free(l);
    nvbind_gpu_manager_free(m);
}

static void test_gpu_info_nvml(void **state)
{
    (void)state;
    if (access(NVB_TEST_FAKENVML, R_OK) != 0)
        skip();
    tu_host h;
    assert_int_equal(tu_host_build(&h, "--gpus 1 --model rtx4090 --fake-nvml '" NVB_TEST_FAKENVML "'"), 0);
    nvbind_gpu_manager *m = manager_on(h.root);
    nvbind_error *err = NULL;
    nvbind_gpu_list *l = nvbind_get_gpu_info(m, &err);
    assert_non_null(l);
    assert_int_equal(l->count, 1);
    assert_int_equal(l->gpus[0].memory_mib, 24564); /* the builder's RTX 4090 */
    assert_int_equal(l->gpus[0].compute_capability_major, 8);
    assert_int_equal(l->gpus[0].compute_capability_minor, 9);
    assert_non_null(l->cuda_version);
    nvbind_gpu_list_free(l);

    /* The recommendation for one RTX card: shared, gaming with RTX features, AI/ML with
     * tensor cores and a pool of half its memory. */
    nvbind_manager_options o = tu_options(&h);
    nvbind_bolt_config c;
    assert_int_equal(nvbind_get_recommended_bolt_config(&o, &c, &err), 0);
    assert_int_equal(c.capsule.isolation_level, NVBIND_ISOLATION_SHARED);
    assert_true(c.has_gaming);
    assert_true(c.gaming.dlss_enabled);
    assert_true(c.gaming.rt_cores_enabled);
    assert_true(c.has_aiml);
    assert_true(c.aiml.tensor_cores_enabled);
    assert_false(c.aiml.mig_enabled);
    assert_true(c.aiml.memory_pool_size == 24564ull / 2 * 1024 * 1024);
    nvbind_gpu_manager_free(m);
    tu_host_free(&h);
}

/* Threads of this process now. */
static int threads_now(void)
{
    DIR *d = opendir("/proc/self/task");
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static long long mono_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000LL + t.tv_nsec / 1000000;
}

/* A daemon asking again and again while NVML hangs in the driver: the first call waits out
 * the deadline and leaves its stuck thread behind; later calls answer at once without NVML's
 * fields and start no thread, so the process does not gather one stuck thread per call. */
static void test_hung_nvml_leaves_one_thread_for_any_number_of_calls(void **state)
{
    (void)state;
    if (access(NVB_TEST_FAKENVML, R_OK) != 0)
        skip();
    tu_host h;
    assert_int_equal(tu_host_build(&h, "--gpus 1 --fake-nvml '" NVB_TEST_FAKENVML "' --nvml-init-delay-ms 3600000"), 0);
    nvbind_gpu_manager *m = manager_on(h.root);
    int before = threads_now();
    for (int i = 0; i < 4; i++) {
        nvbind_error *err = NULL;
        long long t0 = mono_ms();
        nvbind_gpu_list *l = nvbind_get_gpu_info(m, &err);
        long long took = mono_ms() - t0;
        assert_non_null(l);
        assert_int_equal(l->count, 1);
        assert_true(l->gpus[0].memory_mib == -1); /* NVML's answer is missing, the GPU is not */
        nvbind_gpu_list_free(l);
        if (i > 0)
            assert_true(took < 1000);
    }
    assert_true(threads_now() - before <= 1);
    nvbind_gpu_manager_free(m);
    tu_host_free(&h);
}

static void test_recommended_datacenter(void **state)
{
    (void)state;
    /* Two A100s without NVML: several GPUs -> exclusive; no RT cores; tensor cores by model. */
    nvbind_manager_options o = tu_options(&host);
    nvbind_bolt_config c;
    nvbind_error *err = NULL;
    assert_int_equal(nvbind_get_recommended_bolt_config(&o, &c, &err), 0);
    assert_int_equal(c.capsule.isolation_level, NVBIND_ISOLATION_EXCLUSIVE);
    assert_true(c.has_aiml);
    assert_true(c.aiml.tensor_cores_enabled);
    assert_true(c.aiml.memory_pool_size == 0); /* memory unknown */
    if (c.has_gaming) {
        assert_false(c.gaming.rt_cores_enabled);
        assert_false(c.gaming.dlss_enabled);
    }
    /* A manager made from the recommendation accepts it. */
    nvbind_gpu_manager *m = nvbind_gpu_manager_new(&c, &o, &err);
    assert_non_null(m);
    nvbind_gpu_manager_free(m);
}

static void test_recommended_mig(void **state)
{
    (void)state;
    if (access(NVB_TEST_FAKENVML, R_OK) != 0)
        skip();
    tu_host h;
    assert_int_equal(tu_host_build(&h, "--gpus 2 --mig --fake-nvml '" NVB_TEST_FAKENVML "'"), 0);
    nvbind_manager_options o = tu_options(&h);
    nvbind_bolt_config c;
    assert_int_equal(nvbind_get_recommended_bolt_config(&o, &c, NULL), 0);
    assert_int_equal(c.capsule.isolation_level, NVBIND_ISOLATION_VIRTUAL);
    assert_true(c.has_aiml);
    assert_true(c.aiml.mig_enabled);
    tu_host_free(&h);
}

static void test_validate_environment(void **state)
{
    (void)state;
    nvbind_manager_options o = tu_options(&host);
    path_with_bolt(false);
    assert_int_equal(nvbind_validate_bolt_environment(&o, NULL), 0);
    path_with_bolt(true);
    assert_int_equal(nvbind_validate_bolt_environment(&o, NULL), 1);
    path_with_bolt(false);
    nvbind_error *err = NULL;
    o.driver_root = "relative";
    assert_int_equal(nvbind_validate_bolt_environment(&o, &err), -1);
    assert_int_equal(nvbind_error_code(err), NVBIND_EXIT_USAGE);
    nvbind_error_free(err);
}

/* /dev/dxg alone is no WSL2 guest (a leftover node, a test bed with both); with WSL2's kernel
 * it is, and the detection and the compatibility check say the same. */
static void test_wsl2(void **state)
{
    (void)state;
    nvbind_gpu_manager *m = manager_on(host.root);
    assert_false(nvbind_detect_wsl2(m));
    char *dxg = NULL, *osrelease = NULL;
    assert_true(asprintf(&dxg, "%s/dev/dxg", host.root) > 0);
    assert_true(asprintf(&osrelease, "%s/proc/sys/kernel/osrelease", host.root) > 0);
    if (mknod(dxg, S_IFCHR | 0666, makedev(10, 63)) < 0)
        assert_int_equal(tu_write_file(dxg, ""), 0); /* not root: a plain file marks it as well */
    assert_false(nvbind_detect_wsl2(m));
    nvbind_compatibility *c = nvbind_check_bolt_gpu_compatibility(m, NULL);
    assert_non_null(c);
    assert_false(c->wsl2_mode);
    nvbind_compatibility_free(c);
    char *dir = strdup(osrelease);
    *strrchr(dir, '/') = '\0';
    char *mk = NULL;
    assert_true(asprintf(&mk, "mkdir -p '%s'", dir) > 0);
    assert_int_equal(system(mk), 0);
    assert_int_equal(tu_write_file(osrelease, "5.15.153.1-microsoft-standard-WSL2\n"), 0);
    assert_true(nvbind_detect_wsl2(m));
    c = nvbind_check_bolt_gpu_compatibility(m, NULL);
    assert_non_null(c);
    assert_true(c->wsl2_mode);
    nvbind_compatibility_free(c);
    assert_int_equal(unlink(dxg), 0);
    assert_false(nvbind_detect_wsl2(m));
    assert_int_equal(unlink(osrelease), 0);
    assert_false(nvbind_detect_wsl2(NULL));
    free(mk);
    free(dir);
    free(dxg);
    free(osrelease);
    nvbind_gpu_manager_free(m);
}

/* A WSL2 guest (no /proc/driver/nvidia): the compatibility check, the GPU list and the gaming
 * spec work on it. Before the WSL2 backend each failed with "no NVIDIA driver" (exit 3). */
static void test_wsl2_guest(void **state)
{
    (void)state;
    if (access(NVB_TEST_FAKENVML, R_OK) != 0)
        skip();
    tu_host w;
    assert_int_equal(tu_host_build_with(&w, "build-wsl2", "--gpus 2 --fake-nvml '" NVB_TEST_FAKENVML "'"), 0);
    nvbind_gpu_manager *m = manager_on(w.root);
    assert_true(nvbind_detect_wsl2(m));
    nvbind_compatibility *c = nvbind_check_bolt_gpu_compatibility(m, NULL);
    assert_non_null(c);
    assert_true(c->wsl2_mode);
    assert_true(c->gpus_available);
    assert_int_equal(c->gpu_count, 2);
    assert_string_equal(c->driver_version, "560.94");
    nvbind_compatibility_free(c);
    nvbind_error *err = NULL;
    nvbind_gpu_list *l = nvbind_get_gpu_info(m, &err);
    assert_non_null(l);
    assert_int_equal(l->count, 2);
    assert_string_equal(l->gpus[1].uuid, tu_gpu_field(&w, 1, "uuid"));
    assert_string_equal(l->gpus[1].pci_bus_id, tu_gpu_field(&w, 1, "pci_bus_id"));
    nvbind_gpu_list_free(l);
    nvbind_cdi_spec *s = nvbind_generate_gaming_cdi_spec(m, &err);
    assert_non_null(s);
    assert_string_equal(tu_env(s, "GALLIUM_DRIVER"), "d3d12");
    assert_string_equal(tu_env(s, "WAYLAND_DISPLAY"), "wayland-0");
    nvbind_cdi_spec_free(s);
    nvbind_gpu_manager_free(m);
    tu_host_free(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compatibility),
        cmocka_unit_test(test_compatibility_without_driver),
        cmocka_unit_test(test_gpu_info),
        cmocka_unit_test(test_gpu_info_nvml),
        cmocka_unit_test(test_hung_nvml_leaves_one_thread_for_any_number_of_calls),
        cmocka_unit_test(test_recommended_datacenter),
        cmocka_unit_test(test_recommended_mig),
        cmocka_unit_test(test_validate_environment),
        cmocka_unit_test(test_wsl2),
        cmocka_unit_test(test_wsl2_guest),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
