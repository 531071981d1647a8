/* What one Bolt capsule gets beyond the devices, kept with that capsule alone. The shared
 * nvidia.com/gpu-bolt spec holds only what every capsule shares (the devices and the driver's
 * files): a capsule's variables (Bolt's BOLT_* for its isolation and workload, its profile's
 * env) go on its own bolt command line, and its own files (a custom profile's mounts, MPS
 * folders) in a spec of its own declaring one device, "capsule-NAME", that only its command
 * line names. Concurrent capsules with different settings never read each other's. */
#pragma once
#include <stdbool.h>
#include "config/config.h"
#include "policy/edits.h"
#include "util/error.h"
#include "util/strv.h"

typedef struct nvb_capsule {
    nvb_strv env;        /* the capsule's env for bolt's --env: Bolt's variables, then the plan's */
    char *spec_path;     /* the capsule's own spec, NULL when it has no files of its own */
} nvb_capsule;

/* Fill c for capsule `name` (a valid CDI device name suffix): cfg->capsule (its isolation
 * level as this run has it) and workload give Bolt's variables, plan_env the rest of the env;
 * files' nodes, mounts and hooks, when it has any, go into dir/<kind file>_NAME.json (written
 * only when write is true: a dry run names it without writing) and its qualified device name
 * is appended to names. */
int nvb_capsule_prepare(nvb_capsule *c, const nvb_config *cfg, const char *workload, const nvb_strv *plan_env,
                        const nvb_edits *files, const char *kind, const char *name, const char *dir, bool write,
                        nvb_strv *names, nvb_err *err);
/* Remove the capsule's own spec (it ended) and free c. */
void nvb_capsule_finish(nvb_capsule *c);
