/* The C API's side of every vendor: discovery that accepts a host without NVIDIA's driver,
 * the other vendors' GPUs in nvbind_get_gpu_info, and a spec per kind. */
#include "api/api.h"
#include "cdi/cdi.h"
#include "policy/cdi_generate.h"

#include <stdlib.h>
#include <string.h>

nvb_host *nvb_api_discover_any(const nvbind_gpu_manager *m, bool with_nvml, nvbind_error **err)
{
    if (!m)
        return nvb_api_failf(err, NVB_EXIT_USAGE, "the GPU manager is NULL"), NULL;
    nvb_discover_opts o = nvb_api_discover_opts(m, with_nvml);
    o.every_vendor = true;
    nvb_err e = {0};
    nvb_host *h = nvb_host_discover(&o, &e);
    if (!h)
        nvb_api_fail(err, &e);
    return h;
}

/* The entries and their node path arrays in one block: entries first, then the pointers. */
int nvb_api_other_gpus(const nvb_host *h, nvbind_gpu_list *l, void **box)
{
    *box = NULL;
    l->other_count = 0;
    l->others = NULL;
    if (!h->n_drm_gpus)
        return 0;
    size_t n_nodes = 0;
    for (size_t i = 0; i < h->n_drm_gpus; i++)
        n_nodes += h->drm_gpus[i].nodes.n;
    nvbind_other_gpu *v = calloc(1, h->n_drm_gpus * sizeof *v + n_nodes * sizeof(const char *));
    if (!v)
        return -1;
    const char **paths = (const char **)(v + h->n_drm_gpus);
    for (size_t i = 0; i < h->n_drm_gpus; i++) {
        const nvb_drm_gpu *g = &h->drm_gpus[i];
        for (size_t j = 0; j < g->nodes.n; j++)
            paths[j] = g->nodes.v[j].path;
        v[i] = (nvbind_other_gpu){
            .kind = g->kind, .index = g->index, .vendor = g->vendor, .driver = g->driver,
            .pci_bus_id = g->bus_id, .vendor_id = g->vendor_id, .device_id = g->device_id,
            .numa_node = g->numa_node, .kfd_node = g->kfd_node, .node_count = g->nodes.n, .nodes = paths,
        };
        paths += g->nodes.n;
    }
    l->other_count = h->n_drm_gpus;
    l->others = v;
    *box = v;
    return 0;
}

NVBIND_EXPORT nvbind_cdi_spec *nvbind_generate_cdi_spec_for_kind(const nvbind_gpu_manager *m, const char *kind,
                                                                 nvbind_error **err)
{
    char why[256];
    if (!kind || !nvb_cdi_kind_valid(kind, why, sizeof why))
        return nvb_api_failf(err, NVB_EXIT_USAGE, "nvbind_generate_cdi_spec_for_kind: kind '%s': %s",
                             kind ? kind : "(null)", kind ? why : "NULL"),
               NULL;
    nvb_api_model *km = nvb_api_host_acquire(m, err); /* the kept model, revalidated */
    if (!km)
        return NULL;
    nvb_cdi_gen_opts go = {.kind = kind, .naming = m->config.cdi.naming, .hook_path = m->hook_path};
    nvb_err e = {0};
    json_t *doc = nvb_cdi_generate(km->host, &go, &e);
    nvb_api_host_release(m, km);
    if (!doc)
        return nvb_api_fail(err, &e), NULL;
    nvbind_cdi_spec *s = nvb_api_spec_wrap(doc);
    if (!s)
        nvb_api_oom(err, "the CDI spec");
    return s;
}
