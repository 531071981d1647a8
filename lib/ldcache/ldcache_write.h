/* Writing glibc's ld.so.cache ("glibc-ld.so.cache1.1", the only format glibc's ldconfig
 * writes since 2.32): the driver's libraries merged into an image's own cache, in the
 * order ldconfig would have given them, without scanning a single library. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include "ldcache/ldcache.h"

/* glibc's name order (_dl_cache_libcmp): runs of digits compare as numbers, so
 * "libfoo.so.10" > "libfoo.so.9". <0, 0, >0. */
int nvb_ldcache_libcmp(const char *a, const char *b);

/* ldconfig's order of two entries (<0: a comes first): names descending in the order above,
 * then flags descending, glibc-hwcaps entries before the others (by subdirectory name),
 * then legacy hwcap masks with more bits first. ld.so's binary search relies on it. */
int nvb_ldcache_entry_cmp(const nvb_ldcache_entry *a, const nvb_ldcache_entry *b);

/* Whether v[0..n) is in that order. */
bool nvb_ldcache_sorted(const nvb_ldcache_entry *v, size_t n);

/* The flags ldconfig gives a library of this machine's ABI (64-bit) or of its 32-bit
 * companion ABI (i386 on x86-64, armhf on arm64); -1 on a machine nvbind does not know
 * them for. */
int nvb_ldcache_native_flags(bool is32);

/* The entries of img (in ldconfig's order) and add (any order) merged as ldconfig would
 * have listed them had it scanned add's folders first: add's entries go before image
 * entries that compare equal, in their given order among themselves. An image entry with
 * the same name and path as an added one (the driver's own entry from an earlier start) is
 * dropped, and so is an image entry whose glibc-hwcaps index names no subfolder (ld.so
 * skips it). *out (malloc'd, *nout entries) points at the strings of both. -1 on no memory. */
int nvb_ldcache_merge(const nvb_ldcache_entry *img, size_t nimg, const nvb_ldcache_entry *add, size_t nadd,
                      nvb_ldcache_entry **out, size_t *nout);

/* The most glibc-hwcaps subfolders a written cache may name. */
#define NVB_LDCACHE_MAX_HWCAPS 64

/* The bytes of a cache holding v[0..n) in that order, with generator (may be NULL) in its
 * extension section and a glibc-hwcaps section when an entry has hwcaps_subdir. *out is
 * malloc'd (*len bytes). NVB_EXIT_IO on no memory, NVB_EXIT_HOST_DATA when the result
 * would exceed NVB_LDCACHE_MAX_SIZE or name more than NVB_LDCACHE_MAX_HWCAPS subfolders. */
int nvb_ldcache_serialize(const nvb_ldcache_entry *v, size_t n, const char *generator, void **out, size_t *len,
                          nvb_err *err);
