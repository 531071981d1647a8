#include "util/json_scan.h"

#include <stdlib.h>
#include <string.h>

#define MAX_NEST 512 /* deeper values are left to jansson (which stops at 2048) */

static size_t skip_ws(const char *t, size_t len, size_t i)
{
    while (i < len && (t[i] == ' ' || t[i] == '\t' || t[i] == '\n' || t[i] == '\r'))
        i++;
    return i;
}

/* t[i] is '"': the index after the closing quote, or 0 when the string does not end.
 * *escaped: it holds a backslash. */
static size_t skip_string(const char *t, size_t len, size_t i, bool *escaped)
{
    for (i++; i < len; i++) {
        if (t[i] == '\\') {
            *escaped = true;
            i++;
        } else if (t[i] == '"') {
            return i + 1;
        }
    }
    return 0;
}

/* The index after the value starting at t[i], or 0 when its strings or nesting do not end
 * within the text. Scalars run to the next delimiter; jansson checks them. */
static size_t skip_value(const char *t, size_t len, size_t i)
{
    bool esc = false;
    if (i >= len)
        return 0;
    if (t[i] == '"')
        return skip_string(t, len, i, &esc);
    if (t[i] != '{' && t[i] != '[') {
        while (i < len && !strchr(",}] \t\r\n", t[i]))
            i++;
        return i;
    }
    char stack[MAX_NEST];
    size_t depth = 0;
    for (; i < len; i++) {
        char c = t[i];
        if (c == '"') {
            size_t e = skip_string(t, len, i, &esc);
            if (!e)
                return 0;
            i = e - 1;
        } else if (c == '{' || c == '[') {
            if (depth == MAX_NEST)
                return 0;
            stack[depth++] = c == '{' ? '}' : ']';
        } else if (c == '}' || c == ']') {
            if (depth == 0 || stack[--depth] != c)
                return 0;
            if (depth == 0)
                return i + 1;
        }
    }
    return 0;
}

/* In the object starting at t[i] ('{'), the value of member key: its extent in *vs, *ve.
 * False unless the object's members can be followed to its end, key appears once, and no
 * key is escaped. */
static bool find_member(const char *t, size_t len, size_t i, const char *key, size_t *vs, size_t *ve)
{
    size_t klen = strlen(key);
    bool found = false;
    i = skip_ws(t, len, i + 1);
    if (i < len && t[i] == '}')
        return false;
    for (;;) {
        if (i >= len || t[i] != '"')
            return false;
        bool esc = false;
        size_t ke = skip_string(t, len, i, &esc);
        if (!ke || esc)
            return false;
        bool match = ke - i - 2 == klen && memcmp(t + i + 1, key, klen) == 0;
        i = skip_ws(t, len, ke);
        if (i >= len || t[i] != ':')
            return false;
        i = skip_ws(t, len, i + 1);
        size_t e = skip_value(t, len, i);
        if (!e)
            return false;
        if (match) {
            if (found)
                return false; /* twice: jansson keeps the last, the scan does not guess */
            found = true;
            *vs = i;
            *ve = e;
        }
        i = skip_ws(t, len, e);
        if (i < len && t[i] == ',') {
            i = skip_ws(t, len, i + 1);
            continue;
        }
        return i < len && t[i] == '}' && found;
    }
}

bool nvb_json_member_extent(const char *text, size_t len, const char *const *path, size_t depth, size_t *start,
                            size_t *end)
{
    size_t i = skip_ws(text, len, 0);
    if (depth == 0 || i >= len || text[i] != '{')
        return false;
    size_t vs = 0, ve = 0;
    for (size_t d = 0; d < depth; d++) {
        if (text[i] != '{' || !find_member(text, len, i, path[d], &vs, &ve))
            return false;
        i = vs;
    }
    *start = vs;
    *end = ve;
    return true;
}

json_t *nvb_json_load_cut(const char *text, size_t len, const char *const *path, size_t depth, size_t *start,
                          size_t *end)
{
    size_t s, e;
    if (!nvb_json_member_extent(text, len, path, depth, &s, &e) || text[s] != '{')
        return NULL;
    size_t n = s + 2 + (len - e);
    char *cut = malloc(n);
    if (!cut)
        return NULL;
    memcpy(cut, text, s);
    memcpy(cut + s, "{}", 2);
    memcpy(cut + s + 2, text + e, len - e);
    json_t *doc = json_loadb(cut, n, 0, NULL);
    free(cut);
    if (!doc)
        return NULL;
    *start = s;
    *end = e;
    return doc;
}
