/* A jansson document as the text nvbind writes to files and terminals: json_dumps() output
 * ending in one newline. */
#pragma once
#include <jansson.h>
#include <stdbool.h>

#include "util/jsonw.h"

/* json_dumps(j, flags) followed by "\n"; malloc'd (free() it), NULL when out of memory or
 * when jansson cannot dump j with these flags. The text is jansson's byte for byte; the
 * layouts nvbind uses (JSON_COMPACT, or JSON_INDENT(n) without it) are written by nvb_jsonw
 * instead, several times faster than jansson's dumper (a container's config.json is written
 * on every GPU start: docs/runtime.md). */
char *nvb_json_dump_line(const json_t *j, size_t flags);

/* Write the tree j through w as its values. False when j holds what nvb_jsonw cannot write
 * exactly as jansson would (a real number): w then holds part of the tree, to be thrown
 * away. w may also have failed (out of memory, deeper than NVB_JSONW_MAX_DEPTH). */
bool nvb_jsonw_tree(nvb_jsonw *w, const json_t *j);

/* The tree j written by nvb_jsonw (indent 0: compact) and a newline, with the JSON text
 * raw[0..raw_len) written as it is where the tree holds the node stand_in (compared by
 * address; NULL for none): a part of a document kept as text while the rest was parsed
 * (runtime/oci_lean.h). NULL when nvb_jsonw cannot write the tree exactly as jansson would
 * (see nvb_jsonw_tree, and strings not valid UTF-8) or memory runs out: the caller then asks
 * jansson. */
char *nvb_jsonw_text(const json_t *j, unsigned indent, const json_t *stand_in, const char *raw, size_t raw_len);
