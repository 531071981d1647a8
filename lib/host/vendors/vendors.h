/* Internal to discovery: the backends for GPUs of drivers other than NVIDIA's (AMD's
 * amdgpu, Intel's i915 and xe, nouveau, any DRM driver). They fill h->drm_gpus. */
#pragma once
#include "host/discover.h"

/* Every GPU the kernel's DRM interface shows (/sys/class/drm/renderD*), except those of
 * NVIDIA's own driver, with their device nodes; AMD's paired with their KFD node. */
int nvb_discover_drm_gpus(nvb_discovery *d, nvb_err *err);

/* Pair amdgpu GPUs with the KFD topology (/sys/class/kfd/kfd/topology/nodes/N/properties:
 * drm_render_minor) and give the paired ones /dev/kfd, ROCm's compute node. */
int nvb_kfd_pair(nvb_discovery *d, nvb_drm_gpu *gpus, size_t n, nvb_err *err);
/* "drm_render_minor 128" in a KFD node's properties text; -1 when absent (a CPU node says
 * 0). Its own function so the fuzzer reaches it. */
long nvb_kfd_render_minor(const char *props);
/* The value of a "KEY=" line of a sysfs uevent text, copied into out; false when absent,
 * empty or longer than size allows. Its own function so the fuzzer reaches it. */
bool nvb_uevent_value(const char *text, const char *key, char *out, size_t size);

/* The CDI kind for a driver: the vendor's own convention where there is one (amd.com/gpu,
 * intel.com/gpu), else "nvbind.drm/<driver>" in *buf (malloc'd). NULL when out of memory. */
const char *nvb_drm_kind(const char *driver, char **buf);
/* "amd", "intel", "nvidia", ... for a PCI vendor id; "unknown" otherwise. */
const char *nvb_pci_vendor_name(unsigned vendor_id);
/* Whether containers also get the driver's card node: the vendors' conventions give it
 * (display and KMS queries); any other driver gets its render node only. */
bool nvb_drm_kind_has_card(const char *kind);
