/* Which container each GPU process belongs to (docs/monitoring.md, "How it collects"). */
#pragma once
#include <stddef.h>
#include "isolation/claims.h"
#include "metrics/collect.h"
#include "metrics/nvml_sample.h"

/* Sum the processes of gpus[n_gpus] per GPU and container into *uses (grown with nvb_grow:
 * *n_uses items, room for *cap_uses). A process belongs to a claimed container when its cgroup
 * (under proc_root, NULL = "/proc") is that of the container's init or below it; else to the
 * container its engine's cgroup names (nvb_cgroup_owner_parse); else to none (container "").
 * claims NULL: no claims known. */
void nvb_attribute(const char *proc_root, const nvb_claim_list *claims, const nvb_gpu_sample *gpus, size_t n_gpus,
                   nvb_container_use **uses, size_t *n_uses, size_t *cap_uses);
