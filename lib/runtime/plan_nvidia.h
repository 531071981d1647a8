/* NVIDIA's request variables (policy/nvidia_env.h) applied to a GPU plan: the one step the
 * shim (config.json's process.env) and `nvbind run --env` share. */
#pragma once
#include "policy/nvidia_env.h"
#include "runtime/compose.h"
#include "runtime/select.h"

/* With a non-empty selection: check e's NVIDIA_REQUIRE_* against h and the selected GPUs (a
 * MIG device counts as its parent), then narrow plan's driver capabilities to
 * NVIDIA_DRIVER_CAPABILITIES (rebuilding plan->shared with hook_path), never widening them.
 * Errors as nvb_nvidia_require_check says; memory (NVB_EXIT_IO). */
int nvb_gpu_plan_nvidia_env(nvb_gpu_plan *plan, const nvb_nvidia_env *e, const nvb_host *h, const nvb_selection *sel,
                            const char *hook_path, nvb_err *err);
