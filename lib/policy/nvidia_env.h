/* NVIDIA's request variables in a container's environment, as nvidia-container-toolkit's users
 * set them: NVIDIA_DRIVER_CAPABILITIES narrows the driver files a container gets,
 * NVIDIA_REQUIRE_* states what the host must offer, NVIDIA_DISABLE_REQUIRE turns that check
 * off. Shared by the shim (config.json's process.env) and `nvbind run --env`. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "host/host.h"
#include "util/error.h"
#include "util/strv.h"

typedef struct nvb_nvidia_env {
    bool has_caps;          /* NVIDIA_DRIVER_CAPABILITIES was set, not empty */
    unsigned caps;          /* its enum nvb_cap bits ("all": NVB_CAP_ALL) */
    bool disable_require;   /* NVIDIA_DISABLE_REQUIRE is 1, true, yes or on */
    nvb_strv require;       /* each NVIDIA_REQUIRE_<X>=<expression>, as given */
} nvb_nvidia_env;

void nvb_nvidia_env_clear(nvb_nvidia_env *e);

/* "compute,utility" -> bits. Names: compute, compat32, display, graphics, ngx, utility, video,
 * all; blanks around them and empty entries are ignored. An unknown name is NVB_EXIT_INPUT:
 * "NVIDIA_DRIVER_CAPABILITIES 'x': unknown capability 'x' (...)". */
int nvb_nvidia_caps_parse(const char *value, unsigned *caps, nvb_err *err);

/* Note one environment entry "KEY=VALUE" if it is one of NVIDIA's request variables (a later
 * NVIDIA_DRIVER_CAPABILITIES or NVIDIA_DISABLE_REQUIRE replaces an earlier one). -1 with err
 * set for a bad NVIDIA_DRIVER_CAPABILITIES (or memory). */
int nvb_nvidia_env_add(nvb_nvidia_env *e, const char *entry, nvb_err *err);

/* Dotted numeric versions: <0, 0, >0 as a is older, the same, newer than b ("12.10" > "12.9",
 * "535" == "535.0"). Non-digits end a part. */
int nvb_version_cmp(const char *a, const char *b);

/* The CUDA driver API version a driver of this version supports, from its branch (NVIDIA's
 * table: 450 -> 11.0 ... 550 -> 12.4 ... 580 -> 13.0): "12.4", or NULL when the branch is
 * older than 450 or the version is not a number. Static string. */
const char *nvb_cuda_version_of_driver(const char *driver_version);

/* Check every NVIDIA_REQUIRE_* of e (unless disable_require) against the host and the GPUs
 * the container gets. NVIDIA's semantics: within one variable, blank-separated alternatives
 * are ORed and the comma-separated constraints of an alternative ANDed; the variables are
 * ANDed. A constraint is NAME OP VALUE, OP one of = == != < <= > >=, NAME one of cuda (the
 * host's CUDA driver version: NVML's, else nvb_cuda_version_of_driver), driver (the driver
 * version), arch (each GPU's compute capability, "8.0") and brand (each GPU's brand, any
 * case; = and != only). Something unknown (no NVML: arch, brand) does not satisfy it.
 * Unmet: NVB_EXIT_INPUT, "NVIDIA_REQUIRE_CUDA 'cuda>=12.9': not met by this host (driver
 * 550.54.14, CUDA 12.4)"; a malformed constraint is NVB_EXIT_INPUT naming it. */
int nvb_nvidia_require_check(const nvb_nvidia_env *e, const nvb_host *h, const nvb_gpu *const *gpus, size_t n_gpus,
                             nvb_err *err);
