/* Other vendors' GPUs in `nvbind info --json` (key "drm_gpus") and in the C API's host
 * document: both writers here, side by side, so they stay the same. */
#include "host/host_json.h"

#include <stdio.h>

static void pci_id(char *buf, size_t size, unsigned id)
{
    snprintf(buf, size, "0x%04x", id);
}

json_t *nvb_drm_gpus_to_json(const nvb_host *h)
{
    json_t *a = json_array();
    for (size_t i = 0; i < h->n_drm_gpus; i++) {
        const nvb_drm_gpu *g = &h->drm_gpus[i];
        char vid[16], did[16], name[64];
        pci_id(vid, sizeof vid, g->vendor_id);
        pci_id(did, sizeof did, g->device_id);
        snprintf(name, sizeof name, "%u", g->index);
        json_t *nodes = json_array();
        for (size_t j = 0; j < g->nodes.n; j++)
            json_array_append_new(nodes, json_string(g->nodes.v[j].path));
        json_array_append_new(
            a, json_pack("{s:s, s:I, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o}", "kind", g->kind, "index",
                         (json_int_t)g->index, "vendor", g->vendor, "driver", g->driver, "pci_bus_id", g->bus_id,
                         "vendor_id", g->vendor_id ? json_string(vid) : json_null(), "device_id",
                         g->device_id ? json_string(did) : json_null(), "numa_node",
                         g->numa_node < 0 ? json_null() : json_integer(g->numa_node), "kfd_node",
                         g->kfd_node < 0 ? json_null() : json_integer(g->kfd_node), "device_nodes", nodes));
    }
    return a;
}

void nvb_drm_gpus_write_json(nvb_jsonw *w, const nvb_host *h)
{
    nvb_jsonw_key(w, "drm_gpus");
    nvb_jsonw_array_begin(w);
    for (size_t i = 0; i < h->n_drm_gpus; i++) {
        const nvb_drm_gpu *g = &h->drm_gpus[i];
        char id[16];
        nvb_jsonw_object_begin(w);
        nvb_jsonw_kstring(w, "kind", g->kind);
        nvb_jsonw_kint(w, "index", g->index);
        nvb_jsonw_kstring(w, "vendor", g->vendor);
        nvb_jsonw_kstring(w, "driver", g->driver);
        nvb_jsonw_kstring(w, "pci_bus_id", g->bus_id);
        pci_id(id, sizeof id, g->vendor_id);
        nvb_jsonw_kstring(w, "vendor_id", g->vendor_id ? id : NULL);
        pci_id(id, sizeof id, g->device_id);
        nvb_jsonw_kstring(w, "device_id", g->device_id ? id : NULL);
        nvb_jsonw_key(w, "numa_node");
        if (g->numa_node < 0)
            nvb_jsonw_null(w);
        else
            nvb_jsonw_int(w, g->numa_node);
        nvb_jsonw_key(w, "kfd_node");
        if (g->kfd_node < 0)
            nvb_jsonw_null(w);
        else
            nvb_jsonw_int(w, g->kfd_node);
        nvb_jsonw_key(w, "device_nodes");
        nvb_jsonw_array_begin(w);
        for (size_t j = 0; j < g->nodes.n; j++)
            nvb_jsonw_string(w, g->nodes.v[j].path);
        nvb_jsonw_array_end(w);
        nvb_jsonw_object_end(w);
    }
    nvb_jsonw_array_end(w);
}
