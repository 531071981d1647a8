/* run_with_runtime: drive a runtime adapter (the guide's BoltRuntime trait) for one container,
 * step by step, with the manager's configuration, after claiming its GPUs as the manager's
 * isolation level says (lib/isolation, like `nvbind run` and the shim); the claims last until
 * nvbind_release_gpu_claims. */
#include "api/api.h"
#include "api/claim.h"
#include "isolation/isolation.h"
#include "runtime/run_isolation.h"
#include "runtime/select.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

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

/* Claim sel's devices for container_id as the manager's isolation level says, with one
 * audit line; the grant may put a MIG device in place of a GPU (sel follows it). The
 * calling process holds the claims until nvbind_release_gpu_claims (or, after
 * nvbind_set_gpu_claims_init, the container's init does). */
static int claim(const nvbind_gpu_manager *m, const nvb_host *h, nvb_selection *sel, const char *container_id,
                 nvb_isolation_grant *g, nvbind_error **err)
{
    nvb_err e = {0};
    int r = nvb_api_claim(m, h, sel, (nvb_claim_owner){.container = container_id, .runtime = "api"},
                          nvb_api_workload_profile(m), g, &e);
    if (r == -ENOMEM)
        return nvb_api_oom(err, "nvbind_run_with_runtime");
    if (r < 0)
        return nvb_api_fail(err, &e);
    nvb_selection_take_grant(sel, g);
    return 0;
}

NVBIND_EXPORT int nvbind_run_with_runtime(const nvbind_gpu_manager *m, const nvbind_runtime_adapter *adapter,
                                          const char *container_id, const void *container_spec, const char *gpus,
                                          nvbind_error **err)
{
    if (!m || !adapter)
        return nvb_api_failf(err, NVB_EXIT_USAGE, "nvbind_run_with_runtime: the %s is NULL",
                             m ? "runtime adapter" : "GPU manager");
    if (!container_id || !*container_id)
        return nvb_api_failf(err, NVB_EXIT_USAGE, "nvbind_run_with_runtime: the container id is empty");
    /* Resolve the request before the adapter does anything: a bad GPU list changes nothing,
     * and neither does a GPU another container holds. */
    const char *request = gpus ? gpus : m->config.gpu.default_selection ? m->config.gpu.default_selection : "all";
    bool mig = m->config.capsule.isolation_level == NVB_ISOLATION_VIRTUAL && m->config.aiml.mig_enabled;
    nvb_host *h = nvb_api_discover(m, mig || strchr(request, ':') || strstr(request, "MIG-"), err);
    if (!h)
        return -1;
    nvb_strv names = {0};
    nvb_selection sel = {0};
    nvb_isolation_grant grant = {0};
    nvb_err e = {0};
    int r = nvb_select_add(&sel, h, "gpus", request, false, &e) < 0 ? nvb_api_fail(err, &e) : 0;
    if (r == 0 && !nvb_selection_empty(&sel))
        r = claim(m, h, &sel, container_id, &grant, err);
    if (r == 0 && nvb_selection_cdi_names(&sel, NVB_API_BOLT_KIND, &names) < 0)
        r = nvb_api_oom(err, "nvbind_run_with_runtime");
    if (r < 0)
        goto out;
    const nvbind_bolt_config *b = &m->bolt;
    nvbind_bolt_capsule_config capsule = capsule_of(m);
    STEP(setup_gpu_for_capsule, container_spec, b);
    STEP(configure_gpu_isolation, nvbind_isolation_name(b->capsule.isolation_level));
    if (names.n)
        STEP(apply_cdi_devices, (const char *const *)names.v, names.n);
    /* What `virtual` adds (MPS variables and folders) reaches an OCI bundle directly; other
     * adapters get the limits through the capsule configuration. */
    if (names.n && nvb_api_oci_adapter_apply(adapter, &grant.edits, err) < 0) {
        r = -1;
        goto out;
    }
    if (b->capsule.snapshot_gpu_state)
        STEP(enable_gpu_snapshot, &capsule);
    if (b->has_gaming)
        STEP(setup_gaming_optimization, &b->gaming);
    if (b->has_aiml)
        STEP(setup_aiml_optimization, &b->aiml);
out:
    if (r < 0)
        nvb_isolation_release(&grant, NULL); /* the container will not start: nothing is held */
    nvb_isolation_grant_clear(&grant);
    nvb_selection_clear(&sel);
    nvb_host_free(h);
    nvb_strv_free(&names);
    return r;
}

NVBIND_EXPORT int nvbind_release_gpu_claims(const nvbind_gpu_manager *m, const char *container_id,
                                            nvbind_error **err)
{
    if (!m)
        return nvb_api_failf(err, NVB_EXIT_USAGE, "nvbind_release_gpu_claims: the GPU manager is NULL");
    if (!container_id || !*container_id)
        return nvb_api_failf(err, NVB_EXIT_USAGE, "nvbind_release_gpu_claims: the container id is empty");
    nvb_err e = {0};
    int n = nvb_claims_release(m->config.isolation.state_dir, container_id, &e);
    return n < 0 ? nvb_api_fail(err, &e) : n;
}

NVBIND_EXPORT int nvbind_set_gpu_claims_init(const nvbind_gpu_manager *m, const char *container_id, int init_pid,
                                             nvbind_error **err)
{
    if (!m)
        return nvb_api_failf(err, NVB_EXIT_USAGE, "nvbind_set_gpu_claims_init: the GPU manager is NULL");
    if (!container_id || !*container_id)
        return nvb_api_failf(err, NVB_EXIT_USAGE, "nvbind_set_gpu_claims_init: the container id is empty");
    if (init_pid <= 0)
        return nvb_api_failf(err, NVB_EXIT_USAGE, "nvbind_set_gpu_claims_init: %d is not a process id", init_pid);
    nvb_err e = {0};
    int n = nvb_claims_set_init(m->config.isolation.state_dir, container_id, (pid_t)init_pid, &e);
    return n < 0 ? nvb_api_fail(err, &e) : n;
}

NVBIND_EXPORT void nvbind_runtime_adapter_free(nvbind_runtime_adapter *adapter)
{
    if (!adapter)
        return;
    if (adapter->destroy)
        adapter->destroy(adapter->user);
    free(adapter);
}
