/* glibc's ld.so.cache, read without glibc's help.
 *
 * Layout (native byte order), as glibc's elf/cache.c writes it:
 *   old format  "ld.so-1.7.0" (11 bytes), pad, uint32 nlibs at 12, then nlibs entries of
 *               {int32 flags; uint32 key, value}; string offsets count from the end of that table.
 *   new format  "glibc-ld.so.cache" "1.1", uint32 nlibs at 20, uint32 len_strings at 24,
 *               uint8 flags (byte order) at 28, uint32 extension_offset at 32, 48-byte header,
 *               then nlibs entries of {int32 flags; uint32 key, value, osversion (unused); uint64 hwcap};
 *               string offsets count from the start of this header.
 *   combined    the old table, padded to 8 bytes, then the new format (which then wins).
 *   extension   at extension_offset (a file offset): uint32 magic, uint32 count, count sections
 *               {uint32 tag, flags, offset, size} with file offsets; tag 0 is the generator
 *               string, tag 1 an array of string offsets naming the glibc-hwcaps subdirectories. */
#include "ldcache/ldcache.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ldcache/ldcache_format.h"
#include "util/cleanup.h"

struct parser {
    const unsigned char *p;
    size_t len;
    const char *origin;
    nvb_err *err;
    const unsigned char *hwcaps;  /* glibc-hwcaps section, NULL when absent */
    uint32_t n_hwcaps;
    size_t strings, strings_end;  /* the string table: [strings, strings_end) of the file */
    size_t unterminated;          /* where the table's last string without a NUL starts */
};

static uint32_t rd32(const unsigned char *p) { uint32_t v; memcpy(&v, p, sizeof v); return v; }
static uint64_t rd64(const unsigned char *p) { uint64_t v; memcpy(&v, p, sizeof v); return v; }

static int bad(struct parser *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(struct parser *ps, const char *fmt, ...)
{
    char what[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return nvb_errf(ps->err, NVB_EXIT_HOST_DATA, "%s: %s", ps->origin, what);
}

/* Check the string table once, in one pass: every string in it ends within PATH_MAX
 * bytes. Afterwards each entry's string is checked in constant time (string_at), where a
 * search for its NUL from each offset would cost the rest of the file for every entry:
 * quadratic in the file's size for a crafted cache of many entries and no NUL. */
static int strings_check(struct parser *ps, size_t at, size_t end)
{
    ps->strings = at;
    ps->strings_end = end;
    size_t pos = at;
    while (pos < end) {
        const unsigned char *nul = memchr(ps->p + pos, '\0', end - pos);
        if (!nul)
            break;
        size_t l = (size_t)(nul - ps->p) - pos;
        if (l >= PATH_MAX)
            return bad(ps, "string table: the string at offset %zu is %zu bytes long, longer than a path can be (%d)",
                       pos, l, PATH_MAX - 1);
        pos += l + 1;
    }
    ps->unterminated = pos;
    return 0;
}

/* The NUL-terminated string at base + off inside the string table, or NULL with *why set. */
static const char *string_at(const struct parser *ps, size_t base, uint32_t off, const char **why)
{
    if (off >= ps->len - base) {
        *why = "lies outside the file";
        return NULL;
    }
    size_t pos = base + off;
    if (pos < ps->strings || pos >= ps->strings_end) {
        *why = "lies outside the string table";
        return NULL;
    }
    if (pos >= ps->unterminated) {
        *why = "has no terminating NUL before the end of the string table";
        return NULL;
    }
    return (const char *)ps->p + pos;
}

static int entry_strings(struct parser *ps, size_t base, size_t i, uint32_t key, uint32_t value,
                         nvb_ldcache_entry *e)
{
    const char *why = NULL;
    if (!(e->name = string_at(ps, base, key, &why)))
        return bad(ps, "entry %zu: library name at offset %zu %s (%zu bytes)", i,
                   base + (size_t)key, why, ps->len);
    if (!(e->path = string_at(ps, base, value, &why)))
        return bad(ps, "entry %zu: path of %s at offset %zu %s (%zu bytes)", i, e->name,
                   base + (size_t)value, why, ps->len);
    return 0;
}

static int count_check(struct parser *ps, uint32_t n, size_t table_at, size_t entry_size)
{
    size_t holds = table_at <= ps->len ? (ps->len - table_at) / entry_size : 0;
    if (n > holds)
        return bad(ps, "truncated: header says %" PRIu32 " entries but the file holds %zu", n, holds);
    return 0;
}

/* Like glibc's cache_extension_load: a malformed directory is an error; unknown tags are skipped. */
static int load_extensions(struct parser *ps, nvb_ldcache *c, uint32_t off)
{
    if (off == 0)
        return 0;
    if (off % 4 || ps->len < EXT_HDR || off > ps->len - EXT_HDR)
        return bad(ps, "extension directory offset %" PRIu32 " is misaligned or outside the file", off);
    const unsigned char *x = ps->p + off;
    if (rd32(x) != EXT_MAGIC)
        return bad(ps, "extension directory at offset %" PRIu32 " has a bad magic number", off);
    uint32_t count = rd32(x + 4);
    if (count > (ps->len - off - EXT_HDR) / EXT_SECTION)
        return bad(ps, "truncated: extension directory lists %" PRIu32 " sections beyond the end of the file", count);
    for (uint32_t i = 0; i < count; i++) {
        const unsigned char *s = x + EXT_HDR + (size_t)i * EXT_SECTION;
        uint32_t tag = rd32(s), at = rd32(s + 8), size = rd32(s + 12);
        if (at > ps->len || size > ps->len - at)
            return bad(ps, "extension section %" PRIu32 " (offset %" PRIu32 ", %" PRIu32
                       " bytes) reaches beyond the end of the file", i, at, size);
        if (tag == EXT_TAG_GENERATOR) {
            c->generator = (const char *)ps->p + at;
            c->generator_len = size;
        } else if (tag == EXT_TAG_HWCAPS && size && size % 4 == 0 && at % 4 == 0) {
            ps->hwcaps = ps->p + at;   /* glibc ignores a hwcaps section that is not so aligned */
            ps->n_hwcaps = size / 4;
        }
    }
    return 0;
}

/* The glibc-hwcaps subdirectory an entry belongs to; NULL when hwcap is a legacy value or
 * does not resolve (ldconfig then prints the number, and ld.so ignores the entry). */
static const char *hwcaps_subdir(const struct parser *ps, size_t base, uint64_t hwcap)
{
    if (!nvb_hwcap_is_extension(hwcap) || !ps->hwcaps)
        return NULL;
    uint32_t idx = (uint32_t)hwcap;
    if (idx >= ps->n_hwcaps)
        return NULL;
    const char *why;
    return string_at(ps, base, rd32(ps->hwcaps + (size_t)idx * 4), &why);
}

static int parse_new(struct parser *ps, nvb_ldcache *c, size_t base)
{
    if (ps->len - base < NEW_HDR)
        return bad(ps, "truncated: %zu bytes left for the %d-byte header at offset %zu",
                   ps->len - base, NEW_HDR, base);
    const unsigned char *h = ps->p + base;
    if (memcmp(h + sizeof NEW_MAGIC - 1, NEW_VERSION, sizeof NEW_VERSION - 1))
        return bad(ps, "unsupported format version (expected \"" NEW_VERSION "\")");
    uint32_t n = rd32(h + 20), len_strings = rd32(h + 24), ext = rd32(h + 32);
    unsigned order = h[28] & ENDIAN_MASK;
    if (order != 0 && order != ENDIAN_NATIVE)
        return bad(ps, "byte-order flag %u does not match this machine (%u)", order, (unsigned)ENDIAN_NATIVE);
    size_t table = base + NEW_HDR;
    if (count_check(ps, n, table, NEW_ENT) < 0)
        return -1;
    size_t strings = table + (size_t)n * NEW_ENT;
    if (len_strings > ps->len - strings)
        return bad(ps, "truncated: header says the string table holds %" PRIu32
                   " bytes but %zu follow the entries", len_strings, ps->len - strings);
    if (strings_check(ps, strings, strings + len_strings) < 0 || load_extensions(ps, c, ext) < 0)
        return -1;
    if (!(c->entries = calloc(n ? n : 1, sizeof *c->entries)))
        return nvb_errf_errno(ps->err, NVB_EXIT_IO, ENOMEM, "%s: %" PRIu32 " entries", ps->origin, n);
    for (size_t i = 0; i < n; i++) {
        const unsigned char *r = ps->p + table + i * NEW_ENT;
        nvb_ldcache_entry *e = &c->entries[i];
        e->flags = (int32_t)rd32(r);
        e->hwcap = rd64(r + 16);
        if (entry_strings(ps, base, i, rd32(r + 4), rd32(r + 8), e) < 0)
            return -1;
        e->hwcaps_subdir = hwcaps_subdir(ps, base, e->hwcap);
    }
    c->n = n;
    return 0;
}

static int parse_old(struct parser *ps, nvb_ldcache *c, uint32_t n)
{
    size_t strings = OLD_HDR + (size_t)n * OLD_ENT;
    if (strings_check(ps, strings, ps->len) < 0) /* the old format's strings run to the end */
        return -1;
    if (!(c->entries = calloc(n ? n : 1, sizeof *c->entries)))
        return nvb_errf_errno(ps->err, NVB_EXIT_IO, ENOMEM, "%s: %" PRIu32 " entries", ps->origin, n);
    for (size_t i = 0; i < n; i++) {
        const unsigned char *r = ps->p + OLD_HDR + i * OLD_ENT;
        c->entries[i].flags = (int32_t)rd32(r);
        if (entry_strings(ps, strings, i, rd32(r + 4), rd32(r + 8), &c->entries[i]) < 0)
            return -1;
    }
    c->n = n;
    return 0;
}

/* Whether the first bytes are (the start of) magic: a short file with the right start is
 * reported as truncated rather than as a foreign file. */
static bool starts_like(const unsigned char *p, size_t len, const char *magic)
{
    size_t m = strlen(magic);
    return memcmp(p, magic, len < m ? len : m) == 0;
}

static int parse(struct parser *ps, nvb_ldcache *c)
{
    if (ps->len == 0)
        return bad(ps, "empty file");
    if (ps->len > NVB_LDCACHE_MAX_SIZE)
        return bad(ps, "%zu bytes is larger than an ld.so.cache can be (%d MiB)", ps->len, NVB_LDCACHE_MAX_SIZE >> 20);
    if (starts_like(ps->p, ps->len, OLD_MAGIC)) {
        if (ps->len < OLD_HDR)
            return bad(ps, "truncated: %zu bytes is shorter than the %d-byte header", ps->len, OLD_HDR);
        uint32_t n = rd32(ps->p + 12);
        if (count_check(ps, n, OLD_HDR, OLD_ENT) < 0)
            return -1;
        /* glibc looks for the new format right after the old table, aligned, and uses it
         * when its magic and version are there. */
        size_t at = (OLD_HDR + (size_t)n * OLD_ENT + NEW_ALIGN - 1) & ~(size_t)(NEW_ALIGN - 1);
        if (at < ps->len && ps->len - at > NEW_HDR &&
            !memcmp(ps->p + at, NEW_MAGIC NEW_VERSION, sizeof NEW_MAGIC NEW_VERSION - 1))
            return parse_new(ps, c, at);
        return parse_old(ps, c, n);
    }
    if (starts_like(ps->p, ps->len, NEW_MAGIC))
        return parse_new(ps, c, 0);
    return bad(ps, "not an ld.so.cache: bad magic (expected \"" NEW_MAGIC NEW_VERSION "\" or \"" OLD_MAGIC "\")");
}

int nvb_ldcache_parse(nvb_ldcache *c, const void *buf, size_t len, const char *origin, nvb_err *err)
{
    *c = (nvb_ldcache){ .map = buf, .size = len };
    struct parser ps = { .p = buf, .len = len, .origin = origin, .err = err };
    if (parse(&ps, c) < 0) {
        free(c->entries);
        *c = (nvb_ldcache){ 0 };
        return -1;
    }
    return 0;
}

int nvb_ldcache_open(nvb_ldcache *c, const char *path, nvb_err *err)
{
    *c = (nvb_ldcache){ 0 };
    /* O_NONBLOCK: a FIFO planted in a host root must not hang discovery */
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return nvb_errf_errno(err, NVB_EXIT_IO, errno, "%s: cannot open", path);
    struct stat st;
    if (fstat(fd, &st) < 0)
        return nvb_errf_errno(err, NVB_EXIT_IO, errno, "%s: cannot stat", path);
    if (!S_ISREG(st.st_mode))
        return nvb_errf(err, NVB_EXIT_HOST_DATA, "%s: not a regular file", path);
    if (st.st_size == 0)   /* mmap of 0 bytes fails; let the parser say what is wrong */
        return nvb_ldcache_parse(c, "", 0, path, err);
    if (st.st_size > NVB_LDCACHE_MAX_SIZE) /* not mapped at all: the parser would refuse it */
        return nvb_errf(err, NVB_EXIT_HOST_DATA, "%s: %jd bytes is larger than an ld.so.cache can be (%d MiB)", path,
                        (intmax_t)st.st_size, NVB_LDCACHE_MAX_SIZE >> 20);
    size_t size = (size_t)st.st_size;
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED)
        return nvb_errf_errno(err, NVB_EXIT_IO, errno, "%s: cannot map", path);
    if (nvb_ldcache_parse(c, map, size, path, err) < 0) {
        munmap(map, size);
        return -1;
    }
    c->mapped = 1;
    return 0;
}

void nvb_ldcache_close(nvb_ldcache *c)
{
    if (c->mapped)
        munmap((void *)c->map, c->size);
    free(c->entries);
    *c = (nvb_ldcache){ 0 };
}

/* The words glibc's ldconfig (print_entry, glibc 2.36) prints for the type byte and the ABI
 * byte; it prints the LoongArch values 0x11 and 0x12 as numbers, like any it does not know. */
static const char *const type_words[] = { "libc4", "ELF", "libc5", "libc6" };
static const char *const abi_words[] = {
    [0x00] = "", [0x01] = ",64bit", [0x02] = ",IA-64", [0x03] = ",x86-64", [0x04] = ",64bit",
    [0x05] = ",64bit", [0x06] = ",N32", [0x07] = ",64bit", [0x08] = ",x32", [0x09] = ",hard-float",
    [0x0a] = ",AArch64", [0x0b] = ",soft-float", [0x0c] = ",nan2008", [0x0d] = ",N32,nan2008",
    [0x0e] = ",64bit,nan2008", [0x0f] = ",soft-float", [0x10] = ",double-float",
};
#define FLAG_TYPE_MASK 0x00ff
#define FLAG_REQUIRED_MASK 0xff00

const char *nvb_ldcache_flags_str(int32_t flags, char *buf, size_t len)
{
    unsigned type = (unsigned)flags & FLAG_TYPE_MASK, abi = ((unsigned)flags & FLAG_REQUIRED_MASK) >> 8;
    const char *t = type < sizeof type_words / sizeof *type_words ? type_words[type] : "unknown";
    if (abi < sizeof abi_words / sizeof *abi_words)
        snprintf(buf, len, "%s%s", t, abi_words[abi]);
    else
        snprintf(buf, len, "%s,%u", t, abi << 8);
    return buf;
}

/* Since glibc 2.36 ldconfig records no OS ABI tag (the field is unused) and prints none. */
const char *nvb_ldcache_entry_desc(const nvb_ldcache_entry *e, char *buf, size_t len)
{
    char flags[64];
    nvb_ldcache_flags_str(e->flags, flags, sizeof flags);
    if (e->hwcaps_subdir)
        snprintf(buf, len, "%s, hwcap: \"%s\"", flags, e->hwcaps_subdir);
    else if (e->hwcap)
        snprintf(buf, len, "%s, hwcap: %#.16" PRIx64, flags, e->hwcap);
    else
        snprintf(buf, len, "%s", flags);
    return buf;
}

int nvb_ldcache_is_x86_64(int32_t flags)
{
    return ((unsigned)flags & FLAG_REQUIRED_MASK) == 0x0300;
}

/* On an x86-64 host, i386 libraries carry no ABI byte: "libc6" (or "ELF" for the loader). */
int nvb_ldcache_is_i386(int32_t flags)
{
    unsigned type = (unsigned)flags & FLAG_TYPE_MASK;
    return ((unsigned)flags & FLAG_REQUIRED_MASK) == 0 && (type == 1 || type == 3);
}
