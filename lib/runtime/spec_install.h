/* nvbind's own CDI spec where the engines read it ([cdi] output_dir, /var/run/cdi by
 * default), written only when it is missing or stale. */
#pragma once
#include <stdbool.h>

#include "host/host.h"
#include "policy/edits.h"
#include "util/error.h"

typedef struct nvb_spec_install_opts {
    const char *dir;            /* NULL = /var/run/cdi; created (0755) when missing */
    const char *kind;           /* NULL = nvidia.com/gpu */
    unsigned naming;            /* enum nvb_naming bits; index naming is always added (run uses it) */
    const char *hook_path;      /* absolute path of the nvbind binary the hooks run */
    const nvb_edits *extra;     /* spec-wide extra edits (the Bolt capsule environment) */
} nvb_spec_install_opts;

/* mkdir -p for a spec folder (/var/run/cdi does not exist until someone makes it): missing
 * folders 0755; an error when a part exists and is not a folder. 0 or -1 with err set. */
int nvb_spec_dir_make(const char *dir, nvb_err *err);

enum nvb_spec_install_result {
    NVB_SPEC_FRESH = 0,         /* the file already held exactly this spec: nothing written */
    NVB_SPEC_REFRESHED = 1,     /* a stale file was replaced */
    NVB_SPEC_CREATED = 2,       /* there was no file */
};

/* Generate the spec for host h and compare it with the file in dir (the conventional name,
 * nvidia.com-gpu.json). The file is stale when its bytes differ from what generation gives
 * now: every change `nvbind cdi check` reports (driver version, device majors/minors, GPUs
 * added or removed, files gone, hook binary moved) changes the generated text, and so does
 * a spec from another tool or another host root. Only then is it written, atomically (mode 0644).
 * *path (when non-NULL) receives the file's malloc'd path. Returns an enum
 * nvb_spec_install_result, or -1 with err set (nothing changed). */
int nvb_spec_install(const nvb_host *h, const nvb_spec_install_opts *o, char **path, nvb_err *err);

/* The spec text nvb_spec_install writes (for tests and --dry-run callers). */
char *nvb_spec_render(const nvb_host *h, const nvb_spec_install_opts *o, nvb_err *err);
