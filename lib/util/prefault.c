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
        /* Blocks below the mmap threshold (so brk's heap serves them, and glibc keeps
         * adjusting that threshold for later, larger blocks) until they span heap_bytes;
         * then their span is populated and they are handed back. The top pad keeps the heap
         * that long when free() trims, and has each later growth come as heap_bytes more.
         * The span is what is populated, so this works whether or not the process had
         * allocated before (the static build's start does). */
        enum { PIECE = 64 << 10, BLOCK = PIECE - 64, MAX_PIECES = 64 };
        mallopt(M_TOP_PAD, (int)heap_bytes);
        void *pieces[MAX_PIECES];
        size_t n = 0;
        uintptr_t lo = UINTPTR_MAX, hi = 0;
        while (n < MAX_PIECES && (n == 0 || hi - lo + PIECE / 2 < heap_bytes)) {
            char *p = malloc(BLOCK);
            if (!p)
                break;
            pieces[n++] = p;
            lo = (uintptr_t)p < lo ? (uintptr_t)p : lo;
            hi = (uintptr_t)p + BLOCK > hi ? (uintptr_t)p + BLOCK : hi;
        }
        uintptr_t end = (uintptr_t)sbrk(0);
        /* Only blocks that brk's heap holds, together (below its end, within reach of each
         * other): malloc may be another allocator altogether (sanitizers). */
        if (n && end != (uintptr_t)-1 && end >= hi && hi - lo <= heap_bytes + 2 * PIECE)
            populate(lo, hi);
        /* In allocation order: each block merges with the one before, and only the last,
         * next to the top, gives the heap back down to the pad (one brk, not one a block). */
        for (size_t i = 0; i < n; i++)
            free(pieces[i]);
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
