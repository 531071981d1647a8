/* libFuzzer target: a KFD topology node's properties file (/sys/class/kfd/kfd/topology/nodes/N/
 * properties), which discovery reads under --root to pair AMD GPUs with /dev/kfd. Under a
 * --root that is a copy or an image, the file is anyone's: any bytes must be read without a
 * crash, and a minor found is the number on a "drm_render_minor" line. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "host/vendors/vendors.h"
#include "fuzz_text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_text(data, size);
    if (!text)
        return 0;
    long minor = nvb_kfd_render_minor(text);
    if (minor != -1 && strncmp(text, "drm_render_minor ", 17) != 0 && !strstr(text, "\ndrm_render_minor "))
        abort();
    free(text);
    return 0;
}
