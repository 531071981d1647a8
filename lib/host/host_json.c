#include "host/host_json.h"
#include "host/host_json_values.h"

#include <stdio.h>
#include <string.h>

const char *nvb_kmod_name(enum nvb_kmod k)
{
    return k == NVB_KMOD_OPEN ? "open" : k == NVB_KMOD_PROPRIETARY ? "proprietary" : "unknown";
}

json_t *nvb_devnode_to_json(const nvb_devnode *n)
{
    return json_pack("{s:s, s:s, s:s#, s:I, s:I, s:I}", "path", n->path, "host_path", n->host_path, "type", &n->type,
                     (size_t)1, "major", (json_int_t)n->major, "minor", (json_int_t)n->minor, "file_mode",
                     (json_int_t)n->mode);
}

static json_t *gpu_to_json(const nvb_gpu *g, bool detailed)
{
    json_t *o = json_pack("{s:I, s:I, s:s, s:s, s:s, s:o, s:o}", "index", (json_int_t)g->index, "minor",
                          (json_int_t)g->minor, "uuid", g->uuid, "name", g->name, "pci_bus_id", g->pci_bus_id,
                          "memory_mib", nvb_json_int_or_null(g->memory_mib), "device_nodes",
                          nvb_json_node_paths(&g->nodes));
    json_object_set_new(o, "vendor_id", nvb_json_pci_id(g->vendor_id));
    json_object_set_new(o, "device_id", nvb_json_pci_id(g->device_id));
    json_object_set_new(o, "numa_node", nvb_json_int_or_null(g->numa_node));
    json_object_set_new(o, "vendor", json_string("nvidia")); /* every vendor: drm_gpus has the others */
    json_object_set_new(o, "driver", json_string("nvidia"));
    if (!detailed)
        return o;
    char cc[32];
    snprintf(cc, sizeof cc, "%d.%d", g->cc_major, g->cc_minor);
    json_object_set_new(o, "compute_capability", g->cc_major < 0 ? json_null() : json_string(cc));
    json_object_set_new(o, "brand", g->brand ? json_string(g->brand) : json_null());
    json_object_set_new(o, "mig_mode", g->mig_mode < 0 ? json_null() : json_string(g->mig_mode ? "enabled" : "disabled"));
    json_t *migs = json_array();
    for (size_t i = 0; i < g->n_migs; i++) {
        const nvb_mig_device *m = &g->migs[i];
        char name[32];
        snprintf(name, sizeof name, "%u:%u", m->gpu_index, m->mig_index);
        json_array_append_new(migs, json_pack("{s:s, s:s, s:I, s:I, s:o, s:o}", "name", name, "uuid", m->uuid, "gi",
                                              (json_int_t)m->gi, "ci", (json_int_t)m->ci, "memory_mib",
                                              nvb_json_int_or_null(m->memory_mib), "device_nodes",
                                              nvb_json_node_paths(&m->nodes)));
    }
    json_object_set_new(o, "mig_devices", migs);
    return o;
}

json_t *nvb_host_to_json(const nvb_host *h, bool detailed)
{
    json_t *root = json_object();
    json_object_set_new(root, "driver",
                        !nvb_host_has_nvidia(h) ? json_null() /* other vendors' GPUs only */
                        : json_pack("{s:s, s:s, s:o}", "version", h->driver_version, "kernel_module",
                                    nvb_kmod_name(h->kmod), "cuda_version",
                                    h->cuda_version ? json_string(h->cuda_version) : json_null()));
    json_object_set_new(root, "root", json_string(h->root));
    json_object_set_new(root, "driver_root", json_string(h->driver_root));
    json_object_set_new(root, "wsl2", json_boolean(h->wsl2));
    if (detailed)
        json_object_set_new(root, "nvml", json_boolean(h->nvml_loaded));
    json_t *gpus = json_array();
    for (size_t i = 0; i < h->n_gpus; i++)
        json_array_append_new(gpus, gpu_to_json(&h->gpus[i], detailed));
    json_object_set_new(root, "gpus", gpus);
    json_t *nodes = json_array();
    for (size_t i = 0; i < h->nodes.n; i++)
        json_array_append_new(nodes, nvb_devnode_to_json(&h->nodes.v[i]));
    json_object_set_new(root, "device_nodes", nodes);
    json_t *caps = json_array();
    for (size_t i = 0; i < h->cap_nodes.n; i++)
        json_array_append_new(caps, nvb_devnode_to_json(&h->cap_nodes.v[i]));
    json_object_set_new(root, "capability_nodes", caps);
    json_t *comps = json_object();
    for (int k = 0; k < NVB_COMP__COUNT; k++)
        json_object_set_new(comps, nvb_component_kind_name(k), json_array());
    for (size_t i = 0; i < h->n_comps; i++) {
        const nvb_component *c = &h->comps[i];
        json_array_append_new(json_object_get(comps, nvb_component_kind_name(c->kind)),
                              json_pack("{s:s, s:s}", "host_path", c->host_path, "container_path", c->container_path));
    }
    json_object_set_new(root, "components", comps);
    json_t *warn = json_array();
    for (size_t i = 0; i < h->warnings.n; i++)
        json_array_append_new(warn, json_string(h->warnings.v[i]));
    json_object_set_new(root, "warnings", warn);
    json_object_set_new(root, "drm_gpus", nvb_drm_gpus_to_json(h));
    return root;
}

/* ---- the same document, streamed (what `nvbind info --json` prints) ---- */

static void write_devnode(nvb_jsonw *w, const nvb_devnode *n)
{
    nvb_jsonw_object_begin(w);
    nvb_jsonw_kstring(w, "path", n->path);
    nvb_jsonw_kstring(w, "host_path", n->host_path);
    nvb_jsonw_key(w, "type");
    nvb_jsonw_stringn(w, &n->type, 1);
    nvb_jsonw_kint(w, "major", n->major);
    nvb_jsonw_kint(w, "minor", n->minor);
    nvb_jsonw_kint(w, "file_mode", n->mode);
    nvb_jsonw_object_end(w);
}

static void write_gpu(nvb_jsonw *w, const nvb_gpu *g, bool detailed)
{
    nvb_jsonw_object_begin(w);
    nvb_jsonw_kint(w, "index", g->index);
    nvb_jsonw_kint(w, "minor", g->minor);
    nvb_jsonw_kstring(w, "uuid", g->uuid);
    nvb_jsonw_kstring(w, "name", g->name);
    nvb_jsonw_kstring(w, "pci_bus_id", g->pci_bus_id);
    nvb_jsonw_kint_or_null(w, "memory_mib", g->memory_mib);
    nvb_jsonw_knode_paths(w, "device_nodes", &g->nodes);
    nvb_jsonw_kpci_id(w, "vendor_id", g->vendor_id);
    nvb_jsonw_kpci_id(w, "device_id", g->device_id);
    nvb_jsonw_kint_or_null(w, "numa_node", g->numa_node);
    nvb_jsonw_kstring(w, "vendor", "nvidia"); /* every vendor: drm_gpus has the others */
    nvb_jsonw_kstring(w, "driver", "nvidia");
    if (detailed) {
        char cc[32];
        snprintf(cc, sizeof cc, "%d.%d", g->cc_major, g->cc_minor);
        nvb_jsonw_kstring(w, "compute_capability", g->cc_major < 0 ? NULL : cc);
        nvb_jsonw_kstring(w, "brand", g->brand);
        nvb_jsonw_kstring(w, "mig_mode", g->mig_mode < 0 ? NULL : g->mig_mode ? "enabled" : "disabled");
        nvb_jsonw_key(w, "mig_devices");
        nvb_jsonw_array_begin(w);
        for (size_t i = 0; i < g->n_migs; i++) {
            const nvb_mig_device *m = &g->migs[i];
            char name[32];
            snprintf(name, sizeof name, "%u:%u", m->gpu_index, m->mig_index);
            nvb_jsonw_object_begin(w);
            nvb_jsonw_kstring(w, "name", name);
            nvb_jsonw_kstring(w, "uuid", m->uuid);
            nvb_jsonw_kint(w, "gi", m->gi);
            nvb_jsonw_kint(w, "ci", m->ci);
            nvb_jsonw_kint_or_null(w, "memory_mib", m->memory_mib);
            nvb_jsonw_knode_paths(w, "device_nodes", &m->nodes);
            nvb_jsonw_object_end(w);
        }
        nvb_jsonw_array_end(w);
    }
    nvb_jsonw_object_end(w);
}

void nvb_host_write_json(nvb_jsonw *w, const nvb_host *h, bool detailed)
{
    nvb_jsonw_object_begin(w);
    nvb_jsonw_key(w, "driver");
    if (!nvb_host_has_nvidia(h)) { /* other vendors' GPUs only */
        nvb_jsonw_null(w);
    } else {
        nvb_jsonw_object_begin(w);
        nvb_jsonw_kstring(w, "version", h->driver_version);
        nvb_jsonw_kstring(w, "kernel_module", nvb_kmod_name(h->kmod));
        nvb_jsonw_kstring(w, "cuda_version", h->cuda_version);
        nvb_jsonw_object_end(w);
    }
    nvb_jsonw_kstring(w, "root", h->root);
    nvb_jsonw_kstring(w, "driver_root", h->driver_root);
    nvb_jsonw_kbool(w, "wsl2", h->wsl2);
    if (detailed)
        nvb_jsonw_kbool(w, "nvml", h->nvml_loaded);
    nvb_jsonw_key(w, "gpus");
    nvb_jsonw_array_begin(w);
    for (size_t i = 0; i < h->n_gpus; i++)
        write_gpu(w, &h->gpus[i], detailed);
    nvb_jsonw_array_end(w);
    nvb_jsonw_key(w, "device_nodes");
    nvb_jsonw_array_begin(w);
    for (size_t i = 0; i < h->nodes.n; i++)
        write_devnode(w, &h->nodes.v[i]);
    nvb_jsonw_array_end(w);
    nvb_jsonw_key(w, "capability_nodes");
    nvb_jsonw_array_begin(w);
    for (size_t i = 0; i < h->cap_nodes.n; i++)
        write_devnode(w, &h->cap_nodes.v[i]);
    nvb_jsonw_array_end(w);
    nvb_jsonw_key(w, "components");
    nvb_jsonw_object_begin(w);
    for (int k = 0; k < NVB_COMP__COUNT; k++) {
        nvb_jsonw_key(w, nvb_component_kind_name(k));
        nvb_jsonw_array_begin(w);
        for (size_t j = 0; j < h->n_comps; j++) {
            const nvb_component *c = &h->comps[j];
            if ((int)c->kind != k)
                continue;
            nvb_jsonw_object_begin(w);
            nvb_jsonw_kstring(w, "host_path", c->host_path);
            nvb_jsonw_kstring(w, "container_path", c->container_path);
            nvb_jsonw_object_end(w);
        }
        nvb_jsonw_array_end(w);
    }
    nvb_jsonw_object_end(w);
    nvb_jsonw_key(w, "warnings");
    nvb_jsonw_array_begin(w);
    for (size_t j = 0; j < h->warnings.n; j++)
        nvb_jsonw_string(w, h->warnings.v[j]);
    nvb_jsonw_array_end(w);
    nvb_drm_gpus_write_json(w, h);
    nvb_jsonw_object_end(w);
}
