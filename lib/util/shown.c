#include "util/shown.h"
#include "util/utf8.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The length of the printable character at p[0..n), 0 when it must be escaped. */
static size_t printable(const unsigned char *p, size_t n)
{
    uint32_t cp;
    size_t len = nvb_utf8_decode(p, n, &cp);
    if (!len || cp < 0x20 || (cp >= 0x7f && cp < 0xa0))
        return 0;
    return len;
}

bool nvb_shown_plain(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    for (size_t i = 0, len; i < n; i += len)
        if (!(len = printable(p + i, n - i)))
            return false;
    return true;
}

size_t nvb_shown_into(char *dst, size_t size, const char *src)
{
    const unsigned char *p = (const unsigned char *)src;
    size_t n = strlen(src), o = 0;
    for (size_t i = 0; i < n;) {
        size_t len = printable(p + i, n - i);
        if (len) {
            if (o + len >= size)
                break;
            memcpy(dst + o, p + i, len);
            o += len;
            i += len;
        } else {
            if (o + 4 >= size)
                break;
            snprintf(dst + o, 5, "\\x%02x", p[i]);
            o += 4;
            i++;
        }
    }
    dst[o] = '\0';
    return o;
}

char *nvb_shown(const char *s)
{
    size_t size = 4 * strlen(s) + 1; /* every byte at most four: \xNN */
    char *out = malloc(size);
    if (out)
        nvb_shown_into(out, size, s);
    return out;
}

char *nvb_shown_vasprintf(const char *fmt, va_list ap)
{
    char *line = NULL;
    if (vasprintf(&line, fmt, ap) < 0)
        return NULL;
    char *shown = nvb_shown(line);
    free(line);
    return shown;
}
