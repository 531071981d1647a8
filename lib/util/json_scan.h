/* Finding a member's value in JSON text without parsing it: a scan that follows strings and
 * nesting only (nothing decoded). For documents whose bulk nvbind never reads: the seccomp
 * profile in a container's config.json (runtime/oci_lean.h), the whole configuration in
 * runc's state.json (isolation/procid.c). jansson then parses the rest with an empty object
 * in the member's place. */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Where the value of the member path[0].path[1]... of the top-level object lies in text:
 * [*start, *end). False (nothing found) unless the text is a JSON object whose structure
 * the scan can follow, each object on the path holds the member exactly once, and no key
 * at those levels is spelled with an escape (jansson would decode "\u0073eccomp" to a name
 * the scan cannot compare). The value itself is not checked beyond its strings and nesting. */
bool nvb_json_member_extent(const char *text, size_t len, const char *const *path, size_t depth, size_t *start,
                            size_t *end);

/* text parsed by jansson with that member's value, when it is an object, replaced by {}:
 * the value's extent in *start, *end. NULL when the member is not found so, or when the rest
 * does not parse (the caller then parses the whole text, whose errors name true places). */
json_t *nvb_json_load_cut(const char *text, size_t len, const char *const *path, size_t depth, size_t *start,
                          size_t *end);
