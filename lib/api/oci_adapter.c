/* The OCI-bundle runtime adapter: the BoltRuntime steps carried out on a bundle's
 * config.json (for runc, crun, or any OCI runtime), through the same edit code as
 * `nvbind run --runtime runc` and the nvbind-runtime shim. Each step rewrites config.json
 * atomically and can be repeated: applying the same edits twice changes nothing more. */
#include "api/api.h"
#include "config/values.h"
#include "policy/profiles.h"
#include "runtime/oci_patch.h"
#include "runtime/select.h"
#include "util/cleanup.h"
#include "util/fileio.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct oci_adapter {
    nvbind_gpu_manager *m;   /* private copy: host, configuration, hook path */
    char *bundle_dir;
    nvb_host *host;          /* discovered by setup_gpu_for_capsule */
} oci_adapter;

static int apply(oci_adapter *a, const nvb_edits *e, nvbind_error **err)
{
    nvb_err ne = {0};
    return nvb_bundle_apply_edits(a->bundle_dir, e, &ne) < 0 ? nvb_api_fail(err, &ne) : 0;
}

/* The Bolt workload the capsule's configuration names (BOLT_WORKLOAD_TYPE). */
static const char *workload_of(const nvb_config *c)
{
    return c->gaming.present ? "gaming" : c->aiml.present ? "ai-ml" : NULL;
}

/* The capsule variables (BOLT_GPU_ISOLATION, BOLT_GPU_SNAPSHOT, ...) of the configuration
 * as it stands after a step. */
static int apply_capsule(oci_adapter *a, const char *step, nvbind_error **err)
{
    nvb_edits e = {0};
    int r = nvb_bolt_capsule_edits(&a->m->config, workload_of(&a->m->config), &e) < 0 ? nvb_api_oom(err, step)
                                                                                       : apply(a, &e, err);
    nvb_edits_clear(&e);
    return r;
}

static int need_setup(const oci_adapter *a, const char *step, nvbind_error **err)
{
    if (!a->host)
        return nvb_api_failf(err, NVB_EXIT_USAGE, "%s: setup_gpu_for_capsule has not run for this bundle", step);
    return 0;
}

/* Make b (checked first) the manager's Bolt settings and its nvbind.toml view. */
static int use_bolt(oci_adapter *a, const nvbind_bolt_config *b, nvbind_error **err)
{
    if (nvb_api_check_bolt(b, err) < 0)
        return -1;
    a->m->bolt = *b;
    nvb_api_bolt_to_config(b, &a->m->config);
    return 0;
}

static int oci_setup(void *user, const char *id, const void *spec, const nvbind_bolt_config *cfg, nvbind_error **err)
{
    oci_adapter *a = user;
    (void)id;
    (void)spec;
    if (cfg && use_bolt(a, cfg, err) < 0)
        return -1;
    /* Check the bundle before anything is discovered or written. */
    _cleanup_free_ char *path = nvb_path_join(a->bundle_dir, "config.json");
    if (!path)
        return nvb_api_oom(err, "setup_gpu_for_capsule");
    size_t len = 0;
    _cleanup_free_ char *text = nvb_read_file(path, NVB_OCI_CONFIG_MAX_SIZE, &len);
    if (!text)
        return nvb_api_failf(err, errno == ENOENT ? NVB_EXIT_INPUT : NVB_EXIT_IO, "%s: %s", path, strerror(errno));
    nvb_err ne = {0};
    json_t *doc = nvb_oci_config_parse(text, len, path, &ne);
    if (!doc)
        return nvb_api_fail(err, &ne);
    json_decref(doc);
    nvb_host *h = nvb_api_discover(a->m, false, err);
    if (!h)
        return -1;
    nvb_host_free(a->host);
    a->host = h;
    return apply_capsule(a, "setup_gpu_for_capsule", err);
}

static int oci_isolation(void *user, const char *id, const char *level, nvbind_error **err)
{
    oci_adapter *a = user;
    (void)id;
    if (need_setup(a, "configure_gpu_isolation", err) < 0)
        return -1;
    enum nvb_isolation iso;
    if (!level || nvb_isolation_parse(level, &iso) < 0)
        return nvb_api_failf(err, NVB_EXIT_USAGE,
                             "configure_gpu_isolation: unknown isolation level '%s' (expected shared, exclusive or virtual)",
                             level ? level : "(null)");
    a->m->config.capsule.isolation_level = iso;
    a->m->bolt.capsule.isolation_level = (nvbind_isolation)iso;
    return apply_capsule(a, "configure_gpu_isolation", err);
}

/* Driver capabilities the capsule's workloads need: all when it names none. */
static int capsule_caps(oci_adapter *a, unsigned *out, nvbind_error **err)
{
    const char *profiles[2];
    size_t n = 0;
    if (a->m->config.gaming.present)
        profiles[n++] = "gaming";
    if (a->m->config.aiml.present)
        profiles[n++] = "aiml";
    *out = n ? 0 : NVB_CAP_ALL;
    for (size_t i = 0; i < n; i++) {
        unsigned caps = 0;
        nvb_edits scratch = {0};
        nvb_err ne = {0};
        int r = nvb_profile_resolve(&a->m->config, a->host, profiles[i], &caps, &scratch, NULL, &ne);
        nvb_edits_clear(&scratch);
        if (r < 0)
            return nvb_api_fail(err, &ne);
        *out |= caps;
    }
    return 0;
}

static int oci_devices(void *user, const char *id, const char *const *names, size_t n, nvbind_error **err)
{
    oci_adapter *a = user;
    (void)id;
    if (need_setup(a, "apply_cdi_devices", err) < 0)
        return -1;
    if (!names && n)
        return nvb_api_failf(err, NVB_EXIT_USAGE, "apply_cdi_devices: %zu names, but the list is NULL", n);
    nvb_selection sel = {0};
    nvb_edits e = {0};
    int r = 0;
    for (size_t i = 0; r == 0 && i < n; i++) {
        const char *name = names[i], *eq = name ? strchr(name, '=') : NULL;
        size_t kl = eq ? (size_t)(eq - name) : 0;
        /* nvbind's own kinds name the same devices; a spec of another vendor is not ours. */
        bool ours = eq && ((kl == strlen(NVB_API_BOLT_KIND) && strncmp(name, NVB_API_BOLT_KIND, kl) == 0) ||
                           (kl == strlen("nvidia.com/gpu") && strncmp(name, "nvidia.com/gpu", kl) == 0));
        if (!ours) {
            r = nvb_api_failf(err, NVB_EXIT_USAGE,
                              "apply_cdi_devices: '%s' is not a device of kind %s or nvidia.com/gpu (KIND=NAME)",
                              name ? name : "(null)", NVB_API_BOLT_KIND);
            break;
        }
        nvb_err ne = {0};
        if (nvb_select_add(&sel, a->host, "apply_cdi_devices", eq + 1, false, &ne) < 0)
            r = nvb_api_fail(err, &ne);
    }
    unsigned caps = 0;
    if (r == 0)
        r = capsule_caps(a, &caps, err);
    if (r == 0 && !nvb_selection_empty(&sel) &&
        (nvb_selection_edits(&sel, &e) < 0 || nvb_edits_shared(&e, a->host, caps, a->m->hook_path) < 0))
        r = nvb_api_oom(err, "apply_cdi_devices");
    if (r == 0)
        r = apply(a, &e, err);
    nvb_edits_clear(&e);
    nvb_selection_clear(&sel);
    return r;
}

static int oci_snapshot(void *user, const char *id, const nvbind_bolt_capsule_config *c, nvbind_error **err)
{
    oci_adapter *a = user;
    (void)id;
    if (need_setup(a, "enable_gpu_snapshot", err) < 0 || (c && nvb_api_check_capsule(c, err) < 0))
        return -1;
    a->m->config.capsule.snapshot_gpu_state = c ? c->snapshot_support : true;
    a->m->bolt.capsule.snapshot_gpu_state = a->m->config.capsule.snapshot_gpu_state;
    return apply_capsule(a, "enable_gpu_snapshot", err);
}

/* A workload's profile (its environment), then the capsule variables. */
static int apply_profile(oci_adapter *a, const char *profile, const char *step, nvbind_error **err)
{
    unsigned caps = 0, all = 0;
    if (capsule_caps(a, &all, err) < 0)
        return -1;
    nvb_edits e = {0};
    nvb_err ne = {0};
    int r = nvb_profile_resolve(&a->m->config, a->host, profile, &caps, &e, NULL, &ne) < 0 ? nvb_api_fail(err, &ne) : 0;
    /* With both a gaming and an AI/ML part the variable names both workloads' capabilities. */
    _cleanup_free_ char *words = r == 0 ? nvb_caps_string(all) : NULL;
    if (r == 0 && (!words || nvb_edits_setenv(&e, "NVIDIA_DRIVER_CAPABILITIES", words) < 0))
        r = nvb_api_oom(err, step);
    if (r == 0)
        r = apply(a, &e, err);
    nvb_edits_clear(&e);
    return r == 0 ? apply_capsule(a, step, err) : r;
}

static int oci_gaming(void *user, const char *id, const nvbind_bolt_gaming_gpu_config *g, nvbind_error **err)
{
    oci_adapter *a = user;
    (void)id;
    if (need_setup(a, "setup_gaming_optimization", err) < 0)
        return -1;
    if (g) {
        nvbind_bolt_config b = a->m->bolt;
        b.has_gaming = true;
        b.gaming = *g;
        if (use_bolt(a, &b, err) < 0)
            return -1;
    }
    a->m->config.gaming.present = true;
    return apply_profile(a, "gaming", "setup_gaming_optimization", err);
}

static int oci_aiml(void *user, const char *id, const nvbind_bolt_aiml_gpu_config *ai, nvbind_error **err)
{
    oci_adapter *a = user;
    (void)id;
    if (need_setup(a, "setup_aiml_optimization", err) < 0)
        return -1;
    if (ai) {
        nvbind_bolt_config b = a->m->bolt;
        b.has_aiml = true;
        b.aiml = *ai;
        if (use_bolt(a, &b, err) < 0)
            return -1;
    }
    a->m->config.aiml.present = true;
    return apply_profile(a, "aiml", "setup_aiml_optimization", err);
}

static void oci_destroy(void *user)
{
    oci_adapter *a = user;
    if (!a)
        return;
    nvbind_gpu_manager_free(a->m);
    nvb_host_free(a->host);
    free(a->bundle_dir);
    free(a);
}

int nvb_api_oci_adapter_apply(const nvbind_runtime_adapter *adapter, const nvb_edits *e, nvbind_error **err)
{
    if (adapter->destroy != oci_destroy || !adapter->user)
        return 0; /* someone else's adapter */
    oci_adapter *a = adapter->user;
    if (!e->env.n && !e->nodes.n && !e->n_mounts && !e->n_hooks)
        return 0;
    return apply(a, e, err);
}

NVBIND_EXPORT nvbind_runtime_adapter *nvbind_oci_bundle_adapter(const nvbind_gpu_manager *m, const char *bundle_dir,
                                                                nvbind_error **err)
{
    if (!m)
        return nvb_api_failf(err, NVB_EXIT_USAGE, "nvbind_oci_bundle_adapter: the GPU manager is NULL"), NULL;
    if (!bundle_dir || !*bundle_dir)
        return nvb_api_failf(err, NVB_EXIT_USAGE, "nvbind_oci_bundle_adapter: the bundle folder is empty"), NULL;
    nvbind_runtime_adapter *ad = calloc(1, sizeof *ad);
    oci_adapter *a = calloc(1, sizeof *a);
    if (!ad || !a || !(a->bundle_dir = strdup(bundle_dir))) {
        free(ad);
        oci_destroy(a);
        return nvb_api_oom(err, "nvbind_oci_bundle_adapter"), NULL;
    }
    if (!(a->m = nvb_api_manager_clone(m, err))) {
        free(ad);
        oci_destroy(a);
        return NULL;
    }
    *ad = (nvbind_runtime_adapter){
        .user = a,
        .setup_gpu_for_capsule = oci_setup,
        .apply_cdi_devices = oci_devices,
        .enable_gpu_snapshot = oci_snapshot,
        .setup_gaming_optimization = oci_gaming,
        .setup_aiml_optimization = oci_aiml,
        .configure_gpu_isolation = oci_isolation,
        .destroy = oci_destroy,
    };
    return ad;
}
