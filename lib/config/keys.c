/* The key table of nvbind.toml, the defaults, and the small accessors of nvb_config. */
#include "config/keys.h"
#include "config/values.h"
#include "policy/cdi_generate.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

const char *const nvb_isolation_words[] = {"shared", "exclusive", "virtual", NULL};
const char *const nvb_perf_words[] = {"ultra-low-latency", "performance", "balanced", "efficiency", NULL};
const char *const nvb_power_words[] = {"maximum", "balanced", "efficiency", NULL};
const char *const nvb_runtime_words[] = {"podman", "docker", "bolt", "runc", "crun", NULL};
const char *const nvb_builtin_profiles[] = {"default", "gaming", "aiml", NULL};
const char *const nvb_profile_keys[] = {"env", "driver_capabilities", "devices", "mounts", NULL};

const char *const nvb_key_tables[] = {
    "bolt.capsule", "bolt.gaming", "bolt.aiml", "runtime", "host", "gpu", "security", "cdi", "isolation",
};
const size_t nvb_n_key_tables = sizeof nvb_key_tables / sizeof nvb_key_tables[0];

#define OFF(field) offsetof(nvb_config, field)

const nvb_key nvb_keys[] = {
    /* [bolt.capsule] */
    {"bolt.capsule", "snapshot_gpu_state", NVB_KEY_BOOL, OFF(capsule.snapshot_gpu_state), NULL, 0, NULL,
     "ask Bolt to snapshot GPU state with the capsule (BOLT_GPU_SNAPSHOT=1 in the gpu-bolt spec)", NULL},
    {"bolt.capsule", "isolation_level", NVB_KEY_ENUM, OFF(capsule.isolation_level), nvb_isolation_words, 0, NULL,
     "shared (GPUs shared between capsules), exclusive (one capsule owns a GPU), virtual (shared with limits)", NULL},
    {"bolt.capsule", "quic_acceleration", NVB_KEY_BOOL, OFF(capsule.quic_acceleration), NULL, 0, NULL,
     "tell Bolt the capsule may use GPU-accelerated QUIC (BOLT_QUIC_ACCELERATION=1)", NULL},
    {"bolt.capsule", "gpu_memory_limit", NVB_KEY_SIZE, OFF(capsule.gpu_memory_limit), NULL, 0, NULL,
     "virtual isolation only: GPU memory per capsule, e.g. \"8GB\" (10^9 bytes) or \"8GiB\" (2^30); 0 = no limit", NULL},
    {"bolt.capsule", "compute_limit", NVB_KEY_PERCENT, OFF(capsule.compute_limit_percent), NULL, 0, NULL,
     "virtual isolation only: share of the GPU's compute, e.g. \"75%\"; 0 = no limit", NULL},
    /* [bolt.gaming] */
    {"bolt.gaming", "dlss_enabled", NVB_KEY_BOOL, OFF(gaming.dlss_enabled), NULL, 0, NULL,
     "mount NGX (DLSS) files and enable NVAPI in Proton and DXVK", NULL},
    {"bolt.gaming", "rt_cores_enabled", NVB_KEY_BOOL, OFF(gaming.rt_cores_enabled), NULL, 0, NULL,
     "DirectX ray tracing in VKD3D-Proton: true forces it on, false turns it off", NULL},
    {"bolt.gaming", "performance_profile", NVB_KEY_ENUM, OFF(gaming.performance_profile), nvb_perf_words, 0, NULL,
     "ultra-low-latency, performance, balanced (driver defaults) or efficiency", NULL},
    {"bolt.gaming", "wine_optimizations", NVB_KEY_BOOL, OFF(gaming.wine_optimizations), NULL, 0, NULL,
     "enable Wine's esync and fsync (WINEESYNC=1, WINEFSYNC=1)", NULL},
    {"bolt.gaming", "vrs_enabled", NVB_KEY_BOOL, OFF(gaming.vrs_enabled), NULL, 0, NULL,
     "variable rate shading: passed to Bolt only (BOLT_GPU_VRS); no driver variable exists for it", NULL},
    {"bolt.gaming", "power_profile", NVB_KEY_ENUM, OFF(gaming.power_profile), nvb_power_words, 0, NULL,
     "maximum, balanced or efficiency: passed to Bolt only (BOLT_GPU_POWER_PROFILE); GPU power is host-wide", NULL},
    {"bolt.gaming", "shader_cache_size", NVB_KEY_SIZE, OFF(gaming.shader_cache_size), NULL, 0, NULL,
     "NVIDIA's OpenGL/Vulkan shader disk cache limit (__GL_SHADER_DISK_CACHE_SIZE); 0 = the driver's default",
     NULL},
    /* [bolt.aiml] */
    {"bolt.aiml", "cuda_cache_size", NVB_KEY_UINT, OFF(aiml.cuda_cache_size_mib), NULL, 4096,
     "MiB; CUDA caps its JIT cache at 4 GiB",
     "CUDA JIT cache size in MiB (CUDA_CACHE_MAXSIZE in bytes); 0 disables the cache; at most 4096", NULL},
    {"bolt.aiml", "tensor_cores_enabled", NVB_KEY_BOOL, OFF(aiml.tensor_cores_enabled), NULL, 0, NULL,
     "TF32 tensor-core math for FP32: false sets NVIDIA_TF32_OVERRIDE=0", NULL},
    {"bolt.aiml", "mixed_precision", NVB_KEY_BOOL, OFF(aiml.mixed_precision), NULL, 0, NULL,
     "TensorFlow 1.x automatic mixed precision (TF_ENABLE_AUTO_MIXED_PRECISION=1)", NULL},
    {"bolt.aiml", "memory_pool_size", NVB_KEY_SIZE, OFF(aiml.memory_pool_size), NULL, 0, NULL,
     "GPU memory TensorFlow's CUDA pool allocator reserves at start, e.g. \"16GB\"; 0 = none", NULL},
    {"bolt.aiml", "mig_enabled", NVB_KEY_BOOL, OFF(aiml.mig_enabled), NULL, 0, NULL,
     "prefer MIG devices when choosing GPUs for AI/ML containers", NULL},
    /* [runtime] */
    {"runtime", "default", NVB_KEY_CHOICE, OFF(runtime.default_runtime), nvb_runtime_words, 0, NULL,
     "engine for `nvbind run`: podman, docker, bolt, runc or crun; unset = the first one found", "\"podman\""},
    {"runtime", "extra_args", NVB_KEY_STRINGS, OFF(runtime.extra_args), NULL, 0, NULL,
     "arguments added to every engine command", NULL},
    {"runtime", "oci_runtime", NVB_KEY_OCI_RUNTIME, OFF(runtime.oci_runtime), NULL, 0, NULL,
     "the OCI runtime the nvbind shim hands containers to: runc, crun or an absolute path; unset = runc",
     "\"crun\""},
    {"runtime", "log_file", NVB_KEY_PATH, OFF(runtime.log_file), NULL, 0, NULL,
     "a file the nvbind shim appends each decision to (the claim taken, the runtime it hands over to), "
     "besides the runtime's --log; unset = none", "\"/var/log/nvbind/runtime.log\""},
    /* [host] */
    {"host", "root", NVB_KEY_PATH, OFF(host.root), NULL, 0, NULL,
     "the folder treated as the host's / when --root is not given; unset = /", "\"/\""},
    {"host", "driver_root", NVB_KEY_PATH, OFF(host.driver_root), NULL, 0, NULL,
     "where the driver's files live, a host path inside root (GPU operator: /run/nvidia/driver); unset = root",
     "\"/run/nvidia/driver\""},
    {"host", "library_search_path", NVB_KEY_PATHS, OFF(host.library_search_path), NULL, 0, NULL,
     "extra folders to look for driver libraries in", NULL},
    /* [gpu] */
    {"gpu", "default", NVB_KEY_SELECTION, OFF(gpu.default_selection), NULL, 0, NULL,
     "GPUs a container gets when none are asked for: all, none, \"0,1\", UUIDs, MIG \"0:1\"", NULL},
    /* [security] */
    {"security", "allow_env_requests", NVB_KEY_BOOL, OFF(security.allow_env_requests), NULL, 0, NULL,
     "honour a container's own NVIDIA_VISIBLE_DEVICES request at all", NULL},
    {"security", "allow_unprivileged_env_requests", NVB_KEY_BOOL, OFF(security.allow_unprivileged_env_requests), NULL,
     0, NULL, "... also from containers that are not privileged", NULL},
    {"security", "allow_annotation_requests", NVB_KEY_BOOL, OFF(security.allow_annotation_requests), NULL, 0, NULL,
     "honour GPU requests in a container's annotations (nvbind.gpus, nvbind.isolation, nvbind.profile, "
     "cdi.k8s.io/*); an image can carry them", NULL},
    {"security", "allow_run_options", NVB_KEY_STRINGS, OFF(security.allow_run_options), NULL, 0, NULL,
     "engine options nvbind run passes although they undo GPU isolation, e.g. [\"--cap-add\"]", NULL},
    /* [cdi] */
    {"cdi", "spec_dirs", NVB_KEY_PATHS, OFF(cdi.spec_dirs), NULL, 0, NULL,
     "folders CDI specs are read from", NULL},
    {"cdi", "output_dir", NVB_KEY_PATH, OFF(cdi.output_dir), NULL, 0, NULL,
     "where `nvbind run` and the shim write the specs they generate", NULL},
    {"cdi", "device_name_strategy", NVB_KEY_NAMING, OFF(cdi.naming), NULL, 0, NULL,
     "device names in generated specs: index (\"0\"), uuid (\"GPU-...\"), type-index (\"gpu0\")", NULL},
    {"cdi", "hook_path", NVB_KEY_PATH, OFF(cdi.hook_path), NULL, 0, NULL,
     "absolute path of the nvbind binary the specs' hooks run; unset = the running nvbind",
     "\"/usr/bin/nvbind\""},
    /* [isolation] */
    {"isolation", "state_dir", NVB_KEY_PATH, OFF(isolation.state_dir), NULL, 0, NULL,
     "where exclusive GPU claims are kept", NULL},
    {"isolation", "audit_log", NVB_KEY_PATH, OFF(isolation.audit_log), NULL, 0, NULL,
     "the audit log of GPU grants and denials", NULL},
};
const size_t nvb_n_keys = sizeof nvb_keys / sizeof nvb_keys[0];

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

void nvb_config_init(nvb_config *c)
{
    memset(c, 0, sizeof *c);
    c->capsule.isolation_level = NVB_ISOLATION_SHARED;
    c->gaming.dlss_enabled = true;
    c->gaming.rt_cores_enabled = true;
    c->gaming.wine_optimizations = true;
    c->gaming.vrs_enabled = false;
    c->gaming.performance_profile = NVB_PERF_BALANCED;
    c->gaming.power_profile = NVB_POWER_BALANCED;
    c->gaming.shader_cache_size = 4ull << 30;
    c->aiml.cuda_cache_size_mib = 4096;
    c->aiml.tensor_cores_enabled = true;
    c->aiml.mixed_precision = false;
    c->aiml.mig_enabled = false;
    c->gpu.default_selection = dup_or_null("all");
    c->security.allow_env_requests = true;
    c->security.allow_unprivileged_env_requests = true;
    c->security.allow_annotation_requests = false; /* an image can carry annotations */
    nvb_strv_push(&c->cdi.spec_dirs, "/etc/cdi");
    nvb_strv_push(&c->cdi.spec_dirs, "/var/run/cdi");
    c->cdi.output_dir = dup_or_null("/var/run/cdi");
    c->cdi.naming = NVB_NAMING_INDEX | NVB_NAMING_UUID;
    c->isolation.state_dir = dup_or_null("/run/nvbind");
    c->isolation.audit_log = dup_or_null("/var/log/nvbind/audit.log");
}

static void custom_profile_clear(nvb_custom_profile *p)
{
    free(p->name);
    nvb_strv_free(&p->env);
    nvb_strv_free(&p->device_nodes);
    nvb_strv_free(&p->mounts);
}

void nvb_config_clear(nvb_config *c)
{
    free(c->source);
    free(c->runtime.default_runtime);
    nvb_strv_free(&c->runtime.extra_args);
    nvb_strv_free(&c->security.allow_run_options);
    nvb_strv_free(&c->runtime.environment);
    free(c->runtime.oci_runtime);
    free(c->runtime.log_file);
    free(c->host.root);
    free(c->host.driver_root);
    nvb_strv_free(&c->host.library_search_path);
    free(c->gpu.default_selection);
    nvb_strv_free(&c->cdi.spec_dirs);
    free(c->cdi.output_dir);
    free(c->cdi.hook_path);
    free(c->isolation.state_dir);
    free(c->isolation.audit_log);
    for (size_t i = 0; i < c->n_profiles; i++)
        custom_profile_clear(&c->profiles[i]);
    free(c->profiles);
    for (size_t i = 0; i < c->n_origins; i++) {
        free(c->origins[i].key);
        free(c->origins[i].where);
    }
    free(c->origins);
    memset(c, 0, sizeof *c);
}

const char *nvb_isolation_name(enum nvb_isolation i)
{
    return (unsigned)i < 3 ? nvb_isolation_words[i] : "?";
}

int nvb_isolation_parse(const char *s, enum nvb_isolation *out)
{
    for (int i = 0; nvb_isolation_words[i]; i++)
        if (strcmp(s, nvb_isolation_words[i]) == 0) {
            *out = (enum nvb_isolation)i;
            return 0;
        }
    return -1;
}

const char *nvb_perf_profile_name(enum nvb_perf_profile p)
{
    return (unsigned)p < 4 ? nvb_perf_words[p] : "?";
}

const char *nvb_power_profile_name(enum nvb_power_profile p)
{
    return (unsigned)p < 3 ? nvb_power_words[p] : "?";
}

const char *nvb_config_origin(const nvb_config *c, const char *key)
{
    for (size_t i = 0; i < c->n_origins; i++)
        if (strcmp(c->origins[i].key, key) == 0)
            return c->origins[i].where;
    return "default";
}

int nvb_config_set_origin(nvb_config *c, const char *key, const char *where)
{
    for (size_t i = 0; i < c->n_origins; i++) {
        if (strcmp(c->origins[i].key, key) == 0) {
            char *w = strdup(where);
            if (!w)
                return -1;
            free(c->origins[i].where);
            c->origins[i].where = w;
            return 0;
        }
    }
    struct nvb_config_origin *nv = realloc(c->origins, (c->n_origins + 1) * sizeof *nv);
    if (!nv)
        return -1;
    c->origins = nv;
    struct nvb_config_origin o = {strdup(key), strdup(where)};
    if (!o.key || !o.where) {
        free(o.key);
        free(o.where);
        return -1;
    }
    c->origins[c->n_origins++] = o;
    return 0;
}

const nvb_custom_profile *nvb_config_profile(const nvb_config *c, const char *name)
{
    for (size_t i = 0; i < c->n_profiles; i++)
        if (strcmp(c->profiles[i].name, name) == 0)
            return &c->profiles[i];
    return NULL;
}
