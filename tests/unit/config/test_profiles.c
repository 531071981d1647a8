/* Profiles (lib/policy/profiles.c): the variables and capabilities gaming, aiml, default and
 * custom profiles produce from a configuration, the Bolt capsule variables, and the
 * discovery options [host] fills in. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <cmocka.h>

#include "config/config.h"
#include "policy/profiles.h"

static nvb_config load(const char *text)
{
    nvb_config c = {0};
    nvb_err err = {0};
    if (nvb_config_load_text(&c, text, strlen(text), "nvbind.toml", &err) < 0)
        fail_msg("unexpected error: %s", err.msg);
    return c;
}

/* The value of KEY in the edits' environment, NULL when absent. */
static const char *env_of(const nvb_edits *e, const char *key)
{
    size_t kl = strlen(key);
    for (size_t i = 0; i < e->env.n; i++)
        if (strncmp(e->env.v[i], key, kl) == 0 && e->env.v[i][kl] == '=')
            return e->env.v[i] + kl + 1;
    return NULL;
}

static nvb_edits resolve(const nvb_config *c, const char *name, unsigned *caps, const char **workload)
{
    nvb_edits e = {0};
    nvb_err err = {0};
    nvb_host h = {.root = (char *)"/"};
    if (nvb_profile_resolve(c, &h, name, caps, &e, workload, &err) < 0)
        fail_msg("%s: %s", name ? name : "(none)", err.msg);
    return e;
}

static void test_gaming_seed(void **state)
{
    (void)state;
    nvb_config c = load("[bolt.gaming]\ndlss_enabled = true\nrt_cores_enabled = true\n"
                        "performance_profile = \"ultra-low-latency\"\nwine_optimizations = true\n"
                        "vrs_enabled = true\npower_profile = \"maximum\"\n");
    unsigned caps = 0;
    const char *wl = NULL;
    nvb_edits e = resolve(&c, "gaming", &caps, &wl);
    assert_string_equal(wl, "gaming");
    assert_int_equal(caps, NVB_CAP_GRAPHICS | NVB_CAP_DISPLAY | NVB_CAP_VIDEO | NVB_CAP_UTILITY | NVB_CAP_COMPAT32 |
                               NVB_CAP_NGX);
    assert_false(caps & NVB_CAP_COMPUTE);
    assert_string_equal(env_of(&e, "NVIDIA_DRIVER_CAPABILITIES"), "utility,video,graphics,display,ngx,compat32");
    assert_string_equal(env_of(&e, "PROTON_ENABLE_NVAPI"), "1");
    assert_string_equal(env_of(&e, "DXVK_ENABLE_NVAPI"), "1");
    assert_string_equal(env_of(&e, "VKD3D_CONFIG"), "dxr,dxr11");
    assert_string_equal(env_of(&e, "WINEESYNC"), "1");
    assert_string_equal(env_of(&e, "WINEFSYNC"), "1");
    assert_string_equal(env_of(&e, "__GL_MaxFramesAllowed"), "1");
    assert_string_equal(env_of(&e, "__GL_SYNC_TO_VBLANK"), "0");
    assert_string_equal(env_of(&e, "DXVK_CONFIG"), "dxgi.maxFrameLatency = 1; d3d9.maxFrameLatency = 1");
    assert_string_equal(env_of(&e, "__GL_SHADER_DISK_CACHE"), "1");
    assert_string_equal(env_of(&e, "__GL_SHADER_DISK_CACHE_SIZE"), "4294967296");
    /* vrs_enabled and power_profile have no variable outside Bolt's. */
    for (size_t i = 0; i < e.env.n; i++) {
        assert_null(strstr(e.env.v[i], "VRS"));
        assert_null(strstr(e.env.v[i], "POWER"));
    }
    nvb_edits_clear(&e);
    nvb_config_clear(&c);
}

static void test_gaming_switches_off(void **state)
{
    (void)state;
    nvb_config c = load("[bolt.gaming]\ndlss_enabled = false\nrt_cores_enabled = false\n"
                        "performance_profile = \"efficiency\"\nwine_optimizations = false\nshader_cache_size = 0\n");
    unsigned caps = 0;
    nvb_edits e = resolve(&c, "gaming", &caps, NULL);
    assert_false(caps & NVB_CAP_NGX);
    assert_string_equal(env_of(&e, "NVIDIA_DRIVER_CAPABILITIES"), "utility,video,graphics,display,compat32");
    assert_null(env_of(&e, "PROTON_ENABLE_NVAPI"));
    assert_null(env_of(&e, "DXVK_ENABLE_NVAPI"));
    assert_string_equal(env_of(&e, "VKD3D_CONFIG"), "nodxr");
    assert_null(env_of(&e, "WINEESYNC"));
    assert_null(env_of(&e, "WINEFSYNC"));
    assert_null(env_of(&e, "__GL_SHADER_DISK_CACHE_SIZE"));
    assert_string_equal(env_of(&e, "__GL_SYNC_TO_VBLANK"), "1");
    assert_string_equal(env_of(&e, "__GL_YIELD"), "USLEEP");
    assert_string_equal(env_of(&e, "DXVK_CONFIG"), "dxgi.syncInterval = 1; d3d9.presentInterval = 1");
    assert_null(env_of(&e, "__GL_MaxFramesAllowed"));
    nvb_edits_clear(&e);
    nvb_config_clear(&c);

    c = load("[bolt.gaming]\nperformance_profile = \"performance\"\n");
    e = resolve(&c, "gaming", &caps, NULL);
    assert_string_equal(env_of(&e, "__GL_SYNC_TO_VBLANK"), "0");
    assert_string_equal(env_of(&e, "__GL_THREADED_OPTIMIZATIONS"), "1");
    assert_null(env_of(&e, "DXVK_CONFIG"));
    nvb_edits_clear(&e);
    nvb_config_clear(&c);

    /* balanced: the driver's and the games' own defaults. */
    c = load("");
    e = resolve(&c, "gaming", &caps, NULL);
    assert_null(env_of(&e, "__GL_SYNC_TO_VBLANK"));
    assert_null(env_of(&e, "__GL_MaxFramesAllowed"));
    assert_null(env_of(&e, "DXVK_CONFIG"));
    nvb_edits_clear(&e);
    nvb_config_clear(&c);
}

static void test_aiml_seed(void **state)
{
    (void)state;
    nvb_config c = load("[bolt.aiml]\ncuda_cache_size = 4096\ntensor_cores_enabled = true\nmixed_precision = true\n"
                        "memory_pool_size = \"24GB\"\nmig_enabled = true\n");
    unsigned caps = 0;
    const char *wl = NULL;
    nvb_edits e = resolve(&c, "aiml", &caps, &wl);
    assert_string_equal(wl, "ai-ml");
    assert_int_equal(caps, NVB_CAP_COMPUTE | NVB_CAP_UTILITY | NVB_CAP_VIDEO);
    assert_string_equal(env_of(&e, "NVIDIA_DRIVER_CAPABILITIES"), "utility,compute,video");
    assert_string_equal(env_of(&e, "CUDA_CACHE_MAXSIZE"), "4294967296");
    /* TF32 allowed: NVIDIA_TF32_OVERRIDE is only ever 0 (off); PyTorch's override turns it on. */
    assert_null(env_of(&e, "NVIDIA_TF32_OVERRIDE"));
    assert_string_equal(env_of(&e, "TORCH_ALLOW_TF32_CUBLAS_OVERRIDE"), "1");
    assert_string_equal(env_of(&e, "TF_ENABLE_AUTO_MIXED_PRECISION"), "1");
    assert_string_equal(env_of(&e, "TF_GPU_ALLOCATOR"), "cuda_malloc_async");
    assert_string_equal(env_of(&e, "TF_CUDA_MALLOC_ASYNC_SUPPORTED_PREALLOC"), "24000000000");
    assert_true(nvb_profile_prefers_mig(&c, "aiml"));
    assert_false(nvb_profile_prefers_mig(&c, "gaming"));
    nvb_edits_clear(&e);
    nvb_config_clear(&c);
}

static void test_aiml_switches_off(void **state)
{
    (void)state;
    nvb_config c = load("[bolt.aiml]\ncuda_cache_size = 0\ntensor_cores_enabled = false\nmixed_precision = false\n");
    unsigned caps = 0;
    nvb_edits e = resolve(&c, "aiml", &caps, NULL);
    assert_null(env_of(&e, "CUDA_CACHE_MAXSIZE"));
    assert_string_equal(env_of(&e, "CUDA_CACHE_DISABLE"), "1");
    assert_string_equal(env_of(&e, "NVIDIA_TF32_OVERRIDE"), "0");
    assert_null(env_of(&e, "TORCH_ALLOW_TF32_CUBLAS_OVERRIDE"));
    assert_null(env_of(&e, "TF_ENABLE_AUTO_MIXED_PRECISION"));
    assert_null(env_of(&e, "TF_GPU_ALLOCATOR"));
    assert_false(nvb_profile_prefers_mig(&c, "aiml"));
    nvb_edits_clear(&e);
    nvb_config_clear(&c);

    c = load("[bolt.aiml]\ncuda_cache_size = 1\n");
    e = resolve(&c, "aiml", &caps, NULL);
    assert_string_equal(env_of(&e, "CUDA_CACHE_MAXSIZE"), "1048576");
    nvb_edits_clear(&e);
    nvb_config_clear(&c);
}

static void test_default_none_and_environment(void **state)
{
    (void)state;
    nvb_config c = load("[runtime.environment]\nTZ = \"UTC\"\nNVIDIA_DRIVER_CAPABILITIES = \"compute\"\n");
    unsigned caps = 0;
    const char *wl = "x";
    nvb_edits e = resolve(&c, NULL, &caps, &wl);
    assert_int_equal(caps, NVB_CAP_ALL);
    assert_null(wl);
    assert_int_equal(e.env.n, 2);
    assert_string_equal(env_of(&e, "TZ"), "UTC");
    nvb_edits_clear(&e);

    /* [runtime.environment] wins over a profile's own variables. */
    e = resolve(&c, "default", &caps, &wl);
    assert_int_equal(caps, NVB_CAP_ALL);
    assert_null(wl);
    assert_string_equal(env_of(&e, "NVIDIA_DRIVER_CAPABILITIES"), "compute");
    nvb_edits_clear(&e);
    nvb_config_clear(&c);

    c = load("");
    e = resolve(&c, "default", &caps, NULL);
    assert_string_equal(env_of(&e, "NVIDIA_DRIVER_CAPABILITIES"), "all");
    assert_int_equal(e.env.n, 1);
    nvb_edits_clear(&e);
    nvb_config_clear(&c);

    /* No configuration at all means the defaults. */
    e = resolve(NULL, "aiml", &caps, NULL);
    assert_string_equal(env_of(&e, "CUDA_CACHE_MAXSIZE"), "4294967296");
    nvb_edits_clear(&e);
}

static char tmpdir[512];

/* A fresh folder under $TMPDIR (the system's temporary folder when unset). */
static char *make_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/nvbind-profiles-XXXXXX", base && base[0] == '/' ? base : P_tmpdir);
    return mkdtemp(tmpdir);
}

static void test_custom(void **state)
{
    (void)state;
    assert_non_null(make_tmpdir());
    char dev[600], node[600], models[600];
    snprintf(dev, sizeof dev, "%s/dev", tmpdir);
    snprintf(node, sizeof node, "%s/dev/fuse", tmpdir);
    snprintf(models, sizeof models, "%s/srv", tmpdir);
    assert_int_equal(mkdir(dev, 0755), 0);
    assert_int_equal(mkdir(models, 0755), 0);
    assert_int_equal(mknod(node, S_IFCHR | 0666, makedev(10, 229)), 0);

    nvb_config c = load("[runtime.environment]\nTZ = \"UTC\"\nA = \"global\"\n"
                        "[profiles.render]\nenv = { A = \"mine\" }\ndriver_capabilities = [\"graphics\", \"utility\"]\n"
                        "devices = [\"/dev/fuse\"]\nmounts = [\"/srv:/models\"]\n"
                        "[profiles.broken]\ndevices = [\"/dev/nonexistent\"]\n"
                        "[profiles.all]\n");
    nvb_host h = {.root = tmpdir};
    nvb_edits e = {0};
    nvb_err err = {0};
    unsigned caps = 0;
    const char *wl = "x";
    assert_int_equal(nvb_profile_resolve(&c, &h, "render", &caps, &e, &wl, &err), 0);
    assert_null(wl);
    assert_int_equal(caps, NVB_CAP_GRAPHICS | NVB_CAP_UTILITY);
    assert_string_equal(env_of(&e, "NVIDIA_DRIVER_CAPABILITIES"), "utility,graphics");
    assert_string_equal(env_of(&e, "A"), "mine"); /* the profile wins over [runtime.environment] */
    assert_string_equal(env_of(&e, "TZ"), "UTC");
    assert_int_equal(e.nodes.n, 1);
    assert_string_equal(e.nodes.v[0].path, "/dev/fuse");
    assert_string_equal(e.nodes.v[0].host_path, node);
    assert_int_equal(e.nodes.v[0].type, 'c');
    assert_int_equal(e.nodes.v[0].major, 10);
    assert_int_equal(e.nodes.v[0].minor, 229);
    assert_int_equal(e.n_mounts, 1);
    assert_string_equal(e.mounts[0].host_path, models);
    assert_string_equal(e.mounts[0].container_path, "/models");
    assert_false(e.mounts[0].writable);
    nvb_edits_clear(&e);

    assert_int_equal(nvb_profile_resolve(&c, &h, "all", &caps, &e, NULL, &err), 0);
    assert_int_equal(caps, NVB_CAP_ALL);
    nvb_edits_clear(&e);

    assert_int_equal(nvb_profile_resolve(&c, &h, "broken", &caps, &e, NULL, &err), -1);
    assert_int_equal(err.exit_code, NVB_EXIT_CONFIG);
    assert_non_null(strstr(err.msg, "profiles.broken.devices: /dev/nonexistent"));
    assert_int_equal(e.env.n, 0); /* nothing added on failure */

    assert_int_equal(nvb_profile_resolve(&c, &h, "rendr", &caps, &e, NULL, &err), -1);
    assert_int_equal(err.exit_code, NVB_EXIT_USAGE);
    assert_string_equal(err.msg, "--profile 'rendr': unknown profile (valid: default, gaming, aiml, render, broken, "
                                 "all); did you mean 'render'?");
    assert_int_equal(nvb_profile_resolve(&c, &h, "zzzzzz", &caps, &e, NULL, &err), -1);
    assert_string_equal(err.msg, "--profile 'zzzzzz': unknown profile (valid: default, gaming, aiml, render, broken, "
                                 "all)");
    nvb_config_clear(&c);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    assert_int_equal(system(cmd), 0);
}

static void test_bolt_capsule(void **state)
{
    (void)state;
    nvb_config c = load("[bolt.capsule]\nsnapshot_gpu_state = true\nisolation_level = \"virtual\"\n"
                        "quic_acceleration = true\ngpu_memory_limit = \"16GB\"\ncompute_limit = \"75%\"\n"
                        "[bolt.gaming]\nvrs_enabled = true\npower_profile = \"maximum\"\n");
    nvb_edits e = {0};
    assert_int_equal(nvb_bolt_capsule_edits(&c, "ai-ml", &e), 0);
    assert_string_equal(env_of(&e, "BOLT_GPU_ENABLED"), "1");
    assert_string_equal(env_of(&e, "BOLT_GPU_ISOLATION"), "virtual");
    assert_string_equal(env_of(&e, "BOLT_GPU_SNAPSHOT"), "1");
    assert_string_equal(env_of(&e, "BOLT_QUIC_ACCELERATION"), "1");
    assert_string_equal(env_of(&e, "BOLT_GPU_MEMORY_LIMIT"), "16000000000");
    assert_string_equal(env_of(&e, "BOLT_GPU_COMPUTE_LIMIT"), "75");
    assert_string_equal(env_of(&e, "BOLT_WORKLOAD_TYPE"), "ai-ml");
    assert_null(env_of(&e, "BOLT_GPU_POWER_PROFILE"));
    nvb_edits_clear(&e);
    assert_int_equal(nvb_bolt_capsule_edits(&c, "gaming", &e), 0);
    assert_string_equal(env_of(&e, "BOLT_WORKLOAD_TYPE"), "gaming");
    assert_string_equal(env_of(&e, "BOLT_GPU_POWER_PROFILE"), "maximum");
    assert_string_equal(env_of(&e, "BOLT_GPU_VRS"), "1");
    nvb_edits_clear(&e);
    nvb_config_clear(&c);

    /* Defaults: shared, no snapshot, no workload. */
    assert_int_equal(nvb_bolt_capsule_edits(NULL, NULL, &e), 0);
    assert_int_equal(e.env.n, 2);
    assert_string_equal(env_of(&e, "BOLT_GPU_ISOLATION"), "shared");
    assert_null(env_of(&e, "BOLT_GPU_SNAPSHOT"));
    assert_null(env_of(&e, "BOLT_WORKLOAD_TYPE"));
    nvb_edits_clear(&e);
}

static void test_discover_opts(void **state)
{
    (void)state;
    nvb_config c = load("[host]\nroot = \"/srv/host\"\ndriver_root = \"/run/nvidia/driver\"\n"
                        "library_search_path = [\"/opt/a\", \"/opt/b\"]\n");
    nvb_strv cli_libs = {0}, libs = {0};
    nvb_strv_push(&cli_libs, "/opt/b");
    nvb_strv_push(&cli_libs, "/opt/c");
    nvb_discover_opts o = {0};
    assert_int_equal(nvb_config_discover_opts(&c, "/", NULL, &cli_libs, &libs, &o), 0);
    assert_string_equal(o.root, "/srv/host");
    assert_string_equal(o.driver_root, "/run/nvidia/driver");
    assert_string_equal(o.library_search[0], "/opt/b");
    assert_string_equal(o.library_search[1], "/opt/c");
    assert_string_equal(o.library_search[2], "/opt/a");
    assert_null(o.library_search[3]);
    nvb_strv_free(&libs);
    /* The command line wins. */
    assert_int_equal(nvb_config_discover_opts(&c, "/fake", "/drv", NULL, &libs, &o), 0);
    assert_string_equal(o.root, "/fake");
    assert_string_equal(o.driver_root, "/drv");
    nvb_strv_free(&libs);
    nvb_strv_free(&cli_libs);
    nvb_config_clear(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gaming_seed),
        cmocka_unit_test(test_gaming_switches_off),
        cmocka_unit_test(test_aiml_seed),
        cmocka_unit_test(test_aiml_switches_off),
        cmocka_unit_test(test_default_none_and_environment),
        cmocka_unit_test(test_custom),
        cmocka_unit_test(test_bolt_capsule),
        cmocka_unit_test(test_discover_opts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
