/* The host model: plain data describing what an NVIDIA host offers to containers.
 * Discovery fills it; everything after discovery is a pure function of it. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "util/error.h"
#include "util/strv.h"

typedef struct nvb_devnode {
    char *path;       /* container path, e.g. /dev/nvidia0 */
    char *host_path;  /* the node's path on this machine, --root included */
    char type;        /* 'c' or 'b' */
    unsigned major, minor;
    unsigned mode;    /* permission bits, st_mode & 07777 */
    uid_t uid;
    gid_t gid;
} nvb_devnode;

typedef struct nvb_devnode_list {
    nvb_devnode *v;
    size_t n, cap;
} nvb_devnode_list;

typedef struct nvb_mig_device {
    unsigned gpu_index;      /* parent GPU's index */
    unsigned mig_index;      /* position under the parent, as NVML enumerates it */
    unsigned gi, ci;         /* GPU instance and compute instance ids */
    char *uuid;              /* MIG-... */
    int64_t memory_mib;      /* -1 when unknown */
    char *profile;           /* "1g.10gb" from NVML's name of the device, NULL when unknown */
    nvb_devnode_list nodes;  /* /dev/nvidia-caps nodes for gi/ci access */
} nvb_mig_device;

typedef struct nvb_gpu {
    unsigned index;       /* position in PCI bus id order */
    unsigned minor;       /* "Device Minor": /dev/nvidia<minor> */
    char *uuid;           /* GPU-... */
    char *name;           /* Model */
    char *pci_bus_id;     /* 0000:01:00.0, lower case, as in /proc */
    unsigned vendor_id, device_id;  /* from sysfs, 0 when unknown */
    int numa_node;        /* -1 when unknown */
    nvb_devnode_list nodes;  /* /dev/nvidiaN, /dev/dri/cardN, /dev/dri/renderDN */
    /* NVML enrichment; unknown values are -1 / NULL. */
    int64_t memory_mib;
    int cc_major, cc_minor;
    char *brand;
    int mig_mode;         /* -1 unknown, 0 disabled, 1 enabled */
    nvb_mig_device *migs;
    size_t n_migs;
} nvb_gpu;

/* A GPU another kernel driver runs: amdgpu, i915, xe, nouveau or any DRM driver with a
 * render node (lib/host/vendors/). Containers get its device nodes only: its user space
 * (Mesa, ROCm, oneAPI) is the image's business, so no host file is offered. */
typedef struct nvb_drm_gpu {
    const char *kind;     /* CDI kind: "amd.com/gpu", "intel.com/gpu", "nvbind.drm/<driver>" */
    const char *vendor;   /* "amd", "intel", "nvidia", ... from the PCI vendor id; "unknown" */
    char *driver;         /* kernel driver, from the device's uevent */
    char *kind_buf;       /* storage behind kind when it is made from the driver's name */
    unsigned index;       /* position among the GPUs of its kind, in bus id order */
    char *bus_id;         /* "0000:03:00.0" (PCI) or the device's sysfs name (platform) */
    unsigned vendor_id, device_id;  /* PCI ids, 0 when not a PCI device */
    int numa_node;        /* -1 when unknown */
    unsigned render_minor;          /* renderD<minor> */
    int kfd_node;         /* AMD: the KFD topology node paired with it, -1 when none */
    unsigned kfd_gpu_id;  /* AMD: that node's gpu_id (what ROCm calls it), 0 when none */
    nvb_devnode_list nodes;  /* /dev/dri/cardN (not for other drivers), /dev/dri/renderDN, /dev/kfd */
} nvb_drm_gpu;

enum nvb_component_kind {
    NVB_COMP_LIBRARY,
    NVB_COMP_BINARY,
    NVB_COMP_FIRMWARE,
    NVB_COMP_CONFIG,
    NVB_COMP_IPC,
    NVB_COMP__COUNT,
};

/* Driver capability groups, as NVIDIA_DRIVER_CAPABILITIES names them. */
enum nvb_cap {
    NVB_CAP_UTILITY = 1u << 0,
    NVB_CAP_COMPUTE = 1u << 1,
    NVB_CAP_VIDEO = 1u << 2,
    NVB_CAP_GRAPHICS = 1u << 3,
    NVB_CAP_DISPLAY = 1u << 4,
    NVB_CAP_NGX = 1u << 5,
    NVB_CAP_COMPAT32 = 1u << 6,
    NVB_CAP_ALL = (1u << 7) - 1,
};

typedef struct nvb_component {
    enum nvb_component_kind kind;
    char *host_path;       /* real path on this machine, --root and driver root included */
    char *container_path;  /* host path without --root and without the driver root */
    unsigned caps;         /* enum nvb_cap bits: which capability needs this file */
    bool is_dir;           /* IPC: a directory (MPS pipe folder) rather than a socket */
    char *soname;          /* libraries: the SONAME the cache files it under, NULL when unknown */
} nvb_component;

enum nvb_kmod { NVB_KMOD_UNKNOWN, NVB_KMOD_PROPRIETARY, NVB_KMOD_OPEN };

typedef struct nvb_host {
    char *root;           /* host root as given, "/" by default */
    char *driver_root;    /* absolute host path of the driver root ("/" when same as root) */
    char *driver_version; /* "550.54.14" */
    enum nvb_kmod kmod;
    char *cuda_version;   /* "12.4" from NVML, NULL when unknown */
    bool nvml_loaded;     /* NVML enrichment ran and answered */
    bool mig_unknown;     /* /proc shows MIG instances but NVML could not list them */
    bool wsl2;            /* a WSL2 guest (host/wsl2.h): the fields below, no Linux driver */
    nvb_devnode_list wsl2_nodes;  /* WSL2: /dev/dxg, every GPU's node ("all" has it without NVML) */
    char *wslg_runtime_dir;  /* WSL2: host path of WSLg's /mnt/wslg/runtime-dir (Wayland), NULL when absent */
    char *wslg_pulse;        /* WSL2: host path of WSLg's /mnt/wslg/PulseServer socket, NULL when absent */
    char *wslg_x11_dir;      /* WSL2: host path of /tmp/.X11-unix (resolved), NULL when absent */
    nvb_gpu *gpus;
    size_t n_gpus;
    nvb_devnode_list nodes;      /* shared control nodes: nvidiactl, uvm, uvm-tools, modeset */
    nvb_devnode_list cap_nodes;  /* every node in /dev/nvidia-caps */
    nvb_component *comps;
    size_t n_comps, cap_comps;
    nvb_strv warnings;           /* non-fatal findings, e.g. a /proc/devices mismatch */
    /* GPUs of other drivers (vendors): ordered by kind, then index. driver_version is NULL
     * and n_gpus 0 when the host has these and no NVIDIA driver (every_vendor). Empty
     * unless discovery asked for every vendor. */
    nvb_drm_gpu *drm_gpus;
    size_t n_drm_gpus;
} nvb_host;

typedef struct nvb_discover_opts {
    const char *root;          /* NULL = "/" */
    const char *driver_root;   /* NULL = same as root */
    const char *const *library_search;  /* NULL-terminated, may be NULL */
    bool with_nvml;            /* enrich through NVML (info --detailed) */
    /* Enrich through NVML only when a GPU shows MIG instances in /proc (cdi generate,
     * cdi check): MIG devices' UUIDs come from NVML alone, and a host without MIG keeps the
     * path free of NVML. */
    bool nvml_for_mig;
    unsigned nvml_timeout_ms;  /* 0 = default (5000) */
    /* Leave out the GPUs' PCI vendor/device ids and NUMA node (vendor_id, device_id 0,
     * numa_node -1): nothing a container's edits need, and two sysfs reads per GPU. */
    bool skip_pci_details;
    /* Every vendor: also discover the GPUs of other drivers (h->drm_gpus), and describe a
     * host without the NVIDIA driver (no /proc/driver/nvidia/version) that has some
     * (driver_version NULL, no NVIDIA GPU) rather than refuse it with NVB_EXIT_NO_DRIVER. For
     * the commands that serve every vendor; the NVIDIA-only paths (the runtime shim) skip it. */
    bool every_vendor;
    /* When not NULL, what discovery looks at is noted there (host/deps.h, the host cache). */
    struct nvb_deps *deps;
} nvb_discover_opts;

/* Discover the host; on failure err says what, where and why (exit code inside). */
nvb_host *nvb_host_discover(const nvb_discover_opts *opts, nvb_err *err);
void nvb_host_free(nvb_host *h);
/* Whether the host has the NVIDIA driver (a host of other vendors' GPUs has not). */
static inline bool nvb_host_has_nvidia(const nvb_host *h)
{
    return h->driver_version != NULL;
}
/* The 64-bit NVML library (libnvidia-ml.so*) among h's components, NULL when none. */
const nvb_component *nvb_host_nvml_library(const nvb_host *h);

int nvb_devnode_list_add(nvb_devnode_list *l, const nvb_devnode *proto);  /* copies strings */
struct stat;
/* The device node st describes (the caller checked S_ISCHR or S_ISBLK): its type, numbers,
 * permission bits and owner, with path and host_path borrowed, not copied. */
nvb_devnode nvb_devnode_from_stat(const char *path, char *host_path, const struct stat *st);
void nvb_devnode_list_clear(nvb_devnode_list *l);
const char *nvb_component_kind_name(enum nvb_component_kind k);  /* "libraries", ... */
