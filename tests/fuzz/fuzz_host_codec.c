/* libFuzzer target: the host cache's model record (lib/host/host_codec.c) must refuse or
 * accept any bytes without crashing or leaking, and a model it accepts must encode back to
 * the very bytes it was read from (nothing dropped, nothing made up). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "host/host_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    nvb_bytes_in in = {(const char *)data, (const char *)data + size, false};
    nvb_host *h = nvb_host_decode(&in);
    if (!h)
        return 0;
    nvb_bytes_out o = {0};
    nvb_host_encode(&o, h);
    if (!o.oom && (o.n != size || memcmp(o.v, data, size) != 0))
        abort();
    free(o.v);
    nvb_host_free(h);
    return 0;
}
