/* libFuzzer target: the sysfs texts discovery reads for other vendors' GPUs: a KFD topology
 * node's properties (/sys/class/kfd/kfd/topology/nodes/N/properties, which pair AMD GPUs
 * with /dev/kfd) and a DRM device's uevent (DRIVER=, PCI_ID=). Under a --root that is a copy
 * or an image, these files are anyone's: any bytes must be read without a crash, a minor found
 * is the number on a "drm_render_minor" line, and a uevent value is one whole line's, within
 * the buffer it was given. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "host/vendors/vendors.h"
#include "fuzz_text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_uevent(const char *text, const char *key, size_t size)
{
    char out[64];
    if (!nvb_uevent_value(text, key, out, size))
        return;
    size_t n = strlen(out);
    if (n == 0 || n >= size || strchr(out, '\n'))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_text(data, size);
    if (!text)
        return 0;
    long minor = nvb_kfd_render_minor(text);
    if (minor != -1 && strncmp(text, "drm_render_minor ", 17) != 0 && !strstr(text, "\ndrm_render_minor "))
        abort();
    check_uevent(text, "DRIVER", 64);
    check_uevent(text, "PCI_ID", 16);
    check_uevent(text, "PCI_ID", 1);
    free(text);
    return 0;
}
