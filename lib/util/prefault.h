/* Taking a short-lived process's memory in one step rather than one page fault at a time. */
#pragma once
#include <stddef.h>

/* Makes the first heap_bytes of the heap and stack_bytes of the stack below the caller's
 * frame present now, each in one madvise(MADV_POPULATE_WRITE), and has malloc grow the heap
 * by at least heap_bytes at a time. Best effort: a kernel without MADV_POPULATE_WRITE
 * (before 5.14), a heap not where brk is, or a stack smaller than asked leaves the pages to
 * fault in as they are touched. */
void nvb_prefault(size_t heap_bytes, size_t stack_bytes);
