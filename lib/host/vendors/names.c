/* Vendor names and CDI kinds of the GPUs other drivers run. The kinds follow each vendor's
 * own CDI convention: AMD's container toolkit uses amd.com/gpu, Intel's device plugin
 * intel.com/gpu. Drivers without one get a kind of nvbind's own, named after the driver. */
#include "host/vendors/vendors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *driver, *kind;
} vendor_kinds[] = {
    {"amdgpu", "amd.com/gpu"},
    {"i915", "intel.com/gpu"},
    {"xe", "intel.com/gpu"},
};

const char *nvb_drm_kind(const char *driver, char **buf)
{
    *buf = NULL;
    for (size_t i = 0; i < sizeof vendor_kinds / sizeof *vendor_kinds; i++)
        if (strcmp(driver, vendor_kinds[i].driver) == 0)
            return vendor_kinds[i].kind;
    /* A CDI class is letters, digits, '-', '_' and '.', starting with a letter: a driver
     * name is that already (nouveau, virtio_gpu, vmwgfx); anything else becomes '-'. */
    if (asprintf(buf, "nvbind.drm/%s", *driver ? driver : "x") < 0) /* an empty name has no first letter to replace */
        return *buf = NULL;
    char *cls = *buf + strlen("nvbind.drm/");
    for (char *c = cls; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '_' ||
              *c == '-' || *c == '.'))
            *c = '-';
    if (!((cls[0] >= 'a' && cls[0] <= 'z') || (cls[0] >= 'A' && cls[0] <= 'Z')))
        cls[0] = 'x';
    return *buf;
}

bool nvb_drm_kind_has_card(const char *kind)
{
    return strcmp(kind, "amd.com/gpu") == 0 || strcmp(kind, "intel.com/gpu") == 0 ||
           strcmp(kind, "nvbind.drm/nouveau") == 0;
}

const char *nvb_pci_vendor_name(unsigned vendor_id)
{
    switch (vendor_id) {
    case 0x1002:
    case 0x1022: return "amd";
    case 0x8086: return "intel";
    case 0x10de: return "nvidia";
    case 0x15ad: return "vmware";
    case 0x1af4:
    case 0x1b36: return "redhat";
    case 0x1a03: return "aspeed";
    case 0x5143: return "qualcomm";
    case 0x1414: return "microsoft";
    default: return "unknown";
    }
}
