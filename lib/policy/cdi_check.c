#include "policy/cdi_check.h"
#include "policy/vendor_spec.h"
#include "util/cleanup.h"
#include "util/trust.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* Call fn on every containerEdits object of the spec: the spec-wide one and each device's. */
static int each_edits(const json_t *spec, int (*fn)(const json_t *edits, void *ctx), void *ctx)
{
    int r = 0;
    json_t *top = json_object_get(spec, "containerEdits");
    if (json_is_object(top))
        r = fn(top, ctx);
    size_t i;
    json_t *dev;
    json_array_foreach(json_object_get(spec, "devices"), i, dev)
    {
        json_t *e = json_object_get(dev, "containerEdits");
        if (r >= 0 && json_is_object(e))
            r = fn(e, ctx);
    }
    return r;
}

static int hooks_are_nvbind(const json_t *edits, void *ctx)
{
    size_t i;
    json_t *hook;
    json_array_foreach(json_object_get(edits, "hooks"), i, hook)
    {
        json_t *args = json_object_get(hook, "args");
        const char *a0 = json_string_value(json_array_get(args, 0));
        const char *a1 = json_string_value(json_array_get(args, 1));
        if (a0 && a1 && strcmp(a1, "hook") == 0 && strstr(a0, "nvbind"))
            *(bool *)ctx = true;
    }
    return 0;
}

bool nvb_cdi_is_nvbind_spec(const json_t *spec)
{
    bool found = false;
    each_edits(spec, hooks_are_nvbind, &found);
    return found;
}

/* "550.54.14" out of ".../libcuda.so.550.54.14". */
static char *version_suffix(const char *path, const char *stem)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen(stem);
    if (strncmp(base, stem, n) != 0)
        return NULL;
    const char *v = base + n;
    int dots = 0;
    for (const char *p = v; *p; p++) {
        if (*p == '.')
            dots++;
        else if (!isdigit((unsigned char)*p))
            return NULL;
    }
    return dots >= 1 && isdigit((unsigned char)*v) ? strdup(v) : NULL;
}

static int find_version(const json_t *edits, void *ctx)
{
    char **out = ctx;
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(edits, "mounts"), i, m)
    {
        /* The data's name carries the version; the container path may be the SONAME only
         * (a packaging's alternatives link, libcuda.so.1). */
        for (int k = 0; k < 2 && !*out; k++) {
            const char *p = json_string_value(json_object_get(m, k ? "containerPath" : "hostPath"));
            if (!p)
                continue;
            *out = version_suffix(p, "libcuda.so.");
            if (!*out)
                *out = version_suffix(p, "libnvidia-ml.so.");
        }
    }
    return 0;
}

char *nvb_cdi_spec_driver_version(const json_t *spec)
{
    char *v = NULL;
    each_edits(spec, find_version, &v);
    return v;
}

struct stale_ctx {
    nvb_strv *reasons;
    nvb_strv seen;  /* paths already checked: the same node appears in many devices */
};

static int check_edits(const json_t *edits, void *vctx)
{
    struct stale_ctx *c = vctx;
    size_t i;
    json_t *n;
    json_array_foreach(json_object_get(edits, "deviceNodes"), i, n)
    {
        const char *path = json_string_value(json_object_get(n, "path"));
        const char *host = json_string_value(json_object_get(n, "hostPath"));
        if (!host)
            host = path;
        if (!host || nvb_strv_contains(&c->seen, host))
            continue;
        if (nvb_strv_push(&c->seen, host) < 0)
            return -1;
        struct stat st;
        json_int_t maj = json_integer_value(json_object_get(n, "major"));
        json_int_t min = json_integer_value(json_object_get(n, "minor"));
        if (stat(host, &st) < 0 || !(S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))) {
            if (nvb_strv_pushf(c->reasons, "device node %s vanished (%s)", path ? path : host, host) < 0)
                return -1;
        } else if (json_object_get(n, "major") && ((json_int_t)major(st.st_rdev) != maj || (json_int_t)minor(st.st_rdev) != min)) {
            if (nvb_strv_pushf(c->reasons, "device node %s changed: spec has %lld:%lld, host has %u:%u", path ? path : host,
                               (long long)maj, (long long)min, major(st.st_rdev), minor(st.st_rdev)) < 0)
                return -1;
        }
    }
    json_t *m;
    json_array_foreach(json_object_get(edits, "mounts"), i, m)
    {
        const char *host = json_string_value(json_object_get(m, "hostPath"));
        if (!host || nvb_strv_contains(&c->seen, host))
            continue;
        if (nvb_strv_push(&c->seen, host) < 0)
            return -1;
        if (access(host, F_OK) < 0 && nvb_strv_pushf(c->reasons, "mounted file missing: %s", host) < 0)
            return -1;
    }
    json_t *h;
    json_array_foreach(json_object_get(edits, "hooks"), i, h)
    {
        const char *path = json_string_value(json_object_get(h, "path"));
        if (!path || nvb_strv_contains(&c->seen, path))
            continue;
        if (nvb_strv_push(&c->seen, path) < 0)
            return -1;
        if (access(path, X_OK) < 0) {
            if (nvb_strv_pushf(c->reasons, "hook binary %s is gone", path) < 0)
                return -1;
            continue;
        }
        /* Root runs the hook in every container: one another user could replace is a way in. */
        char why[768];
        if (nvb_trust_path(path, geteuid(), why, sizeof why) > 0 &&
            nvb_strv_pushf(c->reasons,
                           "hook binary %s could be replaced by another user: %s (fix: chown root and `chmod go-w` it "
                           "and the folders above it, or regenerate the spec with a root-owned --hook-path)",
                           path, why) < 0)
            return -1;
    }
    return 0;
}

static bool host_has_uuid(const nvb_host *h, const char *uuid)
{
    for (size_t i = 0; i < h->n_gpus; i++)
        if (strcmp(h->gpus[i].uuid, uuid) == 0)
            return true;
    return false;
}

static bool host_has_mig(const nvb_host *h, const char *uuid)
{
    for (size_t i = 0; i < h->n_gpus; i++)
        for (size_t m = 0; m < h->gpus[i].n_migs; m++)
            if (strcmp(h->gpus[i].migs[m].uuid, uuid) == 0)
                return true;
    return false;
}

/* MIG devices: by UUID when the spec names them so, else by their "<gpu>:<mig>" names.
 * Not compared when the host's MIG layout is unknown (NVML could not be asked). */
static int mig_reasons(const json_t *spec, const nvb_host *h, nvb_strv *reasons)
{
    if (h->mig_unknown)
        return 0;
    nvb_strv uuids = {0}, names = {0};
    size_t i;
    json_t *dev;
    int r = 0;
    json_array_foreach(json_object_get(spec, "devices"), i, dev)
    {
        const char *name = json_string_value(json_object_get(dev, "name"));
        if (name && strncmp(name, "MIG-", 4) == 0)
            r |= nvb_strv_push(&uuids, name);
        else if (name && isdigit((unsigned char)name[0]) && strchr(name, ':'))
            r |= nvb_strv_push(&names, name);
    }
    for (size_t k = 0; r == 0 && k < uuids.n; k++)
        if (!host_has_mig(h, uuids.v[k]))
            r = nvb_strv_pushf(reasons, "MIG device removed: %s is no longer on the host", uuids.v[k]);
    for (size_t g = 0; r == 0 && g < h->n_gpus; g++) {
        for (size_t m = 0; r == 0 && m < h->gpus[g].n_migs; m++) {
            const nvb_mig_device *md = &h->gpus[g].migs[m];
            char idx[32];
            snprintf(idx, sizeof idx, "%u:%u", md->gpu_index, md->mig_index);
            if (uuids.n ? !nvb_strv_contains(&uuids, md->uuid) : !nvb_strv_contains(&names, idx))
                r = nvb_strv_pushf(reasons, "MIG device added: %s (%s, GPU instance %u, compute instance %u) is not in "
                                            "the spec", md->uuid, idx, md->gi, md->ci);
        }
    }
    size_t host_migs = 0;
    for (size_t g = 0; g < h->n_gpus; g++)
        host_migs += h->gpus[g].n_migs;
    if (r == 0 && !uuids.n && names.n > host_migs)
        r = nvb_strv_pushf(reasons, "MIG device removed: spec has %zu MIG devices, host has %zu", names.n, host_migs);
    nvb_strv_free(&uuids);
    nvb_strv_free(&names);
    return r < 0 ? -1 : 0;
}

int nvb_cdi_stale_reasons(const json_t *spec, const nvb_host *h, nvb_strv *reasons)
{
    size_t before = reasons->n;
    /* Every vendor: other drivers' specs are checked against their own generation; an NVIDIA
     * spec on a host without the driver is stale as a whole. */
    if (nvb_vendor_kind_reserved(json_string_value(json_object_get(spec, "kind"))))
        return nvb_vendor_stale_reasons(spec, h, reasons);
    if (!nvb_host_has_nvidia(h))
        return nvb_strv_pushf(reasons, "no NVIDIA driver on the host (/proc/driver/nvidia/version is missing)") < 0
                   ? -1
                   : 1;
    _cleanup_free_ char *v = nvb_cdi_spec_driver_version(spec);
    if (v && strcmp(v, h->driver_version) != 0 &&
        nvb_strv_pushf(reasons, "driver version changed: spec is for %s, host runs %s", v, h->driver_version) < 0)
        return -1;

    /* GPUs: by UUID when the spec names them so, else by count of index names. */
    nvb_strv uuids = {0};
    size_t index_names = 0;
    size_t i;
    json_t *dev;
    json_array_foreach(json_object_get(spec, "devices"), i, dev)
    {
        const char *name = json_string_value(json_object_get(dev, "name"));
        if (!name)
            continue;
        if (strncmp(name, "GPU-", 4) == 0)
            nvb_strv_push(&uuids, name);
        else if (name[strspn(name, "0123456789")] == '\0')
            index_names++;
    }
    int r = 0;
    for (size_t k = 0; r == 0 && k < uuids.n; k++)
        if (!host_has_uuid(h, uuids.v[k]))
            r = nvb_strv_pushf(reasons, "GPU removed: %s is no longer on the host", uuids.v[k]);
    for (size_t k = 0; r == 0 && uuids.n && k < h->n_gpus; k++)
        if (!nvb_strv_contains(&uuids, h->gpus[k].uuid))
            r = nvb_strv_pushf(reasons, "GPU added: %s (index %u, %s) is not in the spec", h->gpus[k].uuid,
                               h->gpus[k].index, h->gpus[k].pci_bus_id);
    if (r == 0 && !uuids.n && index_names != h->n_gpus)
        r = nvb_strv_pushf(reasons, "GPU count changed: spec has %zu, host has %zu", index_names, h->n_gpus);
    nvb_strv_free(&uuids);
    if (r < 0 || mig_reasons(spec, h, reasons) < 0)
        return -1;

    struct stale_ctx c = {.reasons = reasons};
    r = each_edits(spec, check_edits, &c);
    nvb_strv_free(&c.seen);
    return r < 0 ? -1 : (int)(reasons->n - before);
}
