/* The layout constants of glibc's ld.so.cache that its reader (ldcache.c) and its writer
 * (ldcache_write.c) share; ldcache.c's opening comment describes the layout. */
#pragma once
#include <stdint.h>

#define OLD_MAGIC "ld.so-1.7.0"
#define NEW_MAGIC "glibc-ld.so.cache"
#define NEW_VERSION "1.1"

enum {
    OLD_HDR = 16, OLD_ENT = 12,
    NEW_HDR = 48, NEW_ENT = 24,
    NEW_ALIGN = 8,                       /* alignment of the new header after the old table */
    EXT_MAGIC = 0xeaa42174u,             /* glibc: (uint32_t) -358342284 */
    EXT_HDR = 8, EXT_SECTION = 16,
    EXT_TAG_GENERATOR = 0, EXT_TAG_HWCAPS = 1,
    ENDIAN_MASK = 3,
    ENDIAN_NATIVE = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? 2 : 3,
};
/* hwcap values whose upper half is this bit (ignoring the ISA-level bits) index the
 * glibc-hwcaps section; older loaders skip such entries. */
#define HWCAP_EXTENSION_HI (UINT32_C(1) << 30)
#define HWCAP_ISA_LEVEL_MASK UINT32_C(0x3ff)

/* Does hwcap index the glibc-hwcaps section (rather than hold legacy hwcap bits)? */
static inline int nvb_hwcap_is_extension(uint64_t hwcap)
{
    return ((uint32_t)(hwcap >> 32) & ~HWCAP_ISA_LEVEL_MASK) == HWCAP_EXTENSION_HI;
}
