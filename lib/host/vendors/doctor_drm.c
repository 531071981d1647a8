/* doctor's part for other vendors' GPUs: each GPU with its CDI name and nodes, AMD's compute
 * node, and on a host without NVIDIA's driver what that means instead of "install it". */
#include "host/doctor.h"

#include <stdio.h>
#include <string.h>

static void check_gpu(nvb_doctor *d, const nvb_drm_gpu *g)
{
    char name[160], nodes[512] = "";
    snprintf(name, sizeof name, "gpu:%s=%u", g->kind, g->index);
    for (size_t j = 0; j < g->nodes.n; j++)
        snprintf(nodes + strlen(nodes), sizeof nodes - strlen(nodes), " %s", g->nodes.v[j].path);
    bool has_render = false;
    for (size_t j = 0; j < g->nodes.n; j++)
        has_render |= strncmp(g->nodes.v[j].path, "/dev/dri/renderD", 16) == 0;
    if (!has_render) {
        nvb_doctor_add(d, NVB_CHECK_ERROR, name, "let udev create the DRM nodes (`udevadm trigger -s drm`)",
                         "%s=%u (%s, %s, bus %s): its render node is missing from /dev/dri", g->kind, g->index,
                         g->vendor, g->driver, g->bus_id);
        return;
    }
    nvb_doctor_add(d, NVB_CHECK_OK, name, NULL, "%s=%u: %s %04x:%04x, driver %s, bus %s; nodes:%s", g->kind,
                     g->index, g->vendor, g->vendor_id, g->device_id, g->driver, g->bus_id, nodes);
    if (strcmp(g->driver, "amdgpu") != 0)
        return;
    snprintf(name, sizeof name, "kfd:%s=%u", g->kind, g->index);
    if (g->kfd_node >= 0)
        nvb_doctor_add(d, NVB_CHECK_OK, name, NULL, "%s=%u: ROCm compute through /dev/kfd (KFD topology node %d)",
                         g->kind, g->index, g->kfd_node);
    else
        nvb_doctor_add(d, NVB_CHECK_INFO, name, "load amdgpu with KFD support (CONFIG_HSA_AMD) for ROCm compute",
                         "%s=%u: the KFD topology lists no node for it: graphics (Mesa) only, no ROCm compute",
                         g->kind, g->index);
}

void nvb_doctor_drm(nvb_doctor *d, const nvb_host *h)
{
    d->drm_gpu_count = (unsigned)h->n_drm_gpus;
    d->gpus_available |= h->n_drm_gpus > 0;
    for (size_t i = 0; i < h->n_drm_gpus; i++)
        check_gpu(d, &h->drm_gpus[i]);
    if (nvb_host_has_nvidia(h))
        return;
    /* What such a host can do, and what it cannot, instead of an NVIDIA driver to install. */
    nvb_doctor_add(d, NVB_CHECK_INFO, "driver",
                     "for NVIDIA GPUs: install NVIDIA's driver (`modprobe nvidia`); the GPUs above work without it",
                     "no NVIDIA driver: containers get this host's %zu GPU%s by CDI name (nvbind run --gpu KIND=NAME, "
                     "nvbind cdi generate --kind KIND), device nodes only: the image brings Mesa, ROCm or oneAPI",
                     h->n_drm_gpus, h->n_drm_gpus == 1 ? "" : "s");
    for (size_t i = 0; i < h->warnings.n; i++)
        nvb_doctor_add(d, NVB_CHECK_WARNING, "discovery", NULL, "%s", h->warnings.v[i]);
}
