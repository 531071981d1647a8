/* Growing an array by doubling, the one rule every list here follows. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/* Make room for one more item after the `len` items of `items` (room for `*cap` items of
 * `elem` bytes each): when it is full, realloc it to twice its capacity (`first` items when
 * it has none). Returns the array to use, with *cap updated; NULL, with the array and *cap
 * untouched, when out of memory or the size would not fit in a size_t. Inline so that a
 * push that needs no room costs one comparison. */
static inline void *nvb_grow(void *items, size_t *cap, size_t len, size_t elem, size_t first)
{
    if (len < *cap)
        return items;
    size_t n = *cap ? *cap * 2 : first;
    void *q = n < SIZE_MAX / elem / 2 ? realloc(items, n * elem) : NULL;
    if (q)
        *cap = n;
    return q;
}
