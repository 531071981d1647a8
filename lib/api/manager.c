/* The GPU manager: the configuration (a BoltConfig, optionally over an nvbind.toml) and where
 * the host is. Immutable after creation but for the host model it keeps (api/kept.c, under its
 * own lock), so one manager serves several threads. */
#include "api/api.h"
#include "api/api_paths.h"

#include <stdlib.h>
#include <string.h>

void nvb_api_bolt_from_config(const nvb_config *c, nvbind_bolt_config *out)
{
    *out = (nvbind_bolt_config){
        .capsule =
            {
                .snapshot_gpu_state = c->capsule.snapshot_gpu_state,
                .isolation_level = c->capsule.isolation_level == NVB_ISOLATION_EXCLUSIVE ? NVBIND_ISOLATION_EXCLUSIVE
                                   : c->capsule.isolation_level == NVB_ISOLATION_VIRTUAL ? NVBIND_ISOLATION_VIRTUAL
                                                                                          : NVBIND_ISOLATION_SHARED,
                .quic_acceleration = c->capsule.quic_acceleration,
                .gpu_memory_limit = c->capsule.gpu_memory_limit,
                .compute_limit_percent = c->capsule.compute_limit_percent,
            },
        .has_gaming = c->gaming.present,
        .has_aiml = c->aiml.present,
    };
    if (c->gaming.present)
        out->gaming = (nvbind_bolt_gaming_gpu_config){
            .dlss_enabled = c->gaming.dlss_enabled,
            .rt_cores_enabled = c->gaming.rt_cores_enabled,
            .performance_profile = (nvbind_performance_profile)c->gaming.performance_profile,
            .wine_optimizations = c->gaming.wine_optimizations,
            .vrs_enabled = c->gaming.vrs_enabled,
            .power_profile = (nvbind_power_profile)c->gaming.power_profile,
        };
    if (c->aiml.present)
        out->aiml = (nvbind_bolt_aiml_gpu_config){
            .cuda_cache_size = c->aiml.cuda_cache_size_mib,
            .tensor_cores_enabled = c->aiml.tensor_cores_enabled,
            .mixed_precision = c->aiml.mixed_precision,
            .memory_pool_size = c->aiml.memory_pool_size,
            .mig_enabled = c->aiml.mig_enabled,
        };
}

/* The public enums list their values in the configuration model's order. */
_Static_assert((int)NVBIND_PERFORMANCE_ULTRA_LOW_LATENCY == (int)NVB_PERF_ULTRA_LOW_LATENCY &&
                   (int)NVBIND_PERFORMANCE_PERFORMANCE == (int)NVB_PERF_PERFORMANCE &&
                   (int)NVBIND_PERFORMANCE_BALANCED == (int)NVB_PERF_BALANCED &&
                   (int)NVBIND_PERFORMANCE_EFFICIENCY == (int)NVB_PERF_EFFICIENCY,
               "performance profiles in the same order");
_Static_assert((int)NVBIND_POWER_MAXIMUM == (int)NVB_POWER_MAXIMUM && (int)NVBIND_POWER_BALANCED == (int)NVB_POWER_BALANCED &&
                   (int)NVBIND_POWER_EFFICIENCY == (int)NVB_POWER_EFFICIENCY,
               "power profiles in the same order");

void nvb_api_bolt_to_config(const nvbind_bolt_config *b, nvb_config *c)
{
    c->capsule.snapshot_gpu_state = b->capsule.snapshot_gpu_state;
    c->capsule.isolation_level = b->capsule.isolation_level == NVBIND_ISOLATION_EXCLUSIVE ? NVB_ISOLATION_EXCLUSIVE
                                 : b->capsule.isolation_level == NVBIND_ISOLATION_VIRTUAL ? NVB_ISOLATION_VIRTUAL
                                                                                          : NVB_ISOLATION_SHARED;
    c->capsule.quic_acceleration = b->capsule.quic_acceleration;
    c->capsule.gpu_memory_limit = b->capsule.gpu_memory_limit;
    c->capsule.compute_limit_percent = b->capsule.compute_limit_percent;
    c->gaming.present = b->has_gaming;
    if (b->has_gaming) {
        c->gaming.dlss_enabled = b->gaming.dlss_enabled;
        c->gaming.rt_cores_enabled = b->gaming.rt_cores_enabled;
        c->gaming.performance_profile = (enum nvb_perf_profile)b->gaming.performance_profile;
        c->gaming.wine_optimizations = b->gaming.wine_optimizations;
        c->gaming.vrs_enabled = b->gaming.vrs_enabled;
        c->gaming.power_profile = (enum nvb_power_profile)b->gaming.power_profile;
    }
    c->aiml.present = b->has_aiml;
    if (b->has_aiml) {
        c->aiml.cuda_cache_size_mib = b->aiml.cuda_cache_size;
        c->aiml.tensor_cores_enabled = b->aiml.tensor_cores_enabled;
        c->aiml.mixed_precision = b->aiml.mixed_precision;
        c->aiml.memory_pool_size = b->aiml.memory_pool_size;
        c->aiml.mig_enabled = b->aiml.mig_enabled;
    }
}

NVBIND_EXPORT int nvbind_bolt_config_load(const char *path, nvbind_bolt_config *out, nvbind_error **err)
{
    if (!out)
        return nvb_api_failf(err, NVB_EXIT_USAGE, "nvbind_bolt_config_load: out is NULL");
    nvb_config c;
    nvb_config_init(&c);
    nvb_err e = {0};
    int r = nvb_config_load(&c, path, &e);
    if (r == 0)
        nvb_api_bolt_from_config(&c, out);
    nvb_config_clear(&c);
    return r < 0 ? nvb_api_fail(err, &e) : 0;
}

NVBIND_EXPORT void nvbind_gpu_manager_free(nvbind_gpu_manager *m)
{
    if (!m)
        return;
    nvb_config_clear(&m->config);
    free(m->host_root);
    free(m->driver_root);
    free(m->cdi_spec_dir);
    free(m->hook_path);
    free(m->config_path);
    nvb_api_kept_free(m->kept);
    free(m);
}

/* The first of the given values that is set, copied; NULL when none is (or out of memory). */
static char *first_of(const char *a, const char *b, const char *c)
{
    const char *v = a && *a ? a : b && *b ? b : c;
    return v ? strdup(v) : NULL;
}

static int check_absolute(const char *what, const char *path, nvbind_error **err)
{
    if (path && path[0] != '/')
        return nvb_api_failf(err, NVB_EXIT_USAGE, "%s '%s' must be an absolute path", what, path);
    return 0;
}

NVBIND_EXPORT nvbind_gpu_manager *nvbind_gpu_manager_new(const nvbind_bolt_config *config,
                                                         const nvbind_manager_options *options, nvbind_error **err)
{
    static const nvbind_manager_options none = {0};
    const nvbind_manager_options *o = options ? options : &none;
    if (config && nvb_api_check_bolt(config, err) < 0)
        return NULL;
    nvbind_gpu_manager *m = calloc(1, sizeof *m);
    if (!m)
        return nvb_api_oom(err, "nvbind_gpu_manager_new"), NULL;
    nvb_config_init(&m->config);
    if (!(m->kept = nvb_api_kept_new())) {
        nvb_api_oom(err, "nvbind_gpu_manager_new");
        goto fail;
    }
    if (o->config_path) {
        if (!(m->config_path = strdup(o->config_path))) {
            nvb_api_oom(err, "nvbind_gpu_manager_new");
            goto fail;
        }
        nvb_err e = {0};
        if (nvb_config_load_file(&m->config, o->config_path, &e) < 0) {
            nvb_api_fail(err, &e);
            goto fail;
        }
    }
    if (config) {
        nvb_api_bolt_to_config(config, &m->config);
        m->bolt = *config;
    } else {
        nvb_api_bolt_from_config(&m->config, &m->bolt);
    }
    m->host_root = first_of(o->host_root, m->config.host.root, "/");
    m->driver_root = first_of(o->driver_root, m->config.host.driver_root, NULL);
    m->cdi_spec_dir = first_of(o->cdi_spec_dir, m->config.cdi.output_dir, "/var/run/cdi");
    m->hook_path = first_of(o->hook_path, m->config.cdi.hook_path, NVB_API_INSTALLED_NVBIND);
    if (!m->host_root || !m->cdi_spec_dir || !m->hook_path ||
        (!m->driver_root && ((o->driver_root && *o->driver_root) || m->config.host.driver_root))) {
        nvb_api_oom(err, "nvbind_gpu_manager_new");
        goto fail;
    }
    /* A relative host root would put paths relative to the caller's folder into specs and
     * bundles, which name nothing (or something else) where the runtime reads them. */
    if (check_absolute("host_root", m->host_root, err) < 0 || check_absolute("driver_root", m->driver_root, err) < 0 ||
        check_absolute("hook_path", m->hook_path, err) < 0 ||
        check_absolute("cdi_spec_dir", m->cdi_spec_dir, err) < 0)
        goto fail;
    return m;
fail:
    nvbind_gpu_manager_free(m);
    return NULL;
}

nvbind_gpu_manager *nvb_api_manager_clone(const nvbind_gpu_manager *m, nvbind_error **err)
{
    nvbind_manager_options o = {
        .host_root = m->host_root,
        .driver_root = m->driver_root,
        .config_path = m->config_path,
        .cdi_spec_dir = m->cdi_spec_dir,
        .hook_path = m->hook_path,
    };
    return nvbind_gpu_manager_new(&m->bolt, &o, err);
}

NVBIND_EXPORT nvbind_gpu_manager *nvbind_gpu_manager_new_default(void)
{
    return nvbind_gpu_manager_new(NULL, NULL, NULL);
}

NVBIND_EXPORT void nvbind_gpu_manager_get_config(const nvbind_gpu_manager *m, nvbind_bolt_config *out)
{
    if (m && out)
        *out = m->bolt;
}

nvb_discover_opts nvb_api_discover_opts(const nvbind_gpu_manager *m, bool with_nvml)
{
    return (nvb_discover_opts){
        .root = m->host_root,
        .driver_root = m->driver_root,
        .library_search = (const char *const *)m->config.host.library_search_path.v,
        .with_nvml = with_nvml,
    };
}

nvb_host *nvb_api_discover(const nvbind_gpu_manager *m, bool with_nvml, nvbind_error **err)
{
    if (!m)
        return nvb_api_failf(err, NVB_EXIT_USAGE, "the GPU manager is NULL"), NULL;
    nvb_discover_opts o = nvb_api_discover_opts(m, with_nvml);
    nvb_err e = {0};
    nvb_host *h = nvb_host_discover(&o, &e);
    if (!h)
        nvb_api_fail(err, &e);
    return h;
}
