#include "util/strv.h"
#include "util/grow.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int nvb_strv_push_take(nvb_strv *s, char *str)
{
    if (!str)
        return -1;
    /* Room for str and the NULL after it. */
    char **nv = nvb_grow(s->v, &s->cap, s->n + 1, sizeof *nv, 8);
    if (!nv) {
        free(str);
        return -1;
    }
    s->v = nv;
    s->v[s->n++] = str;
    s->v[s->n] = NULL;
    return 0;
}

int nvb_strv_push(nvb_strv *s, const char *str)
{
    return nvb_strv_push_take(s, strdup(str));
}

int nvb_strv_pushf(nvb_strv *s, const char *fmt, ...)
{
    char *str = NULL;
    va_list ap;
    va_start(ap, fmt);
    int r = vasprintf(&str, fmt, ap);
    va_end(ap);
    if (r < 0)
        return -1;
    return nvb_strv_push_take(s, str);
}

bool nvb_strv_contains(const nvb_strv *s, const char *str)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i], str) == 0)
            return true;
    return false;
}

void nvb_strv_free(nvb_strv *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    s->v = NULL;
    s->n = s->cap = 0;
}

bool nvb_startswith(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool nvb_endswith(const char *s, const char *suffix)
{
    size_t ls = strlen(s), lx = strlen(suffix);
    return ls >= lx && memcmp(s + ls - lx, suffix, lx) == 0;
}

char *nvb_path_join(const char *a, const char *b)
{
    size_t la = strlen(a);
    while (la > 0 && a[la - 1] == '/')
        la--;
    while (*b == '/')
        b++;
    char *out = NULL;
    if (asprintf(&out, "%.*s/%s", (int)la, a, b) < 0)
        return NULL;
    return out;
}
