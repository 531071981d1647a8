/* From a device selection and a profile to what the container gets: the one place that
 * decides the edits, shared by `nvbind run` (every runtime), the shim and the C API. */
#pragma once
#include "config/config.h"
#include "host/host.h"
#include "policy/edits.h"
#include "runtime/select.h"
#include "util/error.h"
#include "util/strv.h"

typedef struct nvb_gpu_plan {
    unsigned caps;            /* driver capabilities the profile mounts (enum nvb_cap bits) */
    const char *workload;     /* "gaming", "ai-ml" or NULL (policy/profiles.h): Bolt's BOLT_WORKLOAD_TYPE */
    nvb_edits devices;        /* the selected devices' nodes */
    nvb_edits shared;         /* control nodes, driver files, nvbind's hooks, NVIDIA_VISIBLE_DEVICES=void */
    nvb_edits extra;          /* the profile's own device nodes and mounts (its env is in env) */
    nvb_strv env;             /* container env: the profile's and [runtime.environment] (nvb_profile_resolve's order) */
} nvb_gpu_plan;

/* Resolve profile (NULL = "default") and build the plan. With an empty selection ("none")
 * the container gets no device and no driver file, only env and the profile's extras; h may
 * then be NULL. hook_path is the nvbind binary the hooks run. Errors: unknown profile
 * (NVB_EXIT_USAGE), memory. */
int nvb_gpu_plan_build(nvb_gpu_plan *p, const nvb_config *cfg, const nvb_host *h, const nvb_selection *sel,
                       const char *profile, const char *hook_path, nvb_err *err);
/* Everything at once, for runtimes that take explicit edits (runc, crun, the shim, docker's
 * legacy form): devices, shared, extra, then env. */
int nvb_gpu_plan_all_edits(const nvb_gpu_plan *p, nvb_edits *out);
void nvb_gpu_plan_clear(nvb_gpu_plan *p);
