/* Why (prefault.h): a command such as the shim's create touches a few hundred KiB of fresh
 * heap and stack once. Each first touch of a page is a page fault, a trap into the kernel
 * that then allocates and zeroes one page; one madvise(MADV_POPULATE_WRITE) over the range
 * does the same work in a single trap. Where traps are dear (virtual machines whose page
 * tables the hypervisor shadows) a fault costs several microseconds, so a hundred of them is
 * a large part of a command that otherwise runs in about a millisecond. */
#include "util/prefault.h"

#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

static void populate(uintptr_t lo, uintptr_t hi)
{
    long page = sysconf(_SC_PAGESIZE);
    lo &= ~(uintptr_t)(page - 1);
    if (hi > lo)
        (void)madvise((void *)lo, hi - lo, MADV_POPULATE_WRITE);
}

__attribute__((noinline)) void nvb_prefault(size_t heap_bytes, size_t stack_bytes)
{
    if (heap_bytes) {
        /* One block of heap_bytes, taken from brk's heap (the mmap threshold raised above it)
         * and handed back: the heap now reaches at least that far past what is in use, and
         * the top pad keeps it there when free() trims, and has each later growth come as
         * heap_bytes more. The block is what is populated, so this works whether or not the
         * process had allocated before (the static build's start does). */
        mallopt(M_TOP_PAD, (int)heap_bytes);
        mallopt(M_MMAP_THRESHOLD, (int)(heap_bytes + 4096));
        size_t size = heap_bytes - 64;
        char *block = malloc(size);
        uintptr_t at = (uintptr_t)block, end = (uintptr_t)sbrk(0);
        /* Only a block that brk's heap holds (end above it, within reach): malloc may have
         * used mmap, or be another allocator altogether (sanitizers). */
        if (block && end != (uintptr_t)-1 && end >= at + size && end - at <= 4 * heap_bytes)
            populate(at, at + size);
        free(block);
    }
    if (stack_bytes) {
        /* The kernel maps a new process's stack 128 KiB deep before any fault, so the pages
         * just below this frame are in it; a range outside it is refused, not mapped. */
        char here;
        uintptr_t top = (uintptr_t)&here;
        if (top > stack_bytes)
            populate(top - stack_bytes, top);
    }
}
