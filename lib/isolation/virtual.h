/* `virtual` isolation: memory and compute limits through CUDA MPS, or a MIG device in place
 * of a whole GPU. Pure functions of the host model and the options, plus one stat() of the
 * MPS control pipe. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "host/host.h"
#include "policy/edits.h"

#define NVB_MPS_PIPE_DIR "/tmp/nvidia-mps"     /* CUDA_MPS_PIPE_DIRECTORY's default */
#define NVB_MPS_LOG_DIR "/var/log/nvidia-mps"  /* CUDA_MPS_LOG_DIRECTORY's default */

typedef struct nvb_virtual_opts {
    uint64_t memory_limit;      /* bytes per device, [bolt.capsule] gpu_memory_limit; 0 = none */
    unsigned compute_percent;   /* 1-100, [bolt.capsule] compute_limit_percent; 0 = none */
    bool mig_enabled;           /* [bolt.aiml] mig_enabled: hand out MIG devices when there are any */
    const char *mps_pipe_dir;   /* path as nvbind sees it; NULL = the host's /tmp/nvidia-mps */
    const char *mps_log_dir;    /* path as nvbind sees it; NULL = the host's /var/log/nvidia-mps */
    bool allow_without_mps;     /* limits but no MPS daemon: a warning instead of an error */
} nvb_virtual_opts;

/* CUDA_MPS_PINNED_DEVICE_MEM_LIMIT's value for n_devices devices, numbered as the container
 * sees them (0..n-1): "0=8G,1=8G"; sizes in whole GiB ("G") when exact, else MiB ("M",
 * rounded down, at least 1M). Returns 0, or -1 when buf is too small or n_devices is 0. */
int nvb_mps_mem_limit_value(uint64_t bytes, size_t n_devices, char *buf, size_t len);

/* The host path of the MPS pipe folder: opts->mps_pipe_dir, else the /tmp/nvidia-mps that
 * discovery found, else <host root>/tmp/nvidia-mps (h may be NULL: root "/"). malloc'd. */
char *nvb_mps_pipe_dir(const nvb_host *h, const nvb_virtual_opts *o);

/* An MPS control daemon listens: <pipe_dir>/control exists and is a socket or a FIFO. */
bool nvb_mps_running(const char *pipe_dir);

/* The MPS part of `virtual` for n_devices devices in the container: the limit variables,
 * CUDA_MPS_PIPE_DIRECTORY / CUDA_MPS_LOG_DIRECTORY and the mounts of both folders (pipe
 * folder writable, log folder read-only; the log folder only when it exists). Without an
 * MPS daemon: limits requested -> NVB_EXIT_FAIL naming the fix (unless allow_without_mps,
 * then a warning and no MPS edits); no limits -> a warning and no edits (plain sharing).
 * warnings may be NULL. */
int nvb_virtual_mps_edits(const nvb_host *h, const nvb_virtual_opts *o, size_t n_devices, nvb_edits *out,
                          nvb_strv *warnings, nvb_err *err);

/* MIG devices of g that may serve a `virtual` capsule, in NVML's order: all of them when
 * MIG is enabled on g, except those known to have less memory than o->memory_limit.
 * Fills out[0..max) and returns how many there are (0 when mig_enabled is off, the GPU
 * has MIG disabled or unknown, or NVML did not report MIG devices). */
size_t nvb_virtual_mig_candidates(const nvb_gpu *g, const nvb_virtual_opts *o, const nvb_mig_device **out, size_t max);
