/* libFuzzer target: the ld.so.cache reader must reject or accept any bytes without crashing,
 * and every accepted entry must point at NUL-terminated strings inside the buffer. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ldcache/ldcache.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    nvb_ldcache c;
    nvb_err err = { 0 };
    if (nvb_ldcache_parse(&c, data, size, "fuzz", &err) < 0)
        return 0;
    const char *end = (const char *)data + size;
    char desc[256];
    for (size_t i = 0; i < c.n; i++) {
        const nvb_ldcache_entry *e = &c.entries[i];
        if (e->name < (const char *)data || e->name + strlen(e->name) >= end ||
            e->path < (const char *)data || e->path + strlen(e->path) >= end)
            abort();
        nvb_ldcache_entry_desc(e, desc, sizeof desc);
    }
    nvb_ldcache_close(&c);
    return 0;
}
