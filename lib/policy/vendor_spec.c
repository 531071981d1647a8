/* Specs of other vendors' GPUs. Names follow the vendors' own specs (AMD's container toolkit
 * names amd.com/gpu devices by index and "all"); the bus id is added so that a GPU keeps its
 * name when another one is added or removed. */
#include "policy/vendor_spec.h"
#include "cdi/cdi.h"
#include "policy/edits.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool nvb_vendor_kind_present(const nvb_host *h, const char *kind)
{
    for (size_t i = 0; kind && i < h->n_drm_gpus; i++)
        if (strcmp(h->drm_gpus[i].kind, kind) == 0)
            return true;
    return false;
}

bool nvb_vendor_kind_reserved(const char *kind)
{
    return kind && (strcmp(kind, "amd.com/gpu") == 0 || strcmp(kind, "intel.com/gpu") == 0 ||
                    strncmp(kind, "nvbind.drm/", 11) == 0);
}

int nvb_vendor_kinds(const nvb_host *h, nvb_strv *out)
{
    for (size_t i = 0; i < h->n_drm_gpus; i++)
        if (!nvb_strv_contains(out, h->drm_gpus[i].kind) && nvb_strv_push(out, h->drm_gpus[i].kind) < 0)
            return -1;
    return 0;
}

bool nvb_vendor_gpu_named(const nvb_drm_gpu *g, const char *name)
{
    char idx[32];
    snprintf(idx, sizeof idx, "%u", g->index);
    return strcmp(name, "all") == 0 || strcmp(name, idx) == 0 || strcmp(name, g->bus_id) == 0;
}

/* One device: its name and the nodes of every GPU of kind it names. */
static int add_device(json_t *devices, const nvb_host *h, const char *kind, const char *name)
{
    nvb_edits e = {0};
    int r = 0;
    for (size_t i = 0; r == 0 && i < h->n_drm_gpus; i++) {
        const nvb_drm_gpu *g = &h->drm_gpus[i];
        if (strcmp(g->kind, kind) != 0 || !nvb_vendor_gpu_named(g, name))
            continue;
        for (size_t j = 0; r == 0 && j < g->nodes.n; j++)
            r = nvb_edits_add_node(&e, &g->nodes.v[j]); /* /dev/kfd once in "all" */
    }
    json_t *edits = r == 0 ? nvb_edits_to_cdi_json(&e) : NULL;
    nvb_edits_clear(&e);
    return edits ? json_array_append_new(devices, json_pack("{s:s, s:o}", "name", name, "containerEdits", edits)) : -1;
}

json_t *nvb_vendor_spec(const nvb_host *h, const char *kind, nvb_err *err)
{
    json_t *spec = json_pack("{s:s, s:s, s:[]}", "cdiVersion", "0.3.0", "kind", kind, "devices");
    json_t *devices = spec ? json_object_get(spec, "devices") : NULL;
    int r = devices ? 0 : -1;
    for (size_t i = 0; r == 0 && i < h->n_drm_gpus; i++) {
        const nvb_drm_gpu *g = &h->drm_gpus[i];
        char idx[32];
        snprintf(idx, sizeof idx, "%u", g->index);
        if (strcmp(g->kind, kind) == 0)
            r = add_device(devices, h, kind, idx) < 0 || add_device(devices, h, kind, g->bus_id) < 0 ? -1 : 0;
    }
    if (r == 0)
        r = add_device(devices, h, kind, "all");
    if (r < 0) {
        json_decref(spec);
        nvb_errf(err, NVB_EXIT_IO, "out of memory while building the %s CDI spec", kind);
        return NULL;
    }
    if (nvb_cdi_set_min_version(spec, err) < 0) {
        json_decref(spec);
        return NULL;
    }
    return spec;
}

int nvb_vendor_kind_absent(const nvb_host *h, const char *kind, nvb_err *err)
{
    nvb_strv kinds = {0};
    char list[512] = "";
    if (nvb_host_has_nvidia(h))
        snprintf(list, sizeof list, "nvidia.com/gpu");
    if (nvb_vendor_kinds(h, &kinds) == 0)
        for (size_t i = 0; i < kinds.n; i++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", list[0] ? ", " : "", kinds.v[i]);
    nvb_strv_free(&kinds);
    return nvb_errf(err, NVB_EXIT_USAGE, "%s: this host (%s) has no GPU of that kind; its GPUs are %s", kind, h->root,
                    list[0] ? list : "none");
}

int nvb_vendor_no_nvidia(const nvb_host *h, nvb_err *err)
{
    nvb_strv kinds = {0};
    char list[512] = "";
    if (nvb_vendor_kinds(h, &kinds) == 0)
        for (size_t i = 0; i < kinds.n; i++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", kinds.v[i]);
    nvb_strv_free(&kinds);
    return nvb_errf(err, NVB_EXIT_NO_DRIVER,
                    "no NVIDIA driver found under %s: /proc/driver/nvidia/version is missing; this host's GPUs are %s "
                    "(name them with --kind / --gpu KIND=NAME)",
                    h->root, list[0] ? list : "none");
}

static json_t *device_named(const json_t *spec, const char *name)
{
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(spec, "devices"), i, d) {
        const char *n = json_string_value(json_object_get(d, "name"));
        if (n && strcmp(n, name) == 0)
            return d;
    }
    return NULL;
}

int nvb_vendor_stale_reasons(const json_t *spec, const nvb_host *h, nvb_strv *reasons)
{
    const char *kind = json_string_value(json_object_get(spec, "kind"));
    size_t before = reasons->n;
    if (!nvb_vendor_kind_present(h, kind))
        return nvb_strv_pushf(reasons, "the host has no %s GPU any more", kind) < 0 ? -1 : 1;
    json_t *now = nvb_vendor_spec(h, kind, NULL);
    if (!now)
        return -1;
    int r = 0;
    size_t i;
    json_t *d;
    /* The spec holds device nodes only: a device whose nodes (numbers, host paths) differ
     * from what the host shows now is stale, as is one added or gone. */
    json_array_foreach(json_object_get(now, "devices"), i, d) {
        const char *name = json_string_value(json_object_get(d, "name"));
        json_t *old = device_named(spec, name);
        if (r == 0 && !old)
            r = nvb_strv_pushf(reasons, "GPU added: %s=%s is not in the spec", kind, name);
        else if (r == 0 && !json_equal(json_object_get(old, "containerEdits"), json_object_get(d, "containerEdits")))
            r = nvb_strv_pushf(reasons, "device changed: %s=%s has other device nodes on the host now", kind, name);
    }
    json_array_foreach(json_object_get(spec, "devices"), i, d) {
        const char *name = json_string_value(json_object_get(d, "name"));
        if (r == 0 && name && !device_named(now, name))
            r = nvb_strv_pushf(reasons, "GPU removed: %s=%s is no longer on the host", kind, name);
    }
    json_decref(now);
    return r < 0 ? -1 : (int)(reasons->n - before);
}
