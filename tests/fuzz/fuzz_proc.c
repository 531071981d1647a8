/* libFuzzer target: the driver's /proc file parsers (version, GPU information,
 * /proc/devices, capability access files) on arbitrary text. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "host/procfs.h"
#include "fuzz_text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_text(data, size);
    if (!text)
        return 0;
    nvb_err err = {0};
    char *version = NULL;
    enum nvb_kmod kmod;
    if (nvb_parse_driver_version(text, "fuzz", &version, &kmod, &err) == 0) {
        if (!version || !*version)
            abort();
        free(version);
    }
    nvb_gpu_information info;
    if (nvb_parse_gpu_information(text, "fuzz", &info, &err) == 0) {
        if (!info.model || !info.uuid || !info.bus_location || info.minor > 254)
            abort();
        nvb_gpu_information_clear(&info);
    }
    nvb_proc_devices_major(text, "nvidia-uvm");
    nvb_parse_cap_access_minor(text);
    free(text);
    return 0;
}
