/* Gaming, AI/ML and custom spec generation on a fake host, writing (JSON, YAML, atomically)
 * and walking the spec. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <sys/sysmacros.h>

#include "api_test_util.h"

static tu_host host; /* 2 GPUs */
static char *outdir;

static int setup(void **state)
{
    (void)state;
    outdir = tu_mkdtemp("nvbind-api-spec");
    return outdir && tu_host_build(&host, "--gpus 2") == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    tu_host_free(&host);
    tu_rm_rf(outdir);
    free(outdir);
    return 0;
}

static nvbind_gpu_manager *manager(const nvbind_bolt_config *c)
{
    nvbind_manager_options o = tu_options(&host);
    nvbind_error *err = NULL;
    nvbind_gpu_manager *m = nvbind_gpu_manager_new(c, &o, &err);
    if (!m)
        fail_msg("%s", nvbind_error_message(err));
    return m;
}

static bool has_device(const nvbind_cdi_spec *s, const char *name)
{
    for (size_t i = 0; i < nvbind_cdi_spec_device_count(s); i++)
        if (strcmp(nvbind_cdi_spec_device_name(s, i), name) == 0)
            return true;
    return false;
}

static void test_gaming_defaults(void **state)
{
    (void)state;
    nvbind_gpu_manager *m = manager(NULL);
    nvbind_error *err = NULL;
    nvbind_cdi_spec *s = nvbind_generate_gaming_cdi_spec(m, &err);
    assert_non_null(s);
    assert_string_equal(nvbind_cdi_spec_kind(s), "nvidia.com/gpu-bolt");
    /* "0", "1", both UUIDs and "all". */
    assert_int_equal(nvbind_cdi_spec_device_count(s), 5);
    assert_true(has_device(s, "0"));
    assert_true(has_device(s, "1"));
    assert_true(has_device(s, "all"));
    assert_true(has_device(s, tu_gpu_field(&host, 1, "uuid")));
    /* The guide's gaming switches when the manager has no gaming part: ultra-low-latency. */
    assert_string_equal(tu_env(s, "BOLT_WORKLOAD_TYPE"), "gaming");
    assert_string_equal(tu_env(s, "BOLT_GPU_ENABLED"), "1");
    assert_string_equal(tu_env(s, "BOLT_GPU_ISOLATION"), "shared");
    assert_string_equal(tu_env(s, "__GL_MaxFramesAllowed"), "1");
    assert_string_equal(tu_env(s, "__GL_SYNC_TO_VBLANK"), "0");
    assert_string_equal(tu_env(s, "PROTON_ENABLE_NVAPI"), "1");
    assert_string_equal(tu_env(s, "WINEFSYNC"), "1");
    assert_non_null(strstr(tu_env(s, "NVIDIA_DRIVER_CAPABILITIES"), "graphics"));
    assert_string_equal(tu_env(s, "NVIDIA_VISIBLE_DEVICES"), "void");
    assert_null(tu_env(s, "CUDA_CACHE_MAXSIZE"));
    assert_null(tu_env(s, "NO_SUCH_VARIABLE"));
    nvbind_cdi_spec_free(s);
    nvbind_gpu_manager_free(m);
}

static void test_gaming_from_config(void **state)
{
    (void)state;
    nvbind_bolt_config c;
    nvbind_bolt_config_default(&c);
    c.capsule.isolation_level = NVBIND_ISOLATION_EXCLUSIVE;
    c.capsule.snapshot_gpu_state = true;
    c.has_gaming = true;
    nvbind_bolt_gaming_gpu_config_default(&c.gaming);
    c.gaming.performance_profile = NVBIND_PERFORMANCE_EFFICIENCY;
    c.gaming.rt_cores_enabled = false;
    c.gaming.wine_optimizations = false;
    nvbind_gpu_manager *m = manager(&c);
    nvbind_cdi_spec *s = nvbind_generate_gaming_cdi_spec(m, NULL);
    assert_non_null(s);
    assert_string_equal(tu_env(s, "BOLT_GPU_ISOLATION"), "exclusive");
    assert_string_equal(tu_env(s, "BOLT_GPU_SNAPSHOT"), "1");
    assert_string_equal(tu_env(s, "__GL_SYNC_TO_VBLANK"), "1");
    assert_string_equal(tu_env(s, "VKD3D_CONFIG"), "nodxr");
    assert_null(tu_env(s, "WINEFSYNC"));
    assert_null(tu_env(s, "__GL_MaxFramesAllowed"));
    nvbind_cdi_spec_free(s);
    nvbind_gpu_manager_free(m);
}

static void test_aiml(void **state)
{
    (void)state;
    nvbind_gpu_manager *m = manager(NULL);
    nvbind_cdi_spec *s = nvbind_generate_aiml_cdi_spec(m, NULL);
    assert_non_null(s);
    /* The guide: 4 GB CUDA cache, tensor cores, mixed precision, a 16 GB pool. */
    assert_string_equal(tu_env(s, "CUDA_CACHE_MAXSIZE"), "4294967296");
    assert_string_equal(tu_env(s, "BOLT_WORKLOAD_TYPE"), "ai-ml");
    assert_string_equal(tu_env(s, "TF_ENABLE_AUTO_MIXED_PRECISION"), "1");
    assert_string_equal(tu_env(s, "TF_CUDA_MALLOC_ASYNC_SUPPORTED_PREALLOC"), "16000000000");
    assert_null(tu_env(s, "NVIDIA_TF32_OVERRIDE"));
    assert_null(tu_env(s, "VKD3D_CONFIG"));
    nvbind_cdi_spec_free(s);
    nvbind_gpu_manager_free(m);

    nvbind_bolt_config c;
    nvbind_bolt_config_default(&c);
    c.has_aiml = true;
    nvbind_bolt_aiml_gpu_config_default(&c.aiml);
    c.aiml.cuda_cache_size = 1024;
    c.aiml.tensor_cores_enabled = false;
    c.aiml.memory_pool_size = 0;
    m = manager(&c);
    s = nvbind_generate_aiml_cdi_spec(m, NULL);
    assert_non_null(s);
    assert_string_equal(tu_env(s, "CUDA_CACHE_MAXSIZE"), "1073741824");
    assert_string_equal(tu_env(s, "NVIDIA_TF32_OVERRIDE"), "0");
    assert_null(tu_env(s, "TF_GPU_ALLOCATOR"));
    nvbind_cdi_spec_free(s);
    nvbind_gpu_manager_free(m);
}

static void test_custom(void **state)
{
    (void)state;
    nvbind_gpu_manager *m = manager(NULL);
    nvbind_bolt_capsule_config cc = {
        .snapshot_support = true,
        .isolation_level = {.level = NVBIND_ISOLATION_VIRTUAL, .memory_limit = 12000000000ull,
                            .compute_limit_percent = 75},
        .has_gaming_optimizations = true,
        .gaming_optimizations = {.dlss_enabled = true, .rt_cores_enabled = true,
                                 .performance_profile = NVBIND_PERFORMANCE_PERFORMANCE, .wine_optimizations = true},
        .wsl2_mode = false,
    };
    nvbind_error *err = NULL;
    nvbind_cdi_spec *s = nvbind_generate_custom_cdi_spec(m, &cc, &err);
    assert_non_null(s);
    assert_string_equal(tu_env(s, "BOLT_GPU_ISOLATION"), "virtual");
    assert_string_equal(tu_env(s, "BOLT_GPU_MEMORY_LIMIT"), "12000000000");
    assert_string_equal(tu_env(s, "BOLT_GPU_COMPUTE_LIMIT"), "75");
    assert_string_equal(tu_env(s, "BOLT_GPU_SNAPSHOT"), "1");
    assert_string_equal(tu_env(s, "BOLT_WORKLOAD_TYPE"), "gaming");
    assert_string_equal(tu_env(s, "__GL_THREADED_OPTIMIZATIONS"), "1");
    assert_string_equal(tu_env(s, "DXVK_ENABLE_NVAPI"), "1");
    nvbind_cdi_spec_free(s);

    /* Without gaming switches: the default profile, every capability, no workload. */
    cc.has_gaming_optimizations = false;
    cc.snapshot_support = false;
    cc.isolation_level = (nvbind_bolt_gpu_isolation){.level = NVBIND_ISOLATION_EXCLUSIVE};
    s = nvbind_generate_custom_cdi_spec(m, &cc, &err);
    assert_non_null(s);
    assert_string_equal(tu_env(s, "BOLT_GPU_ISOLATION"), "exclusive");
    assert_string_equal(tu_env(s, "NVIDIA_DRIVER_CAPABILITIES"), "all");
    assert_null(tu_env(s, "BOLT_WORKLOAD_TYPE"));
    assert_null(tu_env(s, "BOLT_GPU_SNAPSHOT"));
    assert_null(tu_env(s, "BOLT_GPU_MEMORY_LIMIT"));
    nvbind_cdi_spec_free(s);

    /* Limits belong to virtual isolation only. */
    cc.isolation_level.memory_limit = 1;
    assert_null(nvbind_generate_custom_cdi_spec(m, &cc, &err));
    assert_int_equal(nvbind_error_code(err), NVBIND_EXIT_USAGE);
    assert_non_null(strstr(nvbind_error_message(err), "virtual"));
    cc.isolation_level = (nvbind_bolt_gpu_isolation){.level = NVBIND_ISOLATION_VIRTUAL, .compute_limit_percent = 150};
    assert_null(nvbind_generate_custom_cdi_spec(m, &cc, &err));
    assert_non_null(strstr(nvbind_error_message(err), "compute_limit_percent"));
    assert_null(nvbind_generate_custom_cdi_spec(m, NULL, &err));
    assert_int_equal(nvbind_error_code(err), NVBIND_EXIT_USAGE);
    nvbind_error_free(err);
    nvbind_gpu_manager_free(m);
}

static void test_custom_wsl2(void **state)
{
    (void)state;
    tu_host h;
    assert_int_equal(tu_host_build(&h, "--gpus 1"), 0);
    nvbind_manager_options o = tu_options(&h);
    nvbind_gpu_manager *m = nvbind_gpu_manager_new(NULL, &o, NULL);
    assert_non_null(m);
    nvbind_bolt_capsule_config cc = {.wsl2_mode = true};
    nvbind_error *err = NULL;
    /* Not a WSL2 host: no /dev/dxg. */
    assert_null(nvbind_generate_custom_cdi_spec(m, &cc, &err));
    assert_non_null(strstr(nvbind_error_message(err), "/dev/dxg"));
    nvbind_error_free(err);
    err = NULL;
    char *dxg = NULL, *wsl = NULL;
    assert_true(asprintf(&dxg, "%s/dev/dxg", h.root) > 0);
    assert_true(asprintf(&wsl, "%s/usr/lib/wsl/lib", h.root) > 0);
    if (mknod(dxg, S_IFCHR | 0666, makedev(10, 63)) < 0) {
        free(dxg);
        free(wsl);
        nvbind_gpu_manager_free(m);
        tu_host_free(&h);
        skip(); /* mknod needs root */
    }
    char *cmd = NULL;
    assert_true(asprintf(&cmd, "mkdir -p '%s'", wsl) > 0);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    nvbind_cdi_spec *s = nvbind_generate_custom_cdi_spec(m, &cc, &err);
    assert_non_null(s);
    const nvbind_cdi_edits *e = nvbind_cdi_spec_edits(s);
    bool node = false, mount = false;
    for (size_t i = 0; i < nvbind_cdi_edits_device_node_count(e); i++) {
        nvbind_cdi_device_node n;
        assert_int_equal(nvbind_cdi_edits_device_node(e, i, &n), 0);
        if (strcmp(n.path, "/dev/dxg") == 0) {
            node = true;
            assert_int_equal(n.major, 10);
            assert_int_equal(n.minor, 63);
            assert_string_equal(n.host_path, dxg);
        }
    }
    for (size_t i = 0; i < nvbind_cdi_edits_mount_count(e); i++) {
        nvbind_cdi_mount mt;
        assert_int_equal(nvbind_cdi_edits_mount(e, i, &mt), 0);
        mount |= strcmp(mt.container_path, "/usr/lib/wsl/lib") == 0 && strcmp(mt.host_path, wsl) == 0;
    }
    assert_true(node);
    assert_true(mount);
    nvbind_cdi_spec_free(s);
    free(dxg);
    free(wsl);
    nvbind_gpu_manager_free(m);
    tu_host_free(&h);
}

static void test_walk(void **state)
{
    (void)state;
    nvbind_gpu_manager *m = manager(NULL);
    nvbind_cdi_spec *s = nvbind_generate_aiml_cdi_spec(m, NULL);
    assert_non_null(s);
    assert_non_null(nvbind_cdi_spec_version(s));
    /* Device "1": its own /dev/nvidia node, with numbers from the fake host. */
    size_t idx = SIZE_MAX;
    for (size_t i = 0; i < nvbind_cdi_spec_device_count(s); i++)
        if (strcmp(nvbind_cdi_spec_device_name(s, i), "1") == 0)
            idx = i;
    assert_true(idx != SIZE_MAX);
    const nvbind_cdi_edits *d = nvbind_cdi_spec_device_edits(s, idx);
    assert_non_null(d);
    bool found = false;
    for (size_t i = 0; i < nvbind_cdi_edits_device_node_count(d); i++) {
        nvbind_cdi_device_node n;
        assert_int_equal(nvbind_cdi_edits_device_node(d, i, &n), 0);
        if (strncmp(n.path, "/dev/nvidia", 11) == 0) {
            found = true;
            assert_int_equal(n.type, 'c');
            assert_int_equal(n.major, 195);
            assert_true(n.minor >= 0 && n.minor < 2);
            assert_true(n.file_mode > 0);
        }
    }
    assert_true(found);
    assert_int_equal(nvbind_cdi_edits_env_count(d), 0);

    /* Spec-wide: read-only driver mounts and the hooks running the given nvbind. */
    const nvbind_cdi_edits *e = nvbind_cdi_spec_edits(s);
    bool libcuda = false;
    for (size_t i = 0; i < nvbind_cdi_edits_mount_count(e); i++) {
        nvbind_cdi_mount mt;
        assert_int_equal(nvbind_cdi_edits_mount(e, i, &mt), 0);
        if (strstr(mt.container_path, "/libcuda.so.")) {
            libcuda = true;
            assert_true(strncmp(mt.host_path, host.root, strlen(host.root)) == 0);
            bool ro = false;
            for (size_t j = 0; j < nvbind_cdi_edits_mount_option_count(e, i); j++)
                ro |= strcmp(nvbind_cdi_edits_mount_option(e, i, j), "ro") == 0;
            assert_true(ro);
        }
    }
    assert_true(libcuda);
    assert_true(nvbind_cdi_edits_hook_count(e) >= 1);
    bool ldcache = false;
    for (size_t i = 0; i < nvbind_cdi_edits_hook_count(e); i++) {
        nvbind_cdi_hook hk;
        assert_int_equal(nvbind_cdi_edits_hook(e, i, &hk), 0);
        assert_string_equal(hk.hook_name, "createContainer");
        assert_string_equal(hk.path, "/usr/bin/nvbind");
        for (size_t j = 0; j < nvbind_cdi_edits_hook_arg_count(e, i); j++)
            ldcache |= strcmp(nvbind_cdi_edits_hook_arg(e, i, j), "update-ldcache") == 0;
    }
    assert_true(ldcache);

    /* Out of range: NULL and -1, never a crash. */
    size_t n = nvbind_cdi_spec_device_count(s);
    assert_null(nvbind_cdi_spec_device_name(s, n));
    assert_null(nvbind_cdi_spec_device_edits(s, n));
    assert_null(nvbind_cdi_edits_env(e, 100000));
    nvbind_cdi_mount mt;
    assert_int_equal(nvbind_cdi_edits_mount(e, nvbind_cdi_edits_mount_count(e), &mt), -1);
    nvbind_cdi_hook hk;
    assert_int_equal(nvbind_cdi_edits_hook(e, 99, &hk), -1);
    assert_null(nvbind_cdi_edits_hook_arg(e, 0, 9999));
    assert_null(nvbind_cdi_edits_mount_option(e, 99999, 0));
    assert_int_equal(nvbind_cdi_spec_device_count(NULL), 0);
    assert_null(nvbind_cdi_spec_kind(NULL));
    assert_null(nvbind_cdi_spec_edits(NULL));
    assert_int_equal(nvbind_cdi_edits_env_count(NULL), 0);
    nvbind_cdi_spec_free(s);
    nvbind_gpu_manager_free(m);
}

static size_t count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        n += de->d_name[0] != '.';
    closedir(d);
    return n;
}

static void test_write_and_load(void **state)
{
    (void)state;
    nvbind_gpu_manager *m = manager(NULL);
    nvbind_cdi_spec *s = nvbind_generate_gaming_cdi_spec(m, NULL);
    assert_non_null(s);
    nvbind_error *err = NULL;

    char *json_name = nvbind_cdi_spec_file_name(s, NVBIND_CDI_FORMAT_JSON);
    char *yaml_name = nvbind_cdi_spec_file_name(s, NVBIND_CDI_FORMAT_YAML);
    assert_string_equal(json_name, "nvidia.com-gpu-bolt.json");
    assert_string_equal(yaml_name, "nvidia.com-gpu-bolt.yaml");
    char *jpath = NULL, *ypath = NULL;
    assert_true(asprintf(&jpath, "%s/%s", outdir, json_name) > 0);
    assert_true(asprintf(&ypath, "%s/%s", outdir, yaml_name) > 0);
    assert_int_equal(nvbind_cdi_spec_write(s, jpath, NVBIND_CDI_FORMAT_JSON, &err), 0);
    assert_int_equal(nvbind_cdi_spec_write(s, ypath, NVBIND_CDI_FORMAT_YAML, &err), 0);
    assert_int_equal(count_entries(outdir), 2); /* no temporary file left behind */
    struct stat st;
    assert_int_equal(stat(jpath, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);

    /* The JSON file is the text to_json returns, and parses as the same document. */
    char *text = nvbind_cdi_spec_to_json(s, &err);
    char *file = tu_read_file(jpath);
    assert_non_null(text);
    assert_string_equal(file, text);
    json_error_t je;
    json_t *doc = json_loads(text, 0, &je);
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "kind")), "nvidia.com/gpu-bolt");
    assert_int_equal(json_array_size(json_object_get(doc, "devices")), nvbind_cdi_spec_device_count(s));
    json_decref(doc);

    /* Both files load back as valid specs with the same devices and environment. */
    const char *paths[] = {jpath, ypath};
    for (size_t p = 0; p < 2; p++) {
        nvbind_cdi_spec *back = nvbind_cdi_spec_load(paths[p], &err);
        assert_non_null(back);
        assert_int_equal(nvbind_cdi_spec_device_count(back), nvbind_cdi_spec_device_count(s));
        for (size_t i = 0; i < nvbind_cdi_spec_device_count(s); i++)
            assert_string_equal(nvbind_cdi_spec_device_name(back, i), nvbind_cdi_spec_device_name(s, i));
        assert_string_equal(tu_env(back, "VKD3D_CONFIG"), tu_env(s, "VKD3D_CONFIG"));
        assert_string_equal(nvbind_cdi_spec_version(back), nvbind_cdi_spec_version(s));
        nvbind_cdi_spec_free(back);
    }
    char *yaml = nvbind_cdi_spec_to_yaml(s, &err);
    assert_non_null(yaml);
    assert_non_null(strstr(yaml, "kind: \"nvidia.com/gpu-bolt\""));

    /* Failures write nothing and say where. */
    char *bad = NULL;
    assert_true(asprintf(&bad, "%s/missing/spec.json", outdir) > 0);
    assert_int_equal(nvbind_cdi_spec_write(s, bad, NVBIND_CDI_FORMAT_JSON, &err), -1);
    assert_int_equal(nvbind_error_code(err), NVBIND_EXIT_IO);
    assert_non_null(strstr(nvbind_error_message(err), "missing"));
    assert_int_equal(nvbind_cdi_spec_write(s, jpath, (nvbind_cdi_format)5, &err), -1);
    assert_int_equal(nvbind_error_code(err), NVBIND_EXIT_USAGE);
    assert_int_equal(count_entries(outdir), 2);
    assert_int_equal(access(bad, F_OK), -1);

    char *broken = NULL;
    assert_true(asprintf(&broken, "%s/broken.json", outdir) > 0);
    assert_int_equal(tu_write_file(broken, "{\"cdiVersion\": \"0.3.0\", \"kind\": \"bad kind\", \"devices\": []}"), 0);
    assert_null(nvbind_cdi_spec_load(broken, &err));
    assert_int_equal(nvbind_error_code(err), NVBIND_EXIT_INPUT);
    assert_non_null(strstr(nvbind_error_message(err), "kind"));
    nvbind_error_free(err);

    free(broken);
    free(bad);
    free(yaml);
    free(text);
    free(file);
    free(jpath);
    free(ypath);
    free(json_name);
    free(yaml_name);
    nvbind_cdi_spec_free(s);
    nvbind_gpu_manager_free(m);
}

static void test_no_driver(void **state)
{
    (void)state;
    char *empty = tu_mkdtemp("nvbind-api-empty");
    nvbind_manager_options o = {.host_root = empty};
    nvbind_gpu_manager *m = nvbind_gpu_manager_new(NULL, &o, NULL);
    assert_non_null(m);
    nvbind_error *err = NULL;
    assert_null(nvbind_generate_gaming_cdi_spec(m, &err));
    assert_int_equal(nvbind_error_code(err), NVBIND_EXIT_NO_DRIVER);
    assert_null(nvbind_generate_aiml_cdi_spec(m, &err));
    assert_int_equal(nvbind_error_code(err), NVBIND_EXIT_NO_DRIVER);
    nvbind_error_free(err);
    assert_null(nvbind_generate_gaming_cdi_spec(NULL, NULL));
    nvbind_gpu_manager_free(m);
    tu_rm_rf(empty);
    free(empty);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gaming_defaults),
        cmocka_unit_test(test_gaming_from_config),
        cmocka_unit_test(test_aiml),
        cmocka_unit_test(test_custom),
        cmocka_unit_test(test_custom_wsl2),
        cmocka_unit_test(test_walk),
        cmocka_unit_test(test_write_and_load),
        cmocka_unit_test(test_no_driver),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
