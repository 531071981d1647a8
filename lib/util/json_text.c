#include "util/json_text.h"

#include <stdlib.h>
#include <string.h>

char *nvb_json_dump_line(const json_t *j, size_t flags)
{
    char *s = json_dumps(j, flags);
    if (!s)
        return NULL;
    size_t n = strlen(s);
    char *t = realloc(s, n + 2);
    if (!t) {
        free(s);
        return NULL;
    }
    t[n] = '\n';
    t[n + 1] = '\0';
    return t;
}
