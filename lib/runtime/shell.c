#include "runtime/shell.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static bool shell_literal(const char *s)
{
    if (!*s)
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("%+,-./:=@_", c);
        if (!ok)
            return false;
    }
    return true;
}

char *nvb_shell_quote(const char *s)
{
    if (shell_literal(s))
        return strdup(s);
    size_t quotes = 0, len = strlen(s);
    for (const char *p = s; *p; p++)
        quotes += *p == '\'';
    /* 'x' plus three extra bytes ('\'' replaces ') per quote, plus NUL. */
    char *out = malloc(len + 3 * quotes + 3);
    if (!out)
        return NULL;
    char *o = out;
    *o++ = '\'';
    for (const char *p = s; *p; p++) {
        if (*p == '\'') {
            memcpy(o, "'\\''", 4);
            o += 4;
        } else {
            *o++ = *p;
        }
    }
    *o++ = '\'';
    *o = '\0';
    return out;
}

char *nvb_shell_join(char *const *argv, size_t n)
{
    size_t cap = 64, len = 0;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        char *q = nvb_shell_quote(argv[i]);
        if (!q) {
            free(out);
            return NULL;
        }
        size_t ql = strlen(q);
        if (len + ql + 2 > cap) {
            while (len + ql + 2 > cap)
                cap *= 2;
            char *nv = realloc(out, cap);
            if (!nv) {
                free(q);
                free(out);
                return NULL;
            }
            out = nv;
        }
        if (i)
            out[len++] = ' ';
        memcpy(out + len, q, ql + 1);
        len += ql;
        free(q);
    }
    return out;
}
