/* libFuzzer target for CDI specs read as YAML, then sniffed as files are: any bytes load or
 * fail cleanly; a loaded document validates, reports a minimum version, and writes out as
 * JSON and as YAML that both read back to the same data. */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_cdi_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!load_and_exercise(data, size, NVB_CDI_FORMAT_YAML, "fuzz.yaml"))
        return 0;
    /* the same bytes as a file of unknown type: sniffed, then JSON or YAML */
    nvb_err err = {0};
    json_t *spec = nvb_cdi_load_buffer((const char *)data, size, NVB_CDI_FORMAT_AUTO, "fuzz", &err);
    if (spec)
        exercise(spec);
    json_decref(spec);
    return 0;
}
