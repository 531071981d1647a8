/* Workload profiles: a profile name plus the configuration (nvbind.toml) plus the host
 * become the driver capabilities a container gets and the extra edits (environment,
 * device nodes, mounts) added to what every GPU container needs. docs/profiles.md says,
 * for every variable set here, which software reads it. */
#pragma once
#include <stdbool.h>
#include "config/config.h"
#include "host/host.h"
#include "policy/edits.h"

/* The profiles one may ask for: default, gaming, aiml, then the configuration's custom
 * ones in file order. */
int nvb_profile_names(const nvb_config *cfg, nvb_strv *out);

/* Resolve a profile.
 *   *caps:     enum nvb_cap bits of driver files to mount;
 *   extra:     environment (and a custom profile's device nodes and mounts) appended;
 *   *workload: "gaming", "ai-ml", or NULL (default and custom profiles): the Bolt
 *              workload type (BOLT_WORKLOAD_TYPE). workload may be NULL.
 * name NULL means no profile: every capability, and only [runtime.environment].
 * Variables, later ones winning: the profile's own, then [runtime.environment], then a
 * custom profile's env.
 * Errors: an unknown name is NVB_EXIT_USAGE listing the valid names; a custom profile's
 * device node or mount source missing under the host root is NVB_EXIT_CONFIG. */
int nvb_profile_resolve(const nvb_config *cfg, const nvb_host *h, const char *name, unsigned *caps,
                        nvb_edits *extra, const char **workload, nvb_err *err);

/* The aiml profile with [bolt.aiml] mig_enabled = true: GPU selection (issue 6) should
 * prefer MIG devices. False for every other profile. */
bool nvb_profile_prefers_mig(const nvb_config *cfg, const char *name);

/* The environment the nvidia.com/gpu-bolt spec kind carries for Bolt: BOLT_GPU_ENABLED=1,
 * BOLT_GPU_ISOLATION, BOLT_GPU_SNAPSHOT=1 (snapshot_gpu_state), BOLT_QUIC_ACCELERATION=1,
 * BOLT_GPU_MEMORY_LIMIT (bytes) and BOLT_GPU_COMPUTE_LIMIT (percent) for virtual
 * isolation, BOLT_WORKLOAD_TYPE=workload when given, and for gaming BOLT_GPU_POWER_PROFILE
 * and BOLT_GPU_VRS=1. These are nvbind's interface to Bolt; no other software reads them. */
int nvb_bolt_capsule_edits(const nvb_config *cfg, const char *workload, nvb_edits *e);

/* Discovery options from the command line, [host] filling what it left unset: root when
 * the command line's is NULL or "/", driver_root when NULL, and the configuration's
 * library folders after the command line's. libs is storage for the merged list (free it
 * with nvb_strv_free after discovery); o's other fields are left as they are. */
int nvb_config_discover_opts(const nvb_config *cfg, const char *root, const char *driver_root,
                             const nvb_strv *cli_libs, nvb_strv *libs, nvb_discover_opts *o);
