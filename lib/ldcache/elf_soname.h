/* A shared library's ELF class and the name ldconfig files it under, read from the file as
 * ldconfig reads it: DT_SONAME from the dynamic section, or the file's own name when the
 * library has none (NVIDIA's libnvidia-vulkan-producer). */
#pragma once
#include <stdbool.h>
#include <stddef.h>

/* The largest library file looked into: the program headers, dynamic section and string
 * must lie within it. NVIDIA's largest library is about 200 MiB. */
#define NVB_ELF_MAX_SIZE ((size_t)1 << 31)

/* From the open file fd: its ELF class (1: 32-bit, 2: 64-bit) as the return value, 0 when
 * it does not start like an ELF file of either class. *known tells whether soname holds the
 * name ldconfig files the library under: its DT_SONAME, or "" when it has none; false when
 * the file is not a shared object of this machine's byte order, its headers are damaged or
 * reach out of the file, or the name does not fit in len bytes (then the caller knows the
 * class alone, as from the first bytes); len 0 asks for the class alone. Every offset is
 * checked; nothing is mapped. */
int nvb_elf_soname(int fd, char *soname, size_t len, bool *known);
