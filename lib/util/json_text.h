/* A jansson document as the text nvbind writes to files and terminals: json_dumps() output
 * ending in one newline. */
#pragma once
#include <jansson.h>

/* json_dumps(j, flags) followed by "\n"; malloc'd (free() it), NULL when out of memory or
 * when jansson cannot dump j with these flags. */
char *nvb_json_dump_line(const json_t *j, size_t flags);
