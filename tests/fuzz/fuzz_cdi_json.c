/* libFuzzer target for CDI specs read as JSON: any bytes load or fail cleanly; a loaded
 * document validates, reports a minimum version, and writes out as JSON and as YAML that both
 * read back to the same data. */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_cdi_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    load_and_exercise(data, size, NVB_CDI_FORMAT_JSON, "fuzz.json");
    return 0;
}
