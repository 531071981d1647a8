#include "k8s/resources.h"
#include "util/cleanup.h"
#include "util/grow.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static nvb_dp_resource *resource_get(nvb_dp_inventory *inv, const char *name, const char *env_name,
                                     const char *cdi_kind)
{
    nvb_dp_resource *r = nvb_dp_inventory_find(inv, name);
    if (r)
        return r;
    nvb_dp_resource *v = nvb_grow(inv->v, &inv->cap, inv->n, sizeof *v, 4);
    if (!v)
        return NULL;
    inv->v = v;
    r = &v[inv->n];
    *r = (nvb_dp_resource){.name = strdup(name), .env_name = env_name, .cdi_kind = strdup(cdi_kind)};
    if (!r->name || !r->cdi_kind) {
        free(r->name);
        free(r->cdi_kind);
        return NULL;
    }
    inv->n++;
    return r;
}

static int device_push(nvb_dp_resource *r, const nvb_dp_device *proto)
{
    nvb_dp_device *v = nvb_grow(r->v, &r->cap, r->n, sizeof *v, 8);
    if (!v)
        return -1;
    r->v = v;
    nvb_dp_device *d = &v[r->n];
    *d = *proto;
    d->id = strdup(proto->id);
    d->uuid = strdup(proto->uuid);
    d->cdi_name = strdup(proto->cdi_name);
    if (!d->id || !d->uuid || !d->cdi_name) {
        free(d->id);
        free(d->uuid);
        free(d->cdi_name);
        return -1;
    }
    r->n++;
    return 0;
}

/* One device, or `replicas` of it ("UUID::0", "UUID::1", ...) when time-slicing. */
static int add_device(nvb_dp_resource *r, const char *uuid, const char *cdi_kind, int numa, unsigned gpu,
                      unsigned replicas)
{
    _cleanup_free_ char *cdi = NULL;
    if (asprintf(&cdi, "%s=%s", cdi_kind, uuid) < 0)
        return -1;
    nvb_dp_device d = {.uuid = (char *)uuid, .cdi_name = cdi, .numa_node = numa, .gpu = gpu, .healthy = true};
    if (replicas <= 1) {
        d.id = (char *)uuid;
        return device_push(r, &d);
    }
    r->shared = true;
    for (unsigned i = 0; i < replicas; i++) {
        _cleanup_free_ char *id = NULL; /* sized to the UUID: a cut one would name two replicas alike */
        if (asprintf(&id, "%s::%u", uuid, i) < 0)
            return -1;
        d.id = id;
        if (device_push(r, &d) < 0)
            return -1;
    }
    return 0;
}

/* NVIDIA: whole GPUs as nvidia.com/gpu; MIG devices by --mig-strategy, named as NVIDIA's own
 * plugin names them so pod specs move between the two unchanged. */
static int add_nvidia(const nvb_host *h, const nvb_dp_inventory_opts *o, nvb_dp_inventory *inv, nvb_err *err)
{
    static const char kind[] = "nvidia.com/gpu", env[] = "NVIDIA_VISIBLE_DEVICES";
    for (size_t i = 0; i < h->n_gpus; i++) {
        const nvb_gpu *g = &h->gpus[i];
        if (o->mig == NVB_DP_MIG_NONE || g->n_migs == 0) {
            nvb_dp_resource *r = resource_get(inv, kind, env, kind);
            if (r)
                r->nvidia = true;
            if (!r || add_device(r, g->uuid, kind, g->numa_node, g->index, o->replicas) < 0)
                return nvb_errf(err, NVB_EXIT_IO, "out of memory");
            continue;
        }
        for (size_t m = 0; m < g->n_migs; m++) {
            const nvb_mig_device *mig = &g->migs[m];
            char name[128];
            if (o->mig == NVB_DP_MIG_SINGLE)
                snprintf(name, sizeof name, "%s", kind);
            else if (mig->profile)
                snprintf(name, sizeof name, "nvidia.com/mig-%s", mig->profile);
            else
                return nvb_errf(err, NVB_EXIT_HOST_DATA,
                                "GPU %u: NVML did not name the profile of MIG device %s (needed by --mig-strategy mixed)",
                                g->index, mig->uuid);
            nvb_dp_resource *r = resource_get(inv, name, env, kind);
            if (r)
                r->nvidia = true;
            if (!r || add_device(r, mig->uuid, kind, g->numa_node, g->index, o->replicas) < 0)
                return nvb_errf(err, NVB_EXIT_IO, "out of memory");
        }
    }
    return 0;
}

/* Other vendors' GPUs (discovery's h->drm_gpus), each kind its own resource named like its
 * CDI kind: amd.com/gpu, intel.com/gpu as the vendors' own plugins name them, so pod specs move
 * between the two unchanged. The id is the PCI bus id, which vendor_spec.c also names each
 * device by: it stays when another GPU is added or removed, where the index would shift. There
 * is no visible-devices variable: Allocate answers with CDI names only. */
static int add_drm(const nvb_host *h, const nvb_dp_inventory_opts *o, nvb_dp_inventory *inv, nvb_err *err)
{
    for (size_t i = 0; i < h->n_drm_gpus; i++) {
        const nvb_drm_gpu *g = &h->drm_gpus[i];
        nvb_dp_resource *r = resource_get(inv, g->kind, NULL, g->kind);
        if (!r || add_device(r, g->bus_id, g->kind, g->numa_node, g->index, o->replicas) < 0)
            return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    }
    return 0;
}

/* Every vendor's backend, in the order their resources are registered. A vendor's GPUs
 * become resources by adding one line here. */
static const struct {
    const char *vendor;
    int (*add)(const nvb_host *h, const nvb_dp_inventory_opts *o, nvb_dp_inventory *inv, nvb_err *err);
} backends[] = {
    {"nvidia", add_nvidia},
    {"amd, intel, other DRM drivers", add_drm},
};

/* nvbind.drm/<driver> (nouveau, virtio-gpu, a SoC's GPU...) is served only when --resource
 * names it: such a GPU is rarely what a pod asking for an accelerator wants, and a cluster
 * should not start scheduling onto a VM's virtual display adapter after an upgrade. */
static bool wanted(const nvb_dp_inventory_opts *o, const char *name)
{
    if (!o->only)
        return strncmp(name, "nvbind.drm/", 11) != 0;
    for (const char *const *p = o->only; *p; p++)
        if (strcmp(*p, name) == 0)
            return true;
    return false;
}

void nvb_dp_resource_clear(nvb_dp_resource *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->v[i].id);
        free(r->v[i].uuid);
        free(r->v[i].cdi_name);
    }
    free(r->v);
    free(r->name);
    free(r->cdi_kind);
    *r = (nvb_dp_resource){0};
}

int nvb_dp_inventory_build(const nvb_host *h, const nvb_dp_inventory_opts *o, nvb_dp_inventory *out, nvb_err *err)
{
    *out = (nvb_dp_inventory){0};
    for (size_t b = 0; b < sizeof backends / sizeof backends[0]; b++) {
        if (backends[b].add(h, o, out, err) < 0) {
            nvb_dp_inventory_clear(out);
            return -1;
        }
    }
    size_t keep = 0;
    for (size_t i = 0; i < out->n; i++) {
        if (wanted(o, out->v[i].name) && out->v[i].n)
            out->v[keep++] = out->v[i];
        else
            nvb_dp_resource_clear(&out->v[i]);
    }
    out->n = keep;
    return 0;
}

void nvb_dp_inventory_clear(nvb_dp_inventory *inv)
{
    for (size_t i = 0; i < inv->n; i++)
        nvb_dp_resource_clear(&inv->v[i]);
    free(inv->v);
    *inv = (nvb_dp_inventory){0};
}

nvb_dp_resource *nvb_dp_inventory_find(nvb_dp_inventory *inv, const char *name)
{
    for (size_t i = 0; i < inv->n; i++)
        if (strcmp(inv->v[i].name, name) == 0)
            return &inv->v[i];
    return NULL;
}

const nvb_dp_device *nvb_dp_resource_device(const nvb_dp_resource *r, const char *id)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->v[i].id, id) == 0)
            return &r->v[i];
    return NULL;
}

int nvb_dp_resource_merge(nvb_dp_resource *known, const nvb_dp_resource *now)
{
    int changed = 0;
    for (size_t i = 0; i < known->n; i++) {
        const nvb_dp_device *d = nvb_dp_resource_device(now, known->v[i].id);
        bool healthy = d && d->healthy;
        if (known->v[i].healthy != healthy) {
            known->v[i].healthy = healthy;
            changed++;
        }
        if (d) {
            known->v[i].numa_node = d->numa_node;
            known->v[i].peers = d->peers;
        }
    }
    for (size_t i = 0; i < now->n; i++) {
        if (nvb_dp_resource_device(known, now->v[i].id))
            continue;
        if (device_push(known, &now->v[i]) < 0)
            return -1;
        changed++;
    }
    return changed;
}

/* A qualified name as the kubelet accepts extended resources: "domain/name", the domain
 * with a dot, both parts of letters, digits, '-', '.' and '_' . */
bool nvb_dp_resource_name_valid(const char *name)
{
    const char *slash = strchr(name, '/');
    if (!slash || slash == name || !slash[1] || strchr(slash + 1, '/') || !memchr(name, '.', (size_t)(slash - name)))
        return false;
    for (const char *p = name; *p; p++)
        if (!(*p == '/' || *p == '-' || *p == '.' || *p == '_' || (*p >= 'a' && *p <= 'z') ||
              (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')))
            return false;
    return strlen(name) <= 253;
}
