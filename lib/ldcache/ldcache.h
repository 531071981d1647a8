/* Reader for glibc's /etc/ld.so.cache ("glibc-ld.so.cache1.1", optionally preceded by the
 * old "ld.so-1.7.0" table). Every offset is bounds-checked; a bad file is an error, never a crash. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "util/error.h"

/* The largest cache read. glibc's ldconfig writes about 100 bytes per library: a host with
 * ten thousand libraries has a 1 MiB cache. Parsing is linear in the size, and the entry
 * table nvbind allocates is about twice the file's size, so this bounds both. */
#define NVB_LDCACHE_MAX_SIZE (16 << 20)

typedef struct nvb_ldcache_entry {
    const char *name;   /* e.g. "libcuda.so.1"; points into the mapped file */
    const char *path;   /* e.g. "/usr/lib/x86_64-linux-gnu/libcuda.so.1" */
    int32_t flags;      /* FLAG_* bits as glibc stores them */
    uint64_t hwcap;
    const char *hwcaps_subdir;  /* "x86-64-v3" for a glibc-hwcaps/<subdir>/ entry, else NULL */
} nvb_ldcache_entry;

typedef struct nvb_ldcache {
    const void *map;    /* the file's bytes (mmap or caller's buffer) */
    size_t size;
    int mapped;         /* 1 when map must be munmap()ed */
    nvb_ldcache_entry *entries;  /* in file order */
    size_t n;
    const char *generator;  /* "ldconfig (GNU libc) ..." from the extension section, not NUL-terminated */
    size_t generator_len;   /* 0 when the file names no generator */
} nvb_ldcache;

/* Map and parse path. The error names the file and the problem (exit NVB_EXIT_HOST_DATA;
 * NVB_EXIT_IO with errnum set when the file cannot be opened or mapped). */
int nvb_ldcache_open(nvb_ldcache *c, const char *path, nvb_err *err);
/* Parse a buffer the caller keeps alive; origin names it in errors. */
int nvb_ldcache_parse(nvb_ldcache *c, const void *buf, size_t len, const char *origin, nvb_err *err);
void nvb_ldcache_close(nvb_ldcache *c);

/* The text `ldconfig -p` prints inside the parentheses for these flags, e.g. "libc6,x86-64". */
const char *nvb_ldcache_flags_str(int32_t flags, char *buf, size_t len);
/* Everything `ldconfig -p` prints inside the parentheses for an entry: the flags text plus
 * `, hwcap: "x86-64-v3"` (glibc-hwcaps subdirectory) or `, hwcap: 0x...` (legacy hwcap). */
const char *nvb_ldcache_entry_desc(const nvb_ldcache_entry *e, char *buf, size_t len);
/* true when the entry is for the 64-bit x86 ABI, false for i386 and others. */
int nvb_ldcache_is_x86_64(int32_t flags);
int nvb_ldcache_is_i386(int32_t flags);
