/* A config.json parsed without its seccomp profile. Engines put their whole profile in
 * linux.seccomp (podman's: about 12 KB, three quarters of the document; docker's: 9 KB).
 * The shim never reads or changes it, yet jansson would build a node for every syscall
 * name, and that parse was the largest share of a GPU create's instructions. So the
 * profile's extent is found by a structural scan (strings and nesting only, nothing
 * decoded), jansson parses the rest with an empty object in its place, and the dump writes
 * the profile's original bytes back where that object is. */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "util/error.h"

typedef struct nvb_oci_lean {
    json_t *config;          /* the parsed document (new reference), NULL on error */
    const json_t *stand_in;  /* linux.seccomp's stand-in in config, NULL when not cut */
    const char *raw;         /* the profile's bytes in the caller's text */
    size_t raw_len;
} nvb_oci_lean;

/* nvb_oci_config_parse, with linux.seccomp (an object) left as text in the caller's buffer,
 * which must outlive the dump. Errors are those of nvb_oci_config_parse on the whole text.
 * 0, or -1 with err set. */
int nvb_oci_config_parse_lean(const char *text, size_t len, const char *name, nvb_oci_lean *out, nvb_err *err);

/* nvb_oci_config_dump of out->config, the profile's own bytes in its stand-in's place. */
char *nvb_oci_config_dump_lean(const nvb_oci_lean *l);
