/* The fuzzer's bytes as a C string, for the parsers that read text: a malloc'd copy with a
 * NUL after it (free it), NULL when out of memory. Bytes with NULs inside stay as they are:
 * the parser then sees the text up to the first one, as it would from the file. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static inline char *fuzz_text(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (text) {
        memcpy(text, data, size);
        text[size] = '\0';
    }
    return text;
}
