/* DT_SONAME of a shared library; see elf_soname.h. Both classes are read into one shape. */
#include "ldcache/elf_soname.h"
#include "util/fileio.h"

#include <elf.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum { MAX_PHNUM = 4096, MAX_DYNAMIC = 1 << 20 };

struct elf {
    int fd;
    uint64_t size;
    bool is64;
};

/* len bytes at off, all inside the file. */
static bool rd(const struct elf *e, void *buf, size_t len, uint64_t off)
{
    return off <= e->size && len <= e->size - off && nvb_pread_full(e->fd, buf, len, (off_t)off) == 0;
}

struct seg {
    uint32_t type;
    uint64_t offset, vaddr, filesz;
};

static struct seg phdr_at(const struct elf *e, const unsigned char *p)
{
    struct seg s;
    if (e->is64) {
        Elf64_Phdr h;
        memcpy(&h, p, sizeof h);
        s = (struct seg){ h.p_type, h.p_offset, h.p_vaddr, h.p_filesz };
    } else {
        Elf32_Phdr h;
        memcpy(&h, p, sizeof h);
        s = (struct seg){ h.p_type, h.p_offset, h.p_vaddr, h.p_filesz };
    }
    return s;
}

/* The file offset of virtual address va through the PT_LOAD segments; false when none
 * holds it. */
static bool va_to_offset(const struct elf *e, const unsigned char *ph, size_t phnum, size_t phsize, uint64_t va,
                         uint64_t *off)
{
    for (size_t i = 0; i < phnum; i++) {
        struct seg s = phdr_at(e, ph + i * phsize);
        if (s.type == PT_LOAD && va >= s.vaddr && va - s.vaddr < s.filesz && s.offset <= e->size &&
            va - s.vaddr <= e->size - s.offset) {
            *off = s.offset + (va - s.vaddr);
            return true;
        }
    }
    return false;
}

/* DT_STRTAB and DT_SONAME of the dynamic section at seg; false when it cannot be read. */
static bool dynamic_tags(const struct elf *e, const struct seg *dyn, uint64_t *strtab, uint64_t *soname,
                         bool *has_soname)
{
    if (dyn->filesz > MAX_DYNAMIC)
        return false;
    size_t entsize = e->is64 ? sizeof(Elf64_Dyn) : sizeof(Elf32_Dyn), n = (size_t)dyn->filesz / entsize;
    unsigned char *buf = malloc(n * entsize + 1);
    if (!buf || !rd(e, buf, n * entsize, dyn->offset)) {
        free(buf);
        return false;
    }
    bool has_strtab = false;
    for (size_t i = 0; i < n; i++) {
        int64_t tag;
        uint64_t val;
        if (e->is64) {
            Elf64_Dyn d;
            memcpy(&d, buf + i * entsize, sizeof d);
            tag = d.d_tag, val = d.d_un.d_val;
        } else {
            Elf32_Dyn d;
            memcpy(&d, buf + i * entsize, sizeof d);
            tag = d.d_tag, val = d.d_un.d_val;
        }
        if (tag == DT_NULL)
            break;
        if (tag == DT_STRTAB)
            *strtab = val, has_strtab = true;
        else if (tag == DT_SONAME)
            *soname = val, *has_soname = true;
    }
    free(buf);
    return has_strtab || !*has_soname;
}

/* The SONAME as the header describes; false when anything about it cannot be read. */
static bool read_soname(struct elf *e, char *soname, size_t len)
{
    uint64_t phoff;
    size_t phnum, phsize;
    uint16_t type;
    if (e->is64) {
        Elf64_Ehdr h;
        if (!rd(e, &h, sizeof h, 0))
            return false;
        type = h.e_type, phoff = h.e_phoff, phnum = h.e_phnum, phsize = h.e_phentsize;
    } else {
        Elf32_Ehdr h;
        if (!rd(e, &h, sizeof h, 0))
            return false;
        type = h.e_type, phoff = h.e_phoff, phnum = h.e_phnum, phsize = h.e_phentsize;
    }
    if (type != ET_DYN || phsize != (e->is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr)) || phnum == 0 ||
        phnum > MAX_PHNUM)
        return false;
    unsigned char *ph = malloc(phnum * phsize);
    if (!ph || !rd(e, ph, phnum * phsize, phoff)) {
        free(ph);
        return false;
    }
    bool ok = false, has_soname = false;
    uint64_t strtab = 0, name = 0, at = 0;
    for (size_t i = 0; i < phnum; i++) {
        struct seg s = phdr_at(e, ph + i * phsize);
        if (s.type == PT_DYNAMIC) {
            ok = dynamic_tags(e, &s, &strtab, &name, &has_soname);
            break;
        }
    }
    if (ok && has_soname) {
        /* The name, up to len - 1 bytes of it, must end inside the file. */
        size_t want = len;
        ok = va_to_offset(e, ph, phnum, phsize, strtab, &at) && name <= e->size - at;
        if (ok) {
            at += name;
            if (want > e->size - at)
                want = (size_t)(e->size - at);
            ok = want && rd(e, soname, want, at) && memchr(soname, '\0', want);
        }
    } else if (ok) {
        soname[0] = '\0';
    }
    free(ph);
    return ok;
}

int nvb_elf_soname(int fd, char *soname, size_t len, bool *known)
{
    *known = false;
    if (len)
        soname[0] = '\0';
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
        return 0;
    struct elf e = { .fd = fd, .size = (uint64_t)st.st_size };
    unsigned char ident[EI_NIDENT];
    if (!rd(&e, ident, sizeof ident, 0) || memcmp(ident, ELFMAG, SELFMAG) ||
        (ident[EI_CLASS] != ELFCLASS32 && ident[EI_CLASS] != ELFCLASS64))
        return 0;
    e.is64 = ident[EI_CLASS] == ELFCLASS64;
    if (len && e.size <= NVB_ELF_MAX_SIZE &&
        ident[EI_DATA] == (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? ELFDATA2LSB : ELFDATA2MSB))
        *known = read_soname(&e, soname, len);
    if (!*known && len)
        soname[0] = '\0';
    return ident[EI_CLASS];
}
