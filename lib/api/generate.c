/* Gaming, AI/ML and custom CDI spec generation: a profile and the Bolt capsule variables on
 * top of the host's spec, under Bolt's kind. */
#include "api/api.h"
#include "cdi/cdi.h"
#include "host/rootpath.h"
#include "policy/cdi_generate.h"
#include "policy/profiles.h"
#include "util/cleanup.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The manager's configuration with the BoltConfig parts a workload needs. A shallow copy: it
 * shares the manager's strings and lists, is only read, and is never cleared. */
static nvb_config workload_view(const nvbind_gpu_manager *m, enum nvb_api_workload w,
                                const nvbind_bolt_capsule_config *custom)
{
    nvb_config v = m->config;
    nvbind_bolt_config b = m->bolt;
    if (w == NVB_API_GAMING && !b.has_gaming) {
        b.has_gaming = true;
        nvbind_bolt_gaming_gpu_config_default(&b.gaming);
    }
    if (w == NVB_API_AIML && !b.has_aiml) {
        b.has_aiml = true;
        nvbind_bolt_aiml_gpu_config_default(&b.aiml);
    }
    if (w == NVB_API_CUSTOM) {
        /* BoltCapsuleConfig replaces the capsule part; its gaming switches override the
         * manager's gaming part (or the defaults) field by field. */
        b.capsule.snapshot_gpu_state = custom->snapshot_support;
        b.capsule.isolation_level = custom->isolation_level.level;
        b.capsule.gpu_memory_limit = custom->isolation_level.memory_limit;
        b.capsule.compute_limit_percent = custom->isolation_level.compute_limit_percent;
        if (custom->has_gaming_optimizations) {
            if (!b.has_gaming)
                nvbind_bolt_gaming_gpu_config_default(&b.gaming);
            b.has_gaming = true;
            b.gaming.dlss_enabled = custom->gaming_optimizations.dlss_enabled;
            b.gaming.rt_cores_enabled = custom->gaming_optimizations.rt_cores_enabled;
            b.gaming.performance_profile = custom->gaming_optimizations.performance_profile;
            b.gaming.wine_optimizations = custom->gaming_optimizations.wine_optimizations;
        }
    }
    nvb_api_bolt_to_config(&b, &v);
    return v;
}

static const char *profile_of(enum nvb_api_workload w, const nvbind_bolt_capsule_config *custom)
{
    switch (w) {
    case NVB_API_GAMING:
        return "gaming";
    case NVB_API_AIML:
        return "aiml";
    case NVB_API_CUSTOM:
        return custom->has_gaming_optimizations ? "gaming" : "default";
    case NVB_API_DEFAULT:
        break;
    }
    return "default";
}

/* WSL2 exposes the GPU as the paravirtual /dev/dxg, with the driver's user-space files in
 * /usr/lib/wsl (lib: libcuda, libdxcore, libd3d12; drivers: the driver store). */
static int wsl2_edits(const nvb_host *h, nvb_edits *e, nvbind_error **err)
{
    nvb_rootpath rp;
    nvb_rootpath_init(&rp, h->root);
    _cleanup_free_ char *dxg = nvb_rootpath_host(&rp, "/dev/dxg");
    _cleanup_free_ char *lib = nvb_rootpath_host(&rp, "/usr/lib/wsl/lib");
    _cleanup_free_ char *drivers = nvb_rootpath_host(&rp, "/usr/lib/wsl/drivers");
    nvb_rootpath_clear(&rp);
    if (!dxg || !lib || !drivers)
        return nvb_api_oom(err, "wsl2_mode");
    struct stat st;
    if (stat(dxg, &st) < 0)
        return nvb_api_failf(err, NVB_EXIT_NO_DRIVER, "wsl2_mode: %s: %s (not a WSL2 host)", dxg, strerror(errno));
    if (!S_ISCHR(st.st_mode))
        return nvb_api_failf(err, NVB_EXIT_HOST_DATA, "wsl2_mode: %s is not a character device", dxg);
    nvb_devnode n = nvb_devnode_from_stat("/dev/dxg", dxg, &st);
    if (nvb_edits_add_node(e, &n) < 0)
        return nvb_api_oom(err, "wsl2_mode");
    if (stat(lib, &st) == 0 && S_ISDIR(st.st_mode) && nvb_edits_add_mount(e, lib, "/usr/lib/wsl/lib", false) < 0)
        return nvb_api_oom(err, "wsl2_mode");
    if (stat(drivers, &st) == 0 && S_ISDIR(st.st_mode) &&
        nvb_edits_add_mount(e, drivers, "/usr/lib/wsl/drivers", false) < 0)
        return nvb_api_oom(err, "wsl2_mode");
    return 0;
}

int nvb_api_workload_edits(const nvbind_gpu_manager *m, const nvb_host *h, enum nvb_api_workload w,
                           const nvbind_bolt_capsule_config *custom, unsigned *caps, nvb_edits *extra,
                           nvbind_error **err)
{
    nvb_config view = workload_view(m, w, custom);
    const char *workload = NULL;
    nvb_err e = {0};
    *caps = 0;
    if (nvb_profile_resolve(&view, h, profile_of(w, custom), caps, extra, &workload, &e) < 0)
        return nvb_api_fail(err, &e);
    if (nvb_bolt_capsule_edits(&view, workload, extra) < 0)
        return nvb_api_oom(err, "the Bolt capsule environment");
    /* A host discovered as a WSL2 guest has /dev/dxg and the WSL files in its spec already. */
    if (w == NVB_API_CUSTOM && custom->wsl2_mode && !h->wsl2 && wsl2_edits(h, extra, err) < 0)
        return -1;
    return 0;
}

json_t *nvb_api_generate(const nvbind_gpu_manager *m, const nvb_host *h, enum nvb_api_workload w,
                         const nvbind_bolt_capsule_config *custom, nvbind_error **err)
{
    nvb_edits extra = {0};
    unsigned caps = 0;
    json_t *spec = NULL;
    if (nvb_api_workload_edits(m, h, w, custom, &caps, &extra, err) < 0)
        goto out;
    nvb_cdi_gen_opts go = {
        .kind = NVB_API_BOLT_KIND,
        .naming = m->config.cdi.naming,
        .caps = caps,
        .hook_path = m->hook_path,
        .extra = &extra,
    };
    nvb_err e = {0};
    spec = nvb_cdi_generate(h, &go, &e);
    if (!spec)
        nvb_api_fail(err, &e);
out:
    nvb_edits_clear(&extra);
    return spec;
}

static nvbind_cdi_spec *generate(const nvbind_gpu_manager *m, enum nvb_api_workload w,
                                 const nvbind_bolt_capsule_config *custom, nvbind_error **err)
{
    /* Every vendor: a host without NVIDIA's driver is discovered, and generation says that
     * these NVIDIA specs need it, naming the kinds the host has (exit 3). */
    nvb_api_model *km = nvb_api_host_acquire(m, err); /* the kept model, revalidated */
    if (!km)
        return NULL;
    json_t *doc = nvb_api_generate(m, km->host, w, custom, err);
    nvb_api_host_release(m, km);
    if (!doc)
        return NULL;
    nvbind_cdi_spec *s = nvb_api_spec_wrap(doc);
    if (!s)
        nvb_api_oom(err, "the CDI spec");
    return s;
}

NVBIND_EXPORT nvbind_cdi_spec *nvbind_generate_gaming_cdi_spec(const nvbind_gpu_manager *m, nvbind_error **err)
{
    return generate(m, NVB_API_GAMING, NULL, err);
}

NVBIND_EXPORT nvbind_cdi_spec *nvbind_generate_aiml_cdi_spec(const nvbind_gpu_manager *m, nvbind_error **err)
{
    return generate(m, NVB_API_AIML, NULL, err);
}

NVBIND_EXPORT nvbind_cdi_spec *nvbind_generate_custom_cdi_spec(const nvbind_gpu_manager *m,
                                                               const nvbind_bolt_capsule_config *config,
                                                               nvbind_error **err)
{
    if (!config)
        return nvb_api_failf(err, NVB_EXIT_USAGE, "nvbind_generate_custom_cdi_spec: the capsule config is NULL"), NULL;
    if (nvb_api_check_capsule(config, err) < 0)
        return NULL;
    return generate(m, NVB_API_CUSTOM, config, err);
}
