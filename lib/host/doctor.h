/* Is this host ready for GPU containers, and what exactly must be fixed if not.
 * Backs `nvbind doctor` and the C API's compatibility check. */
#pragma once
#include <jansson.h>
#include "host/host.h"

enum nvb_check_level { NVB_CHECK_OK, NVB_CHECK_INFO, NVB_CHECK_WARNING, NVB_CHECK_ERROR };

typedef struct nvb_check {
    char *name;      /* short id, e.g. "device-node:/dev/nvidia-uvm" */
    enum nvb_check_level level;
    char *message;   /* what was found */
    char *fix;       /* what to do, NULL when nothing */
} nvb_check;

typedef struct nvb_engine {
    char *name, *path, *version;  /* path/version NULL when not installed */
} nvb_engine;

typedef struct nvb_doctor {
    bool gpus_available, nvidia_open_driver, wsl2_mode, bolt_optimizations_available, ready;
    bool mps_running;
    unsigned gpu_count;     /* NVIDIA GPUs */
    unsigned drm_gpu_count; /* other vendors' GPUs (gpus_available counts them too) */
    char *driver_version;   /* NULL when no driver */
    nvb_check *checks;
    size_t n_checks;
    nvb_engine engines[5];  /* podman, docker, bolt, runc, crun */
} nvb_doctor;

/* Never fails for host problems: they become checks. NULL only when out of memory. */
nvb_doctor *nvb_doctor_run(const nvb_discover_opts *opts, bool probe_engines);
/* The same, and the hook binary that specs will name (NULL: none) must be one nobody but
 * root and the caller could have replaced (util/trust.h): root runs it in every container. */
nvb_doctor *nvb_doctor_run_hook(const nvb_discover_opts *opts, bool probe_engines, const char *hook_path);
/* Add one check (strings copied): doctor.c, the vendor backends, WSL2's check and other
 * layers (GPU claims, CDI specs); then nvb_doctor_finish to recompute ready. */
__attribute__((format(printf, 5, 6))) void nvb_doctor_add(nvb_doctor *d, enum nvb_check_level level, const char *name,
                                                          const char *fix, const char *fmt, ...);
void nvb_doctor_finish(nvb_doctor *d);
json_t *nvb_doctor_to_json(const nvb_doctor *d);
void nvb_doctor_free(nvb_doctor *d);

/* Every vendor: what the host's other GPUs offer (lib/host/vendors/doctor_drm.c); on a host
 * without the NVIDIA driver, also what it can and cannot do in its place. */
void nvb_doctor_drm(nvb_doctor *d, const nvb_host *h);
