/* libFuzzer target: the SONAME reader discovery runs on driver libraries must read any
 * bytes without crashing, and a SONAME it reports must be a string that ends in its buffer. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ldcache/elf_soname.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int fd = -1;
    if (fd < 0 && (fd = memfd_create("fuzz-elf", MFD_CLOEXEC)) < 0)
        abort();
    if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
        abort();
    char soname[64];
    memset(soname, 'x', sizeof soname);
    bool known;
    int cls = nvb_elf_soname(fd, soname, sizeof soname, &known);
    if (cls < 0 || cls > 2 || !memchr(soname, '\0', sizeof soname) || (known && !cls))
        abort();
    return 0;
}
