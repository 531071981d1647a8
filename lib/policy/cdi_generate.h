/* Build a CDI spec (jansson object in the CDI layout) from the host model. */
#pragma once
#include <jansson.h>
#include "host/host.h"
#include "policy/edits.h"

enum nvb_naming {
    NVB_NAMING_INDEX = 1u << 0,       /* "0" */
    NVB_NAMING_UUID = 1u << 1,        /* "GPU-..." */
    NVB_NAMING_TYPE_INDEX = 1u << 2,  /* "gpu0" */
};

/* "index,uuid" -> bits. Unknown names are a usage error naming the bad entry. */
int nvb_naming_parse(const char *list, unsigned *out, nvb_err *err);

typedef struct nvb_cdi_gen_opts {
    const char *kind;          /* NULL = "nvidia.com/gpu" */
    unsigned naming;           /* 0 = index|uuid */
    unsigned caps;             /* driver capabilities to mount, 0 = all */
    const char *hook_path;     /* absolute path of the nvbind binary the hooks run */
    const nvb_edits *extra;    /* profile / capsule edits added to the spec-wide edits */
} nvb_cdi_gen_opts;

json_t *nvb_cdi_generate(const nvb_host *h, const nvb_cdi_gen_opts *o, nvb_err *err);

/* The same spec as JSON text, exactly what nvb_cdi_to_json(nvb_cdi_generate(h, o)) prints
 * (keys, order, layout, cdiVersion), written straight from the host model without the
 * jansson tree: the fast path for `cdi generate`'s JSON output. The length (without the
 * NUL) in *len when len is not NULL. NULL with err set on failure. */
char *nvb_cdi_generate_json(const nvb_host *h, const nvb_cdi_gen_opts *o, size_t *len, nvb_err *err);

/* The conventional file name for a kind: "nvidia.com/gpu" -> "nvidia.com-gpu.json". */
char *nvb_cdi_spec_file_name(const char *kind, bool yaml);
