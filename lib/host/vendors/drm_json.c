/* Other vendors' GPUs in `nvbind info --json` (key "drm_gpus") and in the C API's host
 * document: both writers here, side by side, so they stay the same. */
#include "host/host_json.h"
#include "host/host_json_values.h"

json_t *nvb_drm_gpus_to_json(const nvb_host *h)
{
    json_t *a = json_array();
    for (size_t i = 0; i < h->n_drm_gpus; i++) {
        const nvb_drm_gpu *g = &h->drm_gpus[i];
        json_array_append_new(
            a, json_pack("{s:s, s:I, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o}", "kind", g->kind, "index",
                         (json_int_t)g->index, "vendor", g->vendor, "driver", g->driver, "pci_bus_id", g->bus_id,
                         "vendor_id", nvb_json_pci_id(g->vendor_id), "device_id", nvb_json_pci_id(g->device_id),
                         "numa_node", nvb_json_int_or_null(g->numa_node), "kfd_node",
                         nvb_json_int_or_null(g->kfd_node), "device_nodes", nvb_json_node_paths(&g->nodes)));
    }
    return a;
}

void nvb_drm_gpus_write_json(nvb_jsonw *w, const nvb_host *h)
{
    nvb_jsonw_key(w, "drm_gpus");
    nvb_jsonw_array_begin(w);
    for (size_t i = 0; i < h->n_drm_gpus; i++) {
        const nvb_drm_gpu *g = &h->drm_gpus[i];
        nvb_jsonw_object_begin(w);
        nvb_jsonw_kstring(w, "kind", g->kind);
        nvb_jsonw_kint(w, "index", g->index);
        nvb_jsonw_kstring(w, "vendor", g->vendor);
        nvb_jsonw_kstring(w, "driver", g->driver);
        nvb_jsonw_kstring(w, "pci_bus_id", g->bus_id);
        nvb_jsonw_kpci_id(w, "vendor_id", g->vendor_id);
        nvb_jsonw_kpci_id(w, "device_id", g->device_id);
        nvb_jsonw_kint_or_null(w, "numa_node", g->numa_node);
        nvb_jsonw_kint_or_null(w, "kfd_node", g->kfd_node);
        nvb_jsonw_knode_paths(w, "device_nodes", &g->nodes);
        nvb_jsonw_object_end(w);
    }
    nvb_jsonw_array_end(w);
}
