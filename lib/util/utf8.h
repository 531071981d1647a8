/* Decoding one UTF-8 sequence, the one check every reader and writer of text here shares. */
#pragma once
#include <stddef.h>
#include <stdint.h>

/* Length of the well-formed UTF-8 sequence at p[0..n) (n >= 1) and its code point in *cp;
 * 0 when it is not one, as RFC 3629 defines: a bad lead byte, a missing continuation byte,
 * an overlong form, a surrogate, or a code point beyond U+10FFFF. Inline because the JSON
 * and YAML writers call it on their per-byte paths. */
static inline size_t nvb_utf8_decode(const unsigned char *p, size_t n, uint32_t *cp)
{
    uint32_t c = p[0], min;
    size_t len;
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if ((c & 0xe0) == 0xc0)
        len = 2, c &= 0x1f, min = 0x80;
    else if ((c & 0xf0) == 0xe0)
        len = 3, c &= 0x0f, min = 0x800;
    else if ((c & 0xf8) == 0xf0)
        len = 4, c &= 0x07, min = 0x10000;
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (p[i] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return len;
}
