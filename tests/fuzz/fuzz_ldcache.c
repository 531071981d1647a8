/* libFuzzer target: the ld.so.cache reader must reject or accept any bytes without crashing,
 * and every accepted entry must point at NUL-terminated strings inside the buffer. A cache
 * in ldconfig's order must also survive what the update-ldcache hook does to it: a driver
 * entry merged in, the result written by nvbind's writer and read back, still in order. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ldcache/ldcache.h"
#include "ldcache/ldcache_write.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void merge_and_write(const nvb_ldcache *c)
{
    static const nvb_ldcache_entry driver = { .name = "libcuda.so.1", .path = "/usr/lib/x86_64-linux-gnu/libcuda.so.1",
                                              .flags = 0x303 };
    nvb_ldcache_entry *v;
    size_t n;
    if (nvb_ldcache_merge(c->entries, c->n, &driver, 1, &v, &n) < 0)
        return;
    if (!nvb_ldcache_sorted(v, n))
        abort();
    void *bytes;
    size_t len;
    nvb_err err = { 0 };
    if (nvb_ldcache_serialize(v, n, "fuzz", &bytes, &len, &err) == 0) {
        nvb_ldcache back;
        if (nvb_ldcache_parse(&back, bytes, len, "written", &err) < 0 || back.n != n ||
            !nvb_ldcache_sorted(back.entries, back.n))
            abort();
        for (size_t i = 0; i < n; i++)
            if (strcmp(back.entries[i].name, v[i].name) || strcmp(back.entries[i].path, v[i].path) ||
                back.entries[i].flags != v[i].flags || !back.entries[i].hwcaps_subdir != !v[i].hwcaps_subdir)
                abort();
        nvb_ldcache_close(&back);
        free(bytes);
    }
    free(v);
}

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
    if (nvb_ldcache_sorted(c.entries, c.n))
        merge_and_write(&c);
    nvb_ldcache_close(&c);
    return 0;
}
