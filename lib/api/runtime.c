/* run_with_runtime: drive a runtime adapter (the guide's BoltRuntime trait) for one container,
 * step by step, with the manager's configuration. */
#include "api/api.h"
#include "runtime/select.h"

#include <stdlib.h>
#include <string.h>

int nvb_api_select_names(const nvbind_gpu_manager *m, const nvb_host *h, const char *gpus, nvb_strv *out,
                         nvbind_error **err)
{
    const char *request = gpus ? gpus : m->config.gpu.default_selection ? m->config.gpu.default_selection : "all";
    nvb_selection sel = {0};
    nvb_err e = {0};
    int r = nvb_select_add(&sel, h, "gpus", request, false, &e);
    if (r == 0 && nvb_selection_cdi_names(&sel, NVB_API_BOLT_KIND, out) < 0)
        r = nvb_errf(&e, NVB_EXIT_IO, "gpus %s: out of memory", request);
    nvb_selection_clear(&sel);
    return r < 0 ? nvb_api_fail(err, &e) : 0;
}

enum nvb_api_workload nvb_api_manager_workload(const nvbind_gpu_manager *m)
{
    return m->bolt.has_gaming ? NVB_API_GAMING : m->bolt.has_aiml ? NVB_API_AIML : NVB_API_DEFAULT;
}

/* The capsule config the snapshot step receives: the manager's capsule as BoltCapsuleConfig. */
static nvbind_bolt_capsule_config capsule_of(const nvbind_gpu_manager *m)
{
    const nvbind_bolt_config *b = &m->bolt;
    bool is_virtual = b->capsule.isolation_level == NVBIND_ISOLATION_VIRTUAL;
    nvbind_bolt_capsule_config c = {
        .snapshot_support = b->capsule.snapshot_gpu_state,
        .isolation_level =
            {
                .level = b->capsule.isolation_level,
                .memory_limit = is_virtual ? b->capsule.gpu_memory_limit : 0,
                .compute_limit_percent = is_virtual ? b->capsule.compute_limit_percent : 0,
            },
        .has_gaming_optimizations = b->has_gaming,
        .wsl2_mode = nvbind_detect_wsl2(m),
    };
    if (b->has_gaming)
        c.gaming_optimizations = (nvbind_bolt_gaming_config){
            .dlss_enabled = b->gaming.dlss_enabled,
            .rt_cores_enabled = b->gaming.rt_cores_enabled,
            .performance_profile = b->gaming.performance_profile,
            .wine_optimizations = b->gaming.wine_optimizations,
        };
    return c;
}

/* A failed step: the adapter's own message (or a generic one), prefixed with the step. */
static int step_failed(nvbind_error **err, nvbind_error *cause, const char *step, const char *id)
{
    int code = cause ? nvbind_error_code(cause) : NVB_EXIT_RUNTIME;
    nvb_api_failf(err, code ? code : NVB_EXIT_RUNTIME, "runtime adapter: %s for container %s: %s", step, id,
                  cause ? nvbind_error_message(cause) : "failed without saying why");
    nvbind_error_free(cause);
    return -1;
}

#define STEP(name, ...)                                                                      \
    do {                                                                                     \
        if (adapter->name) {                                                                 \
            nvbind_error *cause = NULL;                                                      \
            if (adapter->name(adapter->user, container_id, __VA_ARGS__, &cause) != 0) {       \
                r = step_failed(err, cause, #name, container_id);                            \
                goto out;                                                                    \
            }                                                                                \
            nvbind_error_free(cause);                                                        \
        }                                                                                    \
    } while (0)

NVBIND_EXPORT int nvbind_run_with_runtime(const nvbind_gpu_manager *m, const nvbind_runtime_adapter *adapter,
                                          const char *container_id, const void *container_spec, const char *gpus,
                                          nvbind_error **err)
{
    if (!m || !adapter)
        return nvb_api_failf(err, NVB_EXIT_USAGE, "nvbind_run_with_runtime: the %s is NULL",
                             m ? "runtime adapter" : "GPU manager");
    if (!container_id || !*container_id)
        return nvb_api_failf(err, NVB_EXIT_USAGE, "nvbind_run_with_runtime: the container id is empty");
    /* Resolve the request before the adapter does anything: a bad GPU list changes nothing. */
    nvb_host *h = nvb_api_discover(m, false, err);
    if (!h)
        return -1;
    nvb_strv names = {0};
    int r = nvb_api_select_names(m, h, gpus, &names, err);
    nvb_host_free(h);
    if (r < 0)
        return -1;
    const nvbind_bolt_config *b = &m->bolt;
    nvbind_bolt_capsule_config capsule = capsule_of(m);
    STEP(setup_gpu_for_capsule, container_spec, b);
    STEP(configure_gpu_isolation, nvbind_isolation_name(b->capsule.isolation_level));
    if (names.n)
        STEP(apply_cdi_devices, (const char *const *)names.v, names.n);
    if (b->capsule.snapshot_gpu_state)
        STEP(enable_gpu_snapshot, &capsule);
    if (b->has_gaming)
        STEP(setup_gaming_optimization, &b->gaming);
    if (b->has_aiml)
        STEP(setup_aiml_optimization, &b->aiml);
out:
    nvb_strv_free(&names);
    return r;
}

NVBIND_EXPORT void nvbind_runtime_adapter_free(nvbind_runtime_adapter *adapter)
{
    if (!adapter)
        return;
    if (adapter->destroy)
        adapter->destroy(adapter->user);
    free(adapter);
}
