/* A shared library's ELF class and the name ldconfig files it under, read from the file as
 * ldconfig reads it: DT_SONAME from the dynamic section, or the file's own name when the
 * library has none (NVIDIA's libnvidia-vulkan-producer). */
#pragma once
#include <stddef.h>

/* The largest library file looked into: the program headers, dynamic section and string
 * must lie within it. NVIDIA's largest library is about 200 MiB. */
#define NVB_ELF_MAX_SIZE ((size_t)1 << 31)

/* From the open file fd: its ELF class (1: 32-bit, 2: 64-bit) as the return value and its
 * DT_SONAME copied to soname (an empty string when it has none); 0 when fd is not an ELF
 * shared object of this machine's byte order, or its headers are damaged or out of the
 * file's bounds (then nothing is known about it). Every offset is checked; nothing is
 * mapped. */
int nvb_elf_soname(int fd, char *soname, size_t len);
