/* The built-in profiles (default, gaming, aiml), custom [profiles.NAME], and the Bolt
 * capsule variables. Every variable set here is read by real software; docs/profiles.md
 * names it. A switch with no variable behind it sets nothing and the docs say so. */
#include "policy/profiles.h"
#include "policy/wsl2_edits.h"
#include "config/values.h"
#include "util/cleanup.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SET(e, k, v)                                   \
    do {                                               \
        if (nvb_edits_setenv((e), (k), (v)) < 0)       \
            return -1;                                 \
    } while (0)

static int setenv_u64(nvb_edits *e, const char *key, uint64_t v)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%" PRIu64, v);
    return nvb_edits_setenv(e, key, buf);
}

static int set_caps_env(nvb_edits *e, unsigned caps)
{
    _cleanup_free_ char *s = nvb_caps_string(caps);
    return s ? nvb_edits_setenv(e, "NVIDIA_DRIVER_CAPABILITIES", s) : -1;
}

/* gaming: graphics stack (Vulkan/EGL/GLX vendor files, nvoptix.bin), display, video
 * (NVENC/NVDEC for streaming and recording), utility (NVML, which dxvk-nvapi queries) and
 * 32-bit libraries for Wine/Steam; NGX when DLSS is on. */
static int gaming_edits(const nvb_config_gaming *g, nvb_edits *e, unsigned *caps)
{
    *caps = NVB_CAP_GRAPHICS | NVB_CAP_DISPLAY | NVB_CAP_VIDEO | NVB_CAP_UTILITY | NVB_CAP_COMPAT32;
    if (g->dlss_enabled)
        *caps |= NVB_CAP_NGX;
    if (set_caps_env(e, *caps) < 0)
        return -1;

    /* NVIDIA's driver keeps compiled OpenGL/Vulkan shaders on disk; it leaves the cache off
     * for root by default, and containers often run as root. */
    SET(e, "__GL_SHADER_DISK_CACHE", "1");
    if (g->shader_cache_size && setenv_u64(e, "__GL_SHADER_DISK_CACHE_SIZE", g->shader_cache_size) < 0)
        return -1;

    if (g->dlss_enabled) {
        /* Proton installs dxvk-nvapi (NVAPI, which DLSS needs); DXVK stops hiding the GPU. */
        SET(e, "PROTON_ENABLE_NVAPI", "1");
        SET(e, "DXVK_ENABLE_NVAPI", "1");
    }
    /* VKD3D-Proton: "dxr" forces DirectX Raytracing on where its defaults leave it off,
     * "dxr11" is the older releases' spelling of DXR 1.1; "nodxr" turns it off. */
    SET(e, "VKD3D_CONFIG", g->rt_cores_enabled ? "dxr,dxr11" : "nodxr");
    if (g->wine_optimizations) {
        SET(e, "WINEESYNC", "1");
        SET(e, "WINEFSYNC", "1");
    }
    switch (g->performance_profile) {
    case NVB_PERF_ULTRA_LOW_LATENCY:
        /* One frame queued at most, no waiting for vblank (OpenGL), and the same frame
         * latency limit in DXVK's D3D9-11. */
        SET(e, "__GL_MaxFramesAllowed", "1");
        SET(e, "__GL_SYNC_TO_VBLANK", "0");
        SET(e, "DXVK_CONFIG", "dxgi.maxFrameLatency = 1; d3d9.maxFrameLatency = 1");
        break;
    case NVB_PERF_PERFORMANCE:
        SET(e, "__GL_SYNC_TO_VBLANK", "0");
        SET(e, "__GL_THREADED_OPTIMIZATIONS", "1");
        break;
    case NVB_PERF_BALANCED:
        break; /* the driver's and the games' own defaults */
    case NVB_PERF_EFFICIENCY:
        /* Frames paced by the display, and sleeping rather than spinning while waiting. */
        SET(e, "__GL_SYNC_TO_VBLANK", "1");
        SET(e, "__GL_YIELD", "USLEEP");
        SET(e, "DXVK_CONFIG", "dxgi.syncInterval = 1; d3d9.presentInterval = 1");
        break;
    }
    /* vrs_enabled and power_profile: no driver, DXVK, VKD3D-Proton, Proton or Wine variable
     * controls them; they reach Bolt through nvb_bolt_capsule_edits only. */
    return 0;
}

/* aiml: CUDA and NVML, plus video for GPU decoding in data pipelines (NVDEC). */
static int aiml_edits(const nvb_config_aiml *a, nvb_edits *e, unsigned *caps)
{
    *caps = NVB_CAP_COMPUTE | NVB_CAP_UTILITY | NVB_CAP_VIDEO;
    if (set_caps_env(e, *caps) < 0)
        return -1;
    /* The CUDA driver's JIT cache: size in bytes (CUDA documents 4 GiB as the maximum, which
     * the schema enforces); 0 turns the cache off. */
    if (a->cuda_cache_size_mib) {
        if (setenv_u64(e, "CUDA_CACHE_MAXSIZE", a->cuda_cache_size_mib * 1024 * 1024) < 0)
            return -1;
    } else {
        SET(e, "CUDA_CACHE_DISABLE", "1");
    }
    /* TF32: NVIDIA_TF32_OVERRIDE=0 stops NVIDIA's libraries (cuBLAS, cuDNN) from using TF32
     * whatever the application asks; other values are reserved, so "enabled" does not set
     * it. PyTorch leaves TF32 off for matrix products unless told; its override turns it on. */
    if (a->tensor_cores_enabled)
        SET(e, "TORCH_ALLOW_TF32_CUBLAS_OVERRIDE", "1");
    else
        SET(e, "NVIDIA_TF32_OVERRIDE", "0");
    /* TensorFlow 1.x's automatic mixed precision graph rewrite (TF 2 ignores it). */
    if (a->mixed_precision)
        SET(e, "TF_ENABLE_AUTO_MIXED_PRECISION", "1");
    /* TensorFlow's cudaMallocAsync allocator, with that much memory reserved at start. */
    if (a->memory_pool_size) {
        SET(e, "TF_GPU_ALLOCATOR", "cuda_malloc_async");
        if (setenv_u64(e, "TF_CUDA_MALLOC_ASYNC_SUPPORTED_PREALLOC", a->memory_pool_size) < 0)
            return -1;
    }
    return 0;
}

static int runtime_environment(const nvb_config *cfg, nvb_edits *e)
{
    for (size_t i = 0; i < cfg->runtime.environment.n; i++) {
        _cleanup_free_ char *kv = strdup(cfg->runtime.environment.v[i]);
        char *eq = kv ? strchr(kv, '=') : NULL;
        if (!eq)
            return kv ? 0 : -1;
        *eq = '\0';
        if (nvb_edits_setenv(e, kv, eq + 1) < 0)
            return -1;
    }
    return 0;
}

static int custom_env(const nvb_custom_profile *p, nvb_edits *e)
{
    for (size_t i = 0; i < p->env.n; i++) {
        _cleanup_free_ char *kv = strdup(p->env.v[i]);
        char *eq = kv ? strchr(kv, '=') : NULL;
        if (!kv)
            return -1;
        if (!eq)
            continue;
        *eq = '\0';
        if (nvb_edits_setenv(e, kv, eq + 1) < 0)
            return -1;
    }
    return 0;
}

/* A custom profile's extra device nodes and mounts, found under the host root. */
static int custom_files(const nvb_custom_profile *p, const nvb_host *h, nvb_edits *e, nvb_err *err)
{
    const char *root = h->root ? h->root : "/";
    for (size_t i = 0; i < p->device_nodes.n; i++) {
        const char *path = p->device_nodes.v[i];
        _cleanup_free_ char *host = nvb_path_join(root, path);
        if (!host)
            return nvb_errf(err, NVB_EXIT_IO, "out of memory");
        struct stat st;
        if (stat(host, &st) < 0)
            return nvb_errf_errno(err, NVB_EXIT_CONFIG, errno, "profiles.%s.devices: %s (%s)", p->name, path, host);
        if (!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode))
            return nvb_errf(err, NVB_EXIT_CONFIG, "profiles.%s.devices: %s (%s) is not a device node", p->name, path,
                            host);
        nvb_devnode n = nvb_devnode_from_stat(path, host, &st);
        if (nvb_edits_add_node(e, &n) < 0)
            return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    }
    for (size_t i = 0; i < p->mounts.n; i++) {
        const char *spec = p->mounts.v[i], *colon = strchr(spec, ':');
        if (!colon)
            continue; /* the schema accepts only HOST:CONTAINER */
        _cleanup_free_ char *src = strndup(spec, (size_t)(colon - spec));
        _cleanup_free_ char *host = src ? nvb_path_join(root, src) : NULL;
        if (!host)
            return nvb_errf(err, NVB_EXIT_IO, "out of memory");
        struct stat st;
        if (lstat(host, &st) < 0)
            return nvb_errf_errno(err, NVB_EXIT_CONFIG, errno, "profiles.%s.mounts: %s (%s)", p->name, src, host);
        if (nvb_edits_add_mount(e, host, colon + 1, false) < 0)
            return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    }
    return 0;
}

int nvb_profile_names(const nvb_config *cfg, nvb_strv *out)
{
    static const char *const builtin[] = {"default", "gaming", "aiml"};
    for (size_t i = 0; i < 3; i++)
        if (nvb_strv_push(out, builtin[i]) < 0)
            return -1;
    for (size_t i = 0; cfg && i < cfg->n_profiles; i++)
        if (nvb_strv_push(out, cfg->profiles[i].name) < 0)
            return -1;
    return 0;
}

static int unknown_profile(const nvb_config *cfg, const char *name, nvb_err *err)
{
    nvb_strv names = {0};
    if (nvb_profile_names(cfg, &names) < 0) {
        nvb_strv_free(&names);
        return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    }
    char list[1024] = "";
    size_t len = 0;
    for (size_t i = 0; i < names.n; i++) {
        int k = snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "", names.v[i]);
        if (k < 0 || (size_t)k >= sizeof list - len)
            break;
        len += (size_t)k;
    }
    const char *s = nvb_suggest(name, (const char *const *)names.v, names.n);
    if (s)
        nvb_errf(err, NVB_EXIT_USAGE, "--profile '%s': unknown profile (valid: %s); did you mean '%s'?", name, list, s);
    else
        nvb_errf(err, NVB_EXIT_USAGE, "--profile '%s': unknown profile (valid: %s)", name, list);
    nvb_strv_free(&names);
    return -1;
}

int nvb_profile_resolve(const nvb_config *cfg, const nvb_host *h, const char *name, unsigned *caps,
                        nvb_edits *extra, const char **workload, nvb_err *err)
{
    nvb_config defaults;
    bool own_defaults = !cfg;
    if (own_defaults) {
        nvb_config_init(&defaults);
        cfg = &defaults;
    }
    const char *wl = NULL;
    const nvb_custom_profile *custom = NULL;
    nvb_edits e = {0};
    int r = 0;
    *caps = NVB_CAP_ALL;
    if (!name) {
        /* no profile: nothing but the configuration's environment */
    } else if (strcmp(name, "default") == 0) {
        r = set_caps_env(&e, NVB_CAP_ALL);
    } else if (strcmp(name, "gaming") == 0) {
        r = gaming_edits(&cfg->gaming, &e, caps);
        if (r == 0)
            r = nvb_wsl2_gaming_edits(h, &e); /* WSLg and Mesa's D3D12 driver on WSL2, nothing elsewhere */
        wl = "gaming";
    } else if (strcmp(name, "aiml") == 0) {
        r = aiml_edits(&cfg->aiml, &e, caps);
        wl = "ai-ml";
    } else if ((custom = nvb_config_profile(cfg, name))) {
        *caps = custom->caps ? custom->caps : NVB_CAP_ALL;
        r = set_caps_env(&e, *caps);
    } else {
        unknown_profile(cfg, name, err);
        goto fail;
    }
    if (r == 0)
        r = runtime_environment(cfg, &e);
    if (r == 0 && custom)
        r = custom_env(custom, &e);
    if (r < 0) {
        nvb_errf(err, NVB_EXIT_IO, "out of memory");
        goto fail;
    }
    if (custom && h && custom_files(custom, h, &e, err) < 0)
        goto fail;
    if (nvb_edits_merge(extra, &e) < 0) {
        nvb_errf(err, NVB_EXIT_IO, "out of memory");
        goto fail;
    }
    nvb_edits_clear(&e);
    if (workload)
        *workload = wl;
    if (own_defaults)
        nvb_config_clear(&defaults);
    return 0;
fail:
    nvb_edits_clear(&e);
    if (own_defaults)
        nvb_config_clear(&defaults);
    return -1;
}

bool nvb_profile_prefers_mig(const nvb_config *cfg, const char *name)
{
    return cfg && name && strcmp(name, "aiml") == 0 && cfg->aiml.mig_enabled;
}

int nvb_bolt_capsule_edits(const nvb_config *cfg, const char *workload, nvb_edits *e)
{
    nvb_config defaults;
    bool own_defaults = !cfg;
    if (own_defaults) {
        nvb_config_init(&defaults);
        cfg = &defaults;
    }
    const nvb_config_capsule *c = &cfg->capsule;
    int r = nvb_edits_setenv(e, "BOLT_GPU_ENABLED", "1");
    if (r == 0)
        r = nvb_edits_setenv(e, "BOLT_GPU_ISOLATION", nvb_isolation_name(c->isolation_level));
    if (r == 0 && c->snapshot_gpu_state)
        r = nvb_edits_setenv(e, "BOLT_GPU_SNAPSHOT", "1");
    if (r == 0 && c->quic_acceleration)
        r = nvb_edits_setenv(e, "BOLT_QUIC_ACCELERATION", "1");
    if (r == 0 && c->isolation_level == NVB_ISOLATION_VIRTUAL && c->gpu_memory_limit)
        r = setenv_u64(e, "BOLT_GPU_MEMORY_LIMIT", c->gpu_memory_limit);
    if (r == 0 && c->isolation_level == NVB_ISOLATION_VIRTUAL && c->compute_limit_percent)
        r = setenv_u64(e, "BOLT_GPU_COMPUTE_LIMIT", c->compute_limit_percent);
    if (r == 0 && workload)
        r = nvb_edits_setenv(e, "BOLT_WORKLOAD_TYPE", workload);
    if (r == 0 && workload && strcmp(workload, "gaming") == 0) {
        r = nvb_edits_setenv(e, "BOLT_GPU_POWER_PROFILE", nvb_power_profile_name(cfg->gaming.power_profile));
        if (r == 0 && cfg->gaming.vrs_enabled)
            r = nvb_edits_setenv(e, "BOLT_GPU_VRS", "1");
    }
    if (own_defaults)
        nvb_config_clear(&defaults);
    return r;
}

int nvb_config_discover_opts(const nvb_config *cfg, const char *root, const char *driver_root,
                             const nvb_strv *cli_libs, nvb_strv *libs, nvb_discover_opts *o)
{
    o->root = root;
    if ((!root || strcmp(root, "/") == 0) && cfg && cfg->host.root)
        o->root = cfg->host.root;
    o->driver_root = driver_root ? driver_root : cfg ? cfg->host.driver_root : NULL;
    for (size_t i = 0; cli_libs && i < cli_libs->n; i++)
        if (nvb_strv_push(libs, cli_libs->v[i]) < 0)
            return -1;
    for (size_t i = 0; cfg && i < cfg->host.library_search_path.n; i++)
        if (!nvb_strv_contains(libs, cfg->host.library_search_path.v[i]) &&
            nvb_strv_push(libs, cfg->host.library_search_path.v[i]) < 0)
            return -1;
    o->library_search = libs->n ? (const char *const *)libs->v : NULL;
    return 0;
}
