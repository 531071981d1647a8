/* What the host offers: the Bolt compatibility check, GPU information, WSL2 detection and
 * the guide's utils (validate the environment, recommend a configuration). */
#include "api/api.h"
#include "host/doctor.h"
#include "host/rootpath.h"
#include "host/wsl2.h"
#include "util/cleanup.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The public report first, so the handle the caller frees is the box. */
typedef struct compat_box {
    nvbind_compatibility pub;
    nvb_doctor *doctor;
    nvbind_check *checks;
} compat_box;

NVBIND_EXPORT nvbind_compatibility *nvbind_check_bolt_gpu_compatibility(const nvbind_gpu_manager *m,
                                                                        nvbind_error **err)
{
    if (!m)
        return nvb_api_failf(err, NVB_EXIT_USAGE, "nvbind_check_bolt_gpu_compatibility: the GPU manager is NULL"),
               NULL;
    nvb_discover_opts o = nvb_api_discover_opts(m, false);
    compat_box *b = calloc(1, sizeof *b);
    if (!b || !(b->doctor = nvb_doctor_run(&o, true)) ||
        (b->doctor->n_checks && !(b->checks = calloc(b->doctor->n_checks, sizeof *b->checks)))) {
        nvbind_compatibility_free(b ? &b->pub : NULL);
        return nvb_api_oom(err, "checking GPU compatibility"), NULL;
    }
    const nvb_doctor *d = b->doctor;
    for (size_t i = 0; i < d->n_checks; i++)
        b->checks[i] = (nvbind_check){
            .name = d->checks[i].name ? d->checks[i].name : "",
            .level = (nvbind_check_level)d->checks[i].level,
            .message = d->checks[i].message ? d->checks[i].message : "",
            .fix = d->checks[i].fix,
        };
    b->pub = (nvbind_compatibility){
        .gpus_available = d->gpus_available,
        .gpu_count = d->gpu_count,
        .driver_version = d->driver_version ? d->driver_version : "",
        .nvidia_open_driver = d->nvidia_open_driver,
        .wsl2_mode = d->wsl2_mode,
        .bolt_optimizations_available = d->bolt_optimizations_available,
        .ready = d->ready,
        .mps_running = d->mps_running,
        .check_count = d->n_checks,
        .checks = b->checks,
        .other_gpu_count = d->drm_gpu_count,
    };
    return &b->pub;
}

NVBIND_EXPORT void nvbind_compatibility_free(nvbind_compatibility *c)
{
    if (!c)
        return;
    compat_box *b = (compat_box *)c;
    nvb_doctor_free(b->doctor);
    free(b->checks);
    free(b);
}

typedef struct gpu_box {
    nvbind_gpu_list pub;
    nvb_host *host;  /* the strings point into it */
    nvbind_gpu_info *gpus;
    void *others;    /* every vendor: pub.others and their node paths */
} gpu_box;

NVBIND_EXPORT nvbind_gpu_list *nvbind_get_gpu_info(const nvbind_gpu_manager *m, nvbind_error **err)
{
    nvb_host *h = nvb_api_discover_any(m, true, err); /* every vendor's GPUs */
    if (!h)
        return NULL;
    gpu_box *b = calloc(1, sizeof *b);
    if (!b || (h->n_gpus && !(b->gpus = calloc(h->n_gpus, sizeof *b->gpus)))) {
        free(b);
        nvb_host_free(h);
        return nvb_api_oom(err, "listing GPUs"), NULL;
    }
    b->host = h;
    for (size_t i = 0; i < h->n_gpus; i++) {
        const nvb_gpu *g = &h->gpus[i];
        b->gpus[i] = (nvbind_gpu_info){
            .id = g->index,
            .minor = g->minor,
            .uuid = g->uuid ? g->uuid : "",
            .name = g->name ? g->name : "",
            .pci_bus_id = g->pci_bus_id ? g->pci_bus_id : "",
            .memory_mib = g->memory_mib,
            .compute_capability_major = g->cc_major,
            .compute_capability_minor = g->cc_minor,
            .mig_mode = g->mig_mode,
            .mig_device_count = g->n_migs,
        };
    }
    b->pub = (nvbind_gpu_list){
        .count = h->n_gpus,
        .gpus = b->gpus,
        .driver_version = h->driver_version ? h->driver_version : "",
        .cuda_version = h->cuda_version,
    };
    if (nvb_api_other_gpus(h, &b->pub, &b->others) < 0) {
        nvbind_gpu_list_free(&b->pub);
        return nvb_api_oom(err, "listing GPUs"), NULL;
    }
    return &b->pub;
}

NVBIND_EXPORT void nvbind_gpu_list_free(nvbind_gpu_list *l)
{
    if (!l)
        return;
    gpu_box *b = (gpu_box *)l;
    nvb_host_free(b->host);
    free(b->gpus);
    free(b->others);
    free(b);
}

NVBIND_EXPORT bool nvbind_detect_wsl2(const nvbind_gpu_manager *m)
{
    if (!m)
        return false;
    /* /dev/dxg and WSL2's kernel, the test discovery and doctor make (host/wsl2_detect.c): no
     * driver discovery needed, so this answers on hosts discovery would refuse. */
    return nvb_wsl2_detect_root(m->host_root);
}

/* A manager for the utils, which take options rather than a manager. */
static nvbind_gpu_manager *utils_manager(const nvbind_manager_options *options, nvbind_error **err)
{
    return nvbind_gpu_manager_new(NULL, options, err);
}

NVBIND_EXPORT int nvbind_validate_bolt_environment(const nvbind_manager_options *options, nvbind_error **err)
{
    nvbind_gpu_manager *m = utils_manager(options, err);
    if (!m)
        return -1;
    nvbind_compatibility *c = nvbind_check_bolt_gpu_compatibility(m, err);
    nvbind_gpu_manager_free(m);
    if (!c)
        return -1;
    int ready = c->bolt_optimizations_available ? 1 : 0;
    nvbind_compatibility_free(c);
    return ready;
}

static bool has_component(const nvb_host *h, unsigned cap)
{
    for (size_t i = 0; i < h->n_comps; i++)
        if (h->comps[i].kind == NVB_COMP_LIBRARY && (h->comps[i].caps & cap))
            return true;
    return false;
}

/* RTX-class GPUs (Turing and later GeForce/Quadro RTX, and the RTX A/Ada workstation cards)
 * have RT cores, DLSS and variable rate shading; data-centre parts have none of them. */
static bool is_rtx(const nvb_gpu *g)
{
    return g->name && strstr(g->name, "RTX") != NULL;
}

/* Tensor cores came with compute capability 7.0 (Volta). Without NVML the capability is
 * unknown, and the model name decides: RTX cards and the data-centre families since Volta. */
static bool has_tensor_cores(const nvb_gpu *g)
{
    static const char *const families[] = {"RTX", "V100", "TITAN V", "T4", "A100", "A800", "A30", "A40", "A10",
                                           "A16", "H100", "H200", "H800", "L4", "L40", "B100", "B200"};
    if (g->cc_major >= 0)
        return g->cc_major >= 7;
    for (size_t i = 0; g->name && i < sizeof families / sizeof families[0]; i++)
        if (strstr(g->name, families[i]))
            return true;
    return false;
}

NVBIND_EXPORT int nvbind_get_recommended_bolt_config(const nvbind_manager_options *options, nvbind_bolt_config *out,
                                                     nvbind_error **err)
{
    if (!out)
        return nvb_api_failf(err, NVB_EXIT_USAGE, "nvbind_get_recommended_bolt_config: out is NULL");
    nvbind_gpu_manager *m = utils_manager(options, err);
    if (!m)
        return -1;
    nvb_host *h = nvb_api_discover(m, true, err);
    if (!h) {
        nvbind_gpu_manager_free(m);
        return -1;
    }
    nvb_discover_opts o = nvb_api_discover_opts(m, false);
    nvb_doctor *d = nvb_doctor_run(&o, false);
    bool mps = d && d->mps_running;
    nvb_doctor_free(d);
    nvbind_gpu_manager_free(m);

    bool mig = false, all_rtx = h->n_gpus > 0, tensor = h->n_gpus > 0;
    int64_t smallest = -1;
    for (size_t i = 0; i < h->n_gpus; i++) {
        const nvb_gpu *g = &h->gpus[i];
        mig |= g->mig_mode == 1;
        all_rtx &= is_rtx(g);
        tensor &= has_tensor_cores(g);
        if (g->memory_mib > 0 && (smallest < 0 || g->memory_mib < smallest))
            smallest = g->memory_mib;
    }

    nvbind_bolt_config_default(out);
    out->capsule.isolation_level = mig || mps         ? NVBIND_ISOLATION_VIRTUAL
                                   : h->n_gpus > 1    ? NVBIND_ISOLATION_EXCLUSIVE
                                                      : NVBIND_ISOLATION_SHARED;
    out->capsule.snapshot_gpu_state = true;
    if (has_component(h, NVB_CAP_GRAPHICS)) {
        out->has_gaming = true;
        nvbind_bolt_gaming_gpu_config_default(&out->gaming);
        out->gaming.dlss_enabled = all_rtx;
        out->gaming.rt_cores_enabled = all_rtx;
        out->gaming.vrs_enabled = all_rtx;
        out->gaming.performance_profile = NVBIND_PERFORMANCE_BALANCED;
        out->gaming.power_profile = NVBIND_POWER_BALANCED;
    }
    if (has_component(h, NVB_CAP_COMPUTE)) {
        out->has_aiml = true;
        nvbind_bolt_aiml_gpu_config_default(&out->aiml);
        out->aiml.tensor_cores_enabled = tensor;
        out->aiml.mixed_precision = tensor;
        out->aiml.mig_enabled = mig;
        out->aiml.memory_pool_size = smallest > 0 ? (uint64_t)smallest / 2 * 1024 * 1024 : 0;
    }
    nvb_host_free(h);
    return 0;
}
