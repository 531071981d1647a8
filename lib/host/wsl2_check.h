/* The WSL2 checks (`nvbind wsl2 check`, doctor on a WSL2 host). */
#pragma once
#include "host/doctor.h"

/* Append to d what the WSL2 guest under root has and lacks, each finding with its fix. h is
 * the discovered host (its GPUs and driver version) or NULL when discovery failed. */
void nvb_wsl2_checks(nvb_doctor *d, const char *root, const nvb_host *h);

/* `nvbind wsl2 check`: the WSL2 checks on the host opts names, after a discovery when it is
 * a WSL2 guest (for its GPUs). wsl2_mode, ready (no error), gpu_count and driver_version are
 * set; no engine is probed. NULL only when out of memory. */
nvb_doctor *nvb_wsl2_check_run(const nvb_discover_opts *opts);
/* {"wsl2", "ready", "gpu_count", "driver_version", "checks": [{name, level, message, fix}]} */
json_t *nvb_wsl2_check_to_json(const nvb_doctor *d);
