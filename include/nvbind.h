/* libnvbind: GPU passthrough for Linux containers, as a C library.
 *
 * The API mirrors nvbind's Bolt integration guide one to one:
 *
 *   guide (Rust)                              C
 *   ----------------------------------------  ------------------------------------------------
 *   NvbindGpuManager::with_defaults()         nvbind_gpu_manager_new_default()
 *   NvbindGpuManager::new(BoltConfig)         nvbind_gpu_manager_new(&config, &options, &err)
 *   BoltConfig { capsule, gaming, aiml }      nvbind_bolt_config (has_gaming / has_aiml flags)
 *   check_bolt_gpu_compatibility()            nvbind_check_bolt_gpu_compatibility()
 *   get_gpu_info()                            nvbind_get_gpu_info()
 *   generate_gaming_cdi_spec()                nvbind_generate_gaming_cdi_spec()
 *   generate_aiml_cdi_spec()                  nvbind_generate_aiml_cdi_spec()
 *   generate_custom_cdi_spec(BoltCapsuleConf) nvbind_generate_custom_cdi_spec()
 *   run_with_bolt_runtime(image, cmd, gpus)   nvbind_run_with_bolt_runtime()
 *   trait BoltRuntime                         nvbind_runtime_adapter (function pointers)
 *   utils::validate_bolt_environment()        nvbind_validate_bolt_environment()
 *   utils::get_recommended_bolt_config()      nvbind_get_recommended_bolt_config()
 *   Wsl2Manager::detect_wsl2()                nvbind_detect_wsl2()
 *
 * Conventions
 * - Every exported name starts with nvbind_ (types nvbind_*, macros NVBIND_*).
 * - Handles are opaque and owned by the caller: each *_new / generate / get function has a
 *   matching *_free. Strings returned as `char *` are freed with nvbind_string_free().
 * - Every fallible function takes `nvbind_error **err` last. On failure it returns NULL or -1
 *   and, when err is not NULL, stores a new error in *err (replacing and freeing one already
 *   there). On success *err is left untouched. Free errors with nvbind_error_free().
 * - No global state: the library keeps nothing between calls except what a handle holds. A
 *   manager is immutable after creation, so functions taking a `const nvbind_gpu_manager *`
 *   may run on one manager from several threads at once; distinct handles are independent.
 *   The library never changes the process's signal handling, environment or working folder.
 * - Host discovery runs afresh in each call that needs the host (a few milliseconds, no
 *   NVML unless MIG devices are asked for or may be handed out), so GPUs added or removed
 *   are seen without recreating the manager.
 *
 * Build against it with `cc prog.c $(pkg-config --cflags --libs nvbind)`. */
#ifndef NVBIND_H
#define NVBIND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define NVBIND_EXPORT __attribute__((visibility("default")))
#define NVBIND_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define NVBIND_EXPORT
#define NVBIND_PRINTF(f, a)
#endif

/* ---- version ------------------------------------------------------------------------------ */

#define NVBIND_VERSION_MAJOR 0
#define NVBIND_VERSION_MINOR 1
#define NVBIND_VERSION_PATCH 0
/* One number that grows with every release: 0x00MMmmpp. */
#define NVBIND_VERSION_NUMBER \
    ((NVBIND_VERSION_MAJOR << 16) | (NVBIND_VERSION_MINOR << 8) | NVBIND_VERSION_PATCH)

/* The version of the library actually loaded, "MAJOR.MINOR.PATCH". */
NVBIND_EXPORT const char *nvbind_version(void);

/* ---- errors ------------------------------------------------------------------------------- */

/* Exit codes: the same numbers the nvbind command returns (see nvbind(1)). */
typedef enum nvbind_exit_code {
    NVBIND_EXIT_OK = 0,
    NVBIND_EXIT_FAIL = 1,       /* a check answered "no" */
    NVBIND_EXIT_USAGE = 2,      /* bad argument: unknown GPU, malformed list, NULL where required */
    NVBIND_EXIT_NO_DRIVER = 3,  /* no NVIDIA driver under the host root */
    NVBIND_EXIT_HOST_DATA = 4,  /* a host file (/proc, /sys, ld.so.cache) is malformed */
    NVBIND_EXIT_CONFIG = 5,     /* configuration error */
    NVBIND_EXIT_IO = 6,         /* reading or writing a file failed, or out of memory */
    NVBIND_EXIT_RUNTIME = 7,    /* container engine or OCI runtime missing or failed */
    NVBIND_EXIT_BUSY = 8,       /* a GPU is held exclusively by another container */
    NVBIND_EXIT_INPUT = 9,      /* invalid input document: CDI spec, OCI config.json */
} nvbind_exit_code;

typedef struct nvbind_error nvbind_error;

/* One line: what failed, where (file, line, field) and why. Never NULL for a non-NULL e. */
NVBIND_EXPORT const char *nvbind_error_message(const nvbind_error *e);
/* An nvbind_exit_code value. */
NVBIND_EXPORT int nvbind_error_code(const nvbind_error *e);
/* The errno behind the failure, 0 when none. */
NVBIND_EXPORT int nvbind_error_errno(const nvbind_error *e);
NVBIND_EXPORT void nvbind_error_free(nvbind_error *e);
/* For runtime adapters: report a failure from a callback. Stores a new error in *err (when
 * err is not NULL) and returns -1, so a callback can `return nvbind_error_set(err, ...)`. */
NVBIND_EXPORT int nvbind_error_set(nvbind_error **err, int code, const char *fmt, ...) NVBIND_PRINTF(3, 4);

/* Frees a string returned by this library. */
NVBIND_EXPORT void nvbind_string_free(char *s);

/* ---- configuration: BoltConfig ------------------------------------------------------------ */

typedef enum nvbind_isolation {
    NVBIND_ISOLATION_SHARED = 0,     /* several capsules use the GPU */
    NVBIND_ISOLATION_EXCLUSIVE = 1,  /* one capsule owns the GPU */
    NVBIND_ISOLATION_VIRTUAL = 2,    /* partitioned with memory / compute limits (MPS, MIG) */
} nvbind_isolation;

typedef enum nvbind_performance_profile {
    NVBIND_PERFORMANCE_ULTRA_LOW_LATENCY = 0,
    NVBIND_PERFORMANCE_PERFORMANCE = 1,
    NVBIND_PERFORMANCE_BALANCED = 2,
    NVBIND_PERFORMANCE_EFFICIENCY = 3,
} nvbind_performance_profile;

typedef enum nvbind_power_profile {
    NVBIND_POWER_MAXIMUM = 0,
    NVBIND_POWER_BALANCED = 1,
    NVBIND_POWER_EFFICIENCY = 2,
} nvbind_power_profile;

/* The names nvbind.toml uses ("shared", "ultra-low-latency", "maximum"); NULL when out of range. */
NVBIND_EXPORT const char *nvbind_isolation_name(nvbind_isolation level);
NVBIND_EXPORT const char *nvbind_performance_profile_name(nvbind_performance_profile profile);
NVBIND_EXPORT const char *nvbind_power_profile_name(nvbind_power_profile profile);
/* Parse those names; -1 with *err set (the valid names listed) when unknown, or when out is
 * NULL. */
NVBIND_EXPORT int nvbind_isolation_from_name(const char *name, nvbind_isolation *out, nvbind_error **err);
NVBIND_EXPORT int nvbind_performance_profile_from_name(const char *name, nvbind_performance_profile *out,
                                                       nvbind_error **err);
NVBIND_EXPORT int nvbind_power_profile_from_name(const char *name, nvbind_power_profile *out, nvbind_error **err);
/* Parse a size as nvbind.toml writes it: "8GB", "512MiB", "1048576" (bytes). Decimal (kB, MB,
 * GB, TB: powers of 1000) and binary (KiB, MiB, GiB, TiB: powers of 1024) units. */
NVBIND_EXPORT int nvbind_parse_size(const char *text, uint64_t *bytes, nvbind_error **err);

/* [bolt.capsule] */
typedef struct nvbind_bolt_capsule_gpu_config {
    bool snapshot_gpu_state;          /* capsule snapshots include GPU state */
    nvbind_isolation isolation_level;
    bool quic_acceleration;
    uint64_t gpu_memory_limit;        /* bytes; 0 = no limit (see nvbind_parse_size) */
    unsigned compute_limit_percent;   /* 1-100 for virtual isolation; 0 = no limit */
} nvbind_bolt_capsule_gpu_config;

/* [bolt.gaming] */
typedef struct nvbind_bolt_gaming_gpu_config {
    bool dlss_enabled;
    bool rt_cores_enabled;
    nvbind_performance_profile performance_profile;
    bool wine_optimizations;
    bool vrs_enabled;
    nvbind_power_profile power_profile;
} nvbind_bolt_gaming_gpu_config;

/* [bolt.aiml] */
typedef struct nvbind_bolt_aiml_gpu_config {
    uint64_t cuda_cache_size;         /* MiB, 0-4096: 4096 becomes CUDA_CACHE_MAXSIZE=4294967296 */
    bool tensor_cores_enabled;
    bool mixed_precision;
    uint64_t memory_pool_size;        /* bytes; 0 = none */
    bool mig_enabled;
} nvbind_bolt_aiml_gpu_config;

/* BoltConfig: gaming and aiml are optional (Option<...> in the guide); set has_gaming /
 * has_aiml to say they are given. */
typedef struct nvbind_bolt_config {
    nvbind_bolt_capsule_gpu_config capsule;
    bool has_gaming;
    nvbind_bolt_gaming_gpu_config gaming;
    bool has_aiml;
    nvbind_bolt_aiml_gpu_config aiml;
} nvbind_bolt_config;

/* BoltConfig::default(): capsule shared, no snapshot, no limits; no gaming, no aiml part.
 * These fill *out; out NULL does nothing. */
NVBIND_EXPORT void nvbind_bolt_config_default(nvbind_bolt_config *out);
/* The guide's values for each optional part, used by the gaming and AI/ML generators when
 * the manager's configuration has none: gaming DLSS, RT cores, VRS, Wine on,
 * ultra-low-latency, maximum power; AI/ML 4096 MiB CUDA cache, tensor cores, mixed
 * precision, a 16 GB pool, no MIG. (A [bolt.gaming] / [bolt.aiml] table in nvbind.toml
 * starts from the file format's own defaults instead: see nvbind.toml(5).) */
NVBIND_EXPORT void nvbind_bolt_gaming_gpu_config_default(nvbind_bolt_gaming_gpu_config *out);
NVBIND_EXPORT void nvbind_bolt_aiml_gpu_config_default(nvbind_bolt_aiml_gpu_config *out);
/* Read the [bolt.*] tables of an nvbind.toml. path NULL = the search order (NVBIND_CONFIG,
 * $XDG_CONFIG_HOME/nvbind/config.toml, /etc/nvbind/config.toml; never ./nvbind.toml; none
 * found gives the defaults). Errors name file:line:column and the key (NVBIND_EXIT_CONFIG). */
NVBIND_EXPORT int nvbind_bolt_config_load(const char *path, nvbind_bolt_config *out, nvbind_error **err);

/* ---- the GPU manager ---------------------------------------------------------------------- */

typedef struct nvbind_gpu_manager nvbind_gpu_manager;

/* Where the host is and where nvbind writes. Every field may be NULL / 0. */
typedef struct nvbind_manager_options {
    const char *host_root;      /* the directory treated as the host's "/", absolute; NULL = "/" */
    const char *driver_root;    /* host path (inside host_root) of the driver's files; NULL = host root */
    const char *config_path;    /* nvbind.toml for [host], [cdi], [runtime], [profiles]; NULL = none */
    const char *cdi_spec_dir;   /* where run_with_bolt_runtime writes its spec; NULL = the
                                   configuration's [cdi] output_dir, else /var/run/cdi */
    const char *hook_path;      /* the nvbind binary the spec's OCI hooks run; NULL = the
                                   configuration's [cdi] hook_path, else the installed nvbind */
} nvbind_manager_options;

/* NvbindGpuManager::with_defaults(): the host at "/", BoltConfig::default(). NULL only when
 * out of memory. Nothing is read until a function needs the host. */
NVBIND_EXPORT nvbind_gpu_manager *nvbind_gpu_manager_new_default(void);
/* NvbindGpuManager::new(config). config NULL = the configuration file's [bolt.*] when
 * options->config_path is given, else BoltConfig::default(); a config given here wins over
 * the file's [bolt.*]. options NULL = all defaults. Checks the config (isolation and profile
 * values in range, compute limit 0-100) and loads options->config_path now. */
NVBIND_EXPORT nvbind_gpu_manager *nvbind_gpu_manager_new(const nvbind_bolt_config *config,
                                                         const nvbind_manager_options *options,
                                                         nvbind_error **err);
NVBIND_EXPORT void nvbind_gpu_manager_free(nvbind_gpu_manager *m);
/* The manager's effective BoltConfig (copied into *out). */
NVBIND_EXPORT void nvbind_gpu_manager_get_config(const nvbind_gpu_manager *m, nvbind_bolt_config *out);

/* ---- compatibility and GPU information ---------------------------------------------------- */

typedef enum nvbind_check_level {
    NVBIND_CHECK_OK = 0,
    NVBIND_CHECK_INFO = 1,
    NVBIND_CHECK_WARNING = 2,
    NVBIND_CHECK_ERROR = 3,
} nvbind_check_level;

typedef struct nvbind_check {
    const char *name;      /* short id, e.g. "device-node:/dev/nvidia-uvm" */
    nvbind_check_level level;
    const char *message;   /* what was found */
    const char *fix;       /* what to do; NULL when nothing */
} nvbind_check;

/* The guide's compatibility report, plus the checks behind it (what `nvbind doctor` prints). */
typedef struct nvbind_compatibility {
    bool gpus_available;
    unsigned gpu_count;
    const char *driver_version;        /* "550.54.14"; "" when no driver is loaded */
    bool nvidia_open_driver;           /* the open kernel module */
    bool wsl2_mode;                    /* a WSL2 guest (/dev/dxg, WSL2's kernel) */
    bool bolt_optimizations_available; /* host ready, GPUs present and `bolt` in PATH */
    bool ready;                        /* no check at NVBIND_CHECK_ERROR */
    bool mps_running;                  /* a CUDA MPS control daemon answers */
    size_t check_count;
    const nvbind_check *checks;
    /* Every vendor (appended; the library allocates the report): GPUs of other drivers
     * (amdgpu, i915, xe, nouveau, ...). gpus_available counts them, gpu_count does not; a
     * host with only these is ready without NVIDIA's driver. */
    unsigned other_gpu_count;
} nvbind_compatibility;

/* Never fails for host problems (they become checks and false fields): NULL only when out of
 * memory. Probes PATH for podman, docker, bolt, runc and crun. */
NVBIND_EXPORT nvbind_compatibility *nvbind_check_bolt_gpu_compatibility(const nvbind_gpu_manager *m,
                                                                        nvbind_error **err);
NVBIND_EXPORT void nvbind_compatibility_free(nvbind_compatibility *c);

typedef struct nvbind_gpu_info {
    unsigned id;                /* index in PCI bus order: the name "0", "1", ... in CDI specs */
    unsigned minor;             /* /dev/nvidia<minor> */
    const char *uuid;           /* "GPU-..." */
    const char *name;           /* "NVIDIA A100-SXM4-80GB" */
    const char *pci_bus_id;     /* "0000:01:00.0" */
    int64_t memory_mib;         /* total memory; -1 when unknown (NVML missing or silent) */
    int compute_capability_major, compute_capability_minor; /* -1 when unknown */
    int mig_mode;               /* -1 unknown, 0 disabled, 1 enabled */
    size_t mig_device_count;
} nvbind_gpu_info;

/* A GPU another driver runs (every vendor): containers get its device nodes by CDI name,
 * kind=index ("amd.com/gpu=0"), kind=pci_bus_id or kind=all. */
typedef struct nvbind_other_gpu {
    const char *kind;           /* "amd.com/gpu", "intel.com/gpu", "nvbind.drm/<driver>" */
    unsigned index;             /* position among the GPUs of its kind, in bus id order */
    const char *vendor;         /* "amd", "intel", "nvidia" (under nouveau), ...; "unknown" */
    const char *driver;         /* kernel driver: "amdgpu", "i915", "xe", "nouveau", ... */
    const char *pci_bus_id;     /* "0000:03:00.0" (a platform device's sysfs name otherwise) */
    unsigned vendor_id, device_id;  /* PCI ids; 0 when not a PCI device */
    int numa_node;              /* -1 when unknown */
    int kfd_node;               /* AMD: its KFD topology node (ROCm compute), -1 when none */
    size_t node_count;
    const char *const *nodes;   /* container paths: /dev/dri/cardN, /dev/dri/renderDN, /dev/kfd */
} nvbind_other_gpu;

typedef struct nvbind_gpu_list {
    size_t count;
    const nvbind_gpu_info *gpus;
    const char *driver_version; /* "" on a host without NVIDIA's driver */
    const char *cuda_version;   /* NULL when NVML did not answer */
    /* Every vendor (appended; the library allocates the list): GPUs of other drivers. On a
     * host without NVIDIA's driver count is 0 and these are the GPUs. */
    size_t other_count;
    const nvbind_other_gpu *others;
} nvbind_gpu_list;

/* The host's GPUs in bus order. Memory, compute capability and MIG come from NVML, loaded
 * from the driver root and bounded to 5 seconds; without it they are unknown. */
NVBIND_EXPORT nvbind_gpu_list *nvbind_get_gpu_info(const nvbind_gpu_manager *m, nvbind_error **err);
NVBIND_EXPORT void nvbind_gpu_list_free(nvbind_gpu_list *l);

/* Wsl2Manager::detect_wsl2(): whether the manager's host is a WSL2 guest: /dev/dxg and a kernel
 * named "...-microsoft-standard-WSL2" (docs/wsl2.md). */
NVBIND_EXPORT bool nvbind_detect_wsl2(const nvbind_gpu_manager *m);

/* ---- CDI specs ---------------------------------------------------------------------------- */

typedef struct nvbind_cdi_spec nvbind_cdi_spec;
typedef struct nvbind_cdi_edits nvbind_cdi_edits;  /* a view into a spec, owned by the spec */

typedef enum nvbind_cdi_format {
    NVBIND_CDI_FORMAT_JSON = 0,
    NVBIND_CDI_FORMAT_YAML = 1,
} nvbind_cdi_format;

/* BoltCapsuleConfig for generate_custom_cdi_spec. */
typedef struct nvbind_bolt_gpu_isolation {   /* BoltGpuIsolation */
    nvbind_isolation level;
    uint64_t memory_limit;             /* Virtual { memory_limit }: bytes, 0 = none */
    unsigned compute_limit_percent;    /* Virtual { compute_limit }: 1-100, 0 = none */
} nvbind_bolt_gpu_isolation;

typedef struct nvbind_bolt_gaming_config {   /* BoltGamingConfig */
    bool dlss_enabled;
    bool rt_cores_enabled;
    nvbind_performance_profile performance_profile;
    bool wine_optimizations;
} nvbind_bolt_gaming_config;

typedef struct nvbind_bolt_capsule_config {  /* BoltCapsuleConfig */
    bool snapshot_support;
    nvbind_bolt_gpu_isolation isolation_level;
    bool has_gaming_optimizations;
    nvbind_bolt_gaming_config gaming_optimizations;
    bool wsl2_mode;
} nvbind_bolt_capsule_config;

/* The specs describe every GPU of the host (one device per index, per UUID, per MIG device,
 * and "all") under the kind "nvidia.com/gpu-bolt", with the workload's environment, driver
 * files, device nodes and hooks in the spec-wide containerEdits.
 * - gaming: the gaming profile (graphics capabilities, the driver's, DXVK's, VKD3D-Proton's,
 *   Proton's and Wine's variables) from the manager's [bolt.gaming], or its defaults;
 * - aiml: the AI/ML profile (CUDA_CACHE_MAXSIZE, NVIDIA_TF32_OVERRIDE, allocator, MIG) from
 *   the manager's [bolt.aiml], or its defaults;
 * - custom: the capsule config given (isolation limits, snapshot flag, optional gaming
 *   switches, WSL2 variables when wsl2_mode). */
NVBIND_EXPORT nvbind_cdi_spec *nvbind_generate_gaming_cdi_spec(const nvbind_gpu_manager *m, nvbind_error **err);
NVBIND_EXPORT nvbind_cdi_spec *nvbind_generate_aiml_cdi_spec(const nvbind_gpu_manager *m, nvbind_error **err);
NVBIND_EXPORT nvbind_cdi_spec *nvbind_generate_custom_cdi_spec(const nvbind_gpu_manager *m,
                                                               const nvbind_bolt_capsule_config *config,
                                                               nvbind_error **err);
/* Every vendor: the spec of one kind for the manager's host: "amd.com/gpu", "intel.com/gpu" or
 * "nvbind.drm/<driver>" (each GPU's device nodes, names by index, bus id and "all"), or
 * "nvidia.com/gpu" (NVIDIA's spec without a workload profile). A kind the host has no GPU of
 * is NVB_EXIT_USAGE (2); "nvidia.com/gpu" without NVIDIA's driver is 3. The gaming and AI/ML
 * specs above are NVIDIA's: on a host without its driver they fail with 3, naming the kinds
 * the host has. */
NVBIND_EXPORT nvbind_cdi_spec *nvbind_generate_cdi_spec_for_kind(const nvbind_gpu_manager *m, const char *kind,
                                                                 nvbind_error **err);
/* ---- a capsule's edits without a spec (NVBIND_0.3) --------------------------------------- */

/* What a runtime that applies edits itself needs for a capsule: the spec-wide edits of the
 * manager's workload (the AI/ML or gaming profile, as nvbind_run_with_runtime picks it) merged
 * with the edits of each selected device, the way a CDI runtime applies the Bolt-kind spec
 * (an env KEY given again replaces the earlier one; a node or mount path given again is
 * skipped). Built from the host model the manager keeps (revalidated before the call, see
 * libnvbind(3), "The kept host model"), without a JSON document in between. */
typedef struct nvbind_edit_device_node {
    const char *path;        /* container path, "/dev/nvidia0" */
    const char *host_path;   /* the node on this machine (host root included) */
    char type;               /* 'c' or 'b' */
    unsigned major, minor;
    unsigned file_mode;      /* permission bits */
    unsigned uid, gid;
} nvbind_edit_device_node;

typedef struct nvbind_edit_mount {
    const char *host_path;
    const char *container_path;
    const char *const *options;  /* option_count entries: "ro", "nosuid", ... "rbind" */
    size_t option_count;
} nvbind_edit_mount;

typedef struct nvbind_edit_hook {
    const char *hook_name;   /* OCI hook point: "createContainer" */
    const char *path;
    const char *const *args; /* arg_count entries, args[0] the program's name */
    size_t arg_count;
} nvbind_edit_hook;

typedef struct nvbind_capsule_edits {
    size_t env_count;
    const char *const *env;  /* "KEY=VALUE" */
    size_t device_node_count;
    const nvbind_edit_device_node *device_nodes;
    size_t mount_count;
    const nvbind_edit_mount *mounts;
    size_t hook_count;
    const nvbind_edit_hook *hooks;
} nvbind_capsule_edits;

/* The edits for the CDI device names in devices[0..n-1] ("0", "GPU-...", "all", and "gpu0" when
 * the configuration's naming has it), as nvbind_generate_aiml_cdi_spec or ..._gaming_... name
 * them. n = 0 gives the spec-wide edits alone. A name the host has no device of is
 * NVB_EXIT_USAGE (2). Free with nvbind_capsule_edits_free; every pointer inside lives as long
 * as the result. Thread-safe on one manager. */
NVBIND_EXPORT nvbind_capsule_edits *nvbind_get_capsule_edits(const nvbind_gpu_manager *m, const char *const *devices,
                                                             size_t n, nvbind_error **err);
NVBIND_EXPORT void nvbind_capsule_edits_free(nvbind_capsule_edits *e);

/* Read a CDI spec file (JSON or YAML) and validate it. */
NVBIND_EXPORT nvbind_cdi_spec *nvbind_cdi_spec_load(const char *path, nvbind_error **err);
NVBIND_EXPORT void nvbind_cdi_spec_free(nvbind_cdi_spec *s);

/* The spec as text (free with nvbind_string_free). */
NVBIND_EXPORT char *nvbind_cdi_spec_to_json(const nvbind_cdi_spec *s, nvbind_error **err);
NVBIND_EXPORT char *nvbind_cdi_spec_to_yaml(const nvbind_cdi_spec *s, nvbind_error **err);
/* Write the spec to path atomically (temporary file, fsync, rename), mode 0644: a crash
 * leaves the old file or the new one, never half of one. A link at path is written through;
 * /dev/stdout, /dev/fd/N, a FIFO, /dev/null or a terminal is written as a stream. */
NVBIND_EXPORT int nvbind_cdi_spec_write(const nvbind_cdi_spec *s, const char *path, nvbind_cdi_format format,
                                        nvbind_error **err);
/* The conventional file name in a spec directory: "nvidia.com-gpu-bolt.json". */
NVBIND_EXPORT char *nvbind_cdi_spec_file_name(const nvbind_cdi_spec *s, nvbind_cdi_format format);

/* Walking a spec. Every returned pointer lives as long as the spec. */
NVBIND_EXPORT const char *nvbind_cdi_spec_kind(const nvbind_cdi_spec *s);
NVBIND_EXPORT const char *nvbind_cdi_spec_version(const nvbind_cdi_spec *s);  /* cdiVersion */
NVBIND_EXPORT size_t nvbind_cdi_spec_device_count(const nvbind_cdi_spec *s);
/* Device i's name ("0", "GPU-...", "all"); NULL when i is out of range. */
NVBIND_EXPORT const char *nvbind_cdi_spec_device_name(const nvbind_cdi_spec *s, size_t i);
/* Device i's containerEdits; NULL when i is out of range. */
NVBIND_EXPORT const nvbind_cdi_edits *nvbind_cdi_spec_device_edits(const nvbind_cdi_spec *s, size_t i);
/* The spec-wide containerEdits (never NULL; empty when the spec has none). */
NVBIND_EXPORT const nvbind_cdi_edits *nvbind_cdi_spec_edits(const nvbind_cdi_spec *s);
/* The value of KEY in the spec-wide env, NULL when unset. */
NVBIND_EXPORT const char *nvbind_cdi_spec_getenv(const nvbind_cdi_spec *s, const char *key);

typedef struct nvbind_cdi_device_node {
    const char *path;        /* container path */
    const char *host_path;   /* NULL when the same as path */
    char type;               /* 'c' or 'b'; 0 when not given */
    int64_t major, minor;    /* -1 when not given */
    int64_t file_mode;       /* -1 when not given */
} nvbind_cdi_device_node;

typedef struct nvbind_cdi_mount {
    const char *host_path;
    const char *container_path;
    const char *type;        /* NULL when not given */
} nvbind_cdi_mount;

typedef struct nvbind_cdi_hook {
    const char *hook_name;   /* OCI hook point: "createContainer", ... */
    const char *path;
} nvbind_cdi_hook;

NVBIND_EXPORT size_t nvbind_cdi_edits_env_count(const nvbind_cdi_edits *e);
NVBIND_EXPORT const char *nvbind_cdi_edits_env(const nvbind_cdi_edits *e, size_t i);  /* "KEY=VALUE" */
NVBIND_EXPORT size_t nvbind_cdi_edits_device_node_count(const nvbind_cdi_edits *e);
/* Fill *out with entry i; -1 when i is out of range. */
NVBIND_EXPORT int nvbind_cdi_edits_device_node(const nvbind_cdi_edits *e, size_t i, nvbind_cdi_device_node *out);
NVBIND_EXPORT size_t nvbind_cdi_edits_mount_count(const nvbind_cdi_edits *e);
NVBIND_EXPORT int nvbind_cdi_edits_mount(const nvbind_cdi_edits *e, size_t i, nvbind_cdi_mount *out);
NVBIND_EXPORT size_t nvbind_cdi_edits_mount_option_count(const nvbind_cdi_edits *e, size_t i);
NVBIND_EXPORT const char *nvbind_cdi_edits_mount_option(const nvbind_cdi_edits *e, size_t i, size_t j);
NVBIND_EXPORT size_t nvbind_cdi_edits_hook_count(const nvbind_cdi_edits *e);
NVBIND_EXPORT int nvbind_cdi_edits_hook(const nvbind_cdi_edits *e, size_t i, nvbind_cdi_hook *out);
NVBIND_EXPORT size_t nvbind_cdi_edits_hook_arg_count(const nvbind_cdi_edits *e, size_t i);
NVBIND_EXPORT const char *nvbind_cdi_edits_hook_arg(const nvbind_cdi_edits *e, size_t i, size_t j);

/* ---- running containers ------------------------------------------------------------------- */

/* run_with_bolt_runtime(image, cmd, gpus): what `nvbind run --runtime bolt` does, for the
 * manager's workload (the gaming profile when it has a gaming part, else the AI/ML profile
 * when it has an AI/ML part, else no profile). Claims the GPUs as the capsule's isolation
 * says, like every other way in (exclusive: a GPU another container holds is refused at once
 * with NVBIND_EXIT_BUSY naming the holder; virtual: MPS limits, or a MIG device in place of a
 * GPU with [bolt.aiml] mig_enabled), with one line in the audit log ([isolation] state_dir
 * and audit_log of the configuration file). Installs the Bolt spec (kind nvidia.com/gpu-bolt:
 * the devices and the driver's files, the same for every capsule) in the spec folder when it
 * is missing or stale; the capsule's own files (a custom profile's, MPS folders) go into a spec
 * of its own whose one device, "capsule-<name>", only this capsule names (removed when bolt
 * returns). Then runs, found in PATH,
 *   bolt surge run --cdi-device nvidia.com/gpu-bolt=<device> [--cdi-device ...]
 *        [--cdi-device nvidia.com/gpu-bolt=capsule-<name>]
 *        --capsule-isolation gpu-<shared|exclusive|virtual> --runtime-optimization gpu-passthrough
 *        [EXTRA ARGS] [--env K=V ...] IMAGE [CMD ...]
 * in the foreground, where the --env entries are Bolt's capsule variables (BOLT_GPU_ISOLATION,
 * BOLT_WORKLOAD_TYPE, ...), the profile's and [runtime.environment]'s variables: a capsule's
 * settings travel with it, so capsules with different settings run side by side. EXTRA ARGS
 * is [runtime] extra_args. argv is the command (NULL-terminated; NULL
 * or empty = the image's default). gpus: "all", "none", or a comma-separated list of
 * indices, UUIDs or MIG devices ("0:1"); NULL = the configuration's default ("all").
 * Standard input and output are shared with bolt; no signal handling is changed. Returns
 * bolt's exit status (0-255, 128+N when killed by signal N), or -1 with *err set when nothing
 * ran (a malformed list or unknown GPU: NVBIND_EXIT_USAGE; bolt not in PATH:
 * NVBIND_EXIT_RUNTIME; a GPU taken: NVBIND_EXIT_BUSY), in which case no spec was written.
 * The claims are held by the calling process while bolt runs and given back when it exits. */
NVBIND_EXPORT int nvbind_run_with_bolt_runtime(const nvbind_gpu_manager *m, const char *image,
                                               const char *const *argv, const char *gpus, nvbind_error **err);

/* trait BoltRuntime: a runtime plugs into nvbind by filling these function pointers. Each
 * receives `user`, the container's id and the part of the configuration it acts on, and
 * returns 0, or -1 with *err set (nvbind_error_set). A NULL pointer is a step the runtime
 * does not need. The strings and structs passed in live only for the call. */
typedef struct nvbind_runtime_adapter {
    void *user;
    int (*setup_gpu_for_capsule)(void *user, const char *container_id, const void *container_spec,
                                 const nvbind_bolt_config *gpu_config, nvbind_error **err);
    /* Fully qualified CDI names: "nvidia.com/gpu-bolt=0", ... */
    int (*apply_cdi_devices)(void *user, const char *container_id, const char *const *cdi_devices,
                             size_t n_devices, nvbind_error **err);
    int (*enable_gpu_snapshot)(void *user, const char *container_id, const nvbind_bolt_capsule_config *snapshot_config,
                               nvbind_error **err);
    int (*setup_gaming_optimization)(void *user, const char *container_id,
                                     const nvbind_bolt_gaming_gpu_config *gaming_config, nvbind_error **err);
    int (*setup_aiml_optimization)(void *user, const char *container_id, const nvbind_bolt_aiml_gpu_config *aiml_config,
                                   nvbind_error **err);
    /* isolation_level: "shared", "exclusive" or "virtual". */
    int (*configure_gpu_isolation)(void *user, const char *container_id, const char *isolation_level,
                                   nvbind_error **err);
    /* Called by nvbind_runtime_adapter_free to release user; may be NULL. */
    void (*destroy)(void *user);
} nvbind_runtime_adapter;

/* Drive an adapter for one container with the manager's configuration. gpus is checked
 * against the host first ("all", "none", a list of indices, UUIDs or MIG devices; NULL = the
 * configuration's default, "all"): a bad request calls nothing.
 * Then the GPUs are claimed for container_id as the manager's isolation level says, like
 * `nvbind run` and the nvbind-runtime shim do, with one line in the audit log ([isolation]
 * state_dir and audit_log of the configuration file): shared; exclusive (a GPU another
 * container uses is refused at once with NVBIND_EXIT_BUSY, "GPU 0 (GPU-...) is held
 * exclusively by container ID since TIME", and no step is called); virtual (CUDA MPS limits,
 * or with [bolt.aiml] mig_enabled a free MIG device in place of the GPU, which
 * apply_cdi_devices then names). "none" claims nothing.
 * Then, in this order: setup_gpu_for_capsule (container_spec is passed through untouched),
 * configure_gpu_isolation, apply_cdi_devices (skipped for "none"), enable_gpu_snapshot (only
 * when the capsule snapshots GPU state), setup_gaming_optimization /
 * setup_aiml_optimization (only for the parts the configuration has). The OCI-bundle adapter
 * also gets the MPS variables and folders of a virtual grant in its config.json. Stops at the
 * first failing step: *err then reads "runtime adapter: STEP for container ID: MESSAGE" with
 * the callback's code, and the claims are given back.
 * On success the container holds its GPUs until nvbind_release_gpu_claims(m, container_id):
 * call it when the container ends. The claims are kept alive by the calling process, so they
 * lapse by themselves if it exits first; nvbind_set_gpu_claims_init makes the container's
 * own init process keep them instead. Calling again for the same container_id replaces its
 * claims. */
NVBIND_EXPORT int nvbind_run_with_runtime(const nvbind_gpu_manager *m, const nvbind_runtime_adapter *adapter,
                                          const char *container_id, const void *container_spec, const char *gpus,
                                          nvbind_error **err);

/* Give back every GPU claim of container_id (after its container ended, or when it will not
 * start): the GPUs are free for other containers at once. Returns the number of devices
 * given back (0 when it held none), or -1 with *err set. Added in version 0.1 (symbol version
 * NVBIND_0.1). */
NVBIND_EXPORT int nvbind_release_gpu_claims(const nvbind_gpu_manager *m, const char *container_id,
                                            nvbind_error **err);
/* Record the container's init process (pid; its start time is read now) in container_id's
 * claims: they then stay while that process runs, also after the calling process is gone,
 * and lapse by themselves once both are gone (a claim never outlives its container). Returns
 * the number of devices updated (0 when the container holds none), or -1 with *err set
 * (NVBIND_EXIT_USAGE when init_pid does not run). Added in version 0.1 (NVBIND_0.1). */
NVBIND_EXPORT int nvbind_set_gpu_claims_init(const nvbind_gpu_manager *m, const char *container_id, int init_pid,
                                             nvbind_error **err);

/* The OCI-bundle adapter: each step edits bundle_dir/config.json (rewritten atomically, other
 * fields kept) for an OCI runtime such as runc or crun, with the code `nvbind run --runtime
 * runc` and the nvbind-runtime shim use: device nodes and their device-cgroup allow rules,
 * read-only mounts of the driver files, the environment (profile and Bolt capsule variables),
 * and the createContainer hooks. Repeating a step changes nothing more. setup_gpu_for_capsule
 * must run first (it checks config.json and discovers the host); apply_cdi_devices takes
 * names of the kinds nvidia.com/gpu-bolt and nvidia.com/gpu. One thread at a time. The
 * adapter keeps a copy of the manager's settings: m may be freed first. Free with
 * nvbind_runtime_adapter_free. */
NVBIND_EXPORT nvbind_runtime_adapter *nvbind_oci_bundle_adapter(const nvbind_gpu_manager *m, const char *bundle_dir,
                                                                nvbind_error **err);
/* Calls adapter->destroy(adapter->user) and frees an adapter made by this library. */
NVBIND_EXPORT void nvbind_runtime_adapter_free(nvbind_runtime_adapter *adapter);

/* ---- utils -------------------------------------------------------------------------------- */

/* utils::validate_bolt_environment(): 1 when the host at options' root is ready for Bolt GPU
 * capsules (driver, GPUs, device nodes, libraries, and `bolt` in PATH), 0 when not (see
 * nvbind_check_bolt_gpu_compatibility for why), -1 on error. options NULL = defaults. */
NVBIND_EXPORT int nvbind_validate_bolt_environment(const nvbind_manager_options *options, nvbind_error **err);
/* utils::get_recommended_bolt_config(): a BoltConfig that fits the host's GPUs. Virtual
 * isolation when a GPU is in MIG mode or an MPS daemon runs, exclusive with several GPUs,
 * shared otherwise, snapshots on; a gaming part when the driver's graphics libraries are
 * present (RT cores, DLSS and VRS on RTX-class GPUs, balanced profiles); an AI/ML part when
 * CUDA is present (tensor cores and mixed precision from compute capability 7.0, or by model
 * name without NVML; MIG when a GPU has MIG mode on; a memory pool of half the smallest
 * GPU's memory when NVML reports it). -1 with *err when no driver is found. */
NVBIND_EXPORT int nvbind_get_recommended_bolt_config(const nvbind_manager_options *options, nvbind_bolt_config *out,
                                                     nvbind_error **err);

/* ---- seeing what the library decides (since 0.2, symbol version NVBIND_0.2) -------------- */

typedef enum nvbind_log_level {
    NVBIND_LOG_OFF = 0,
    NVBIND_LOG_WARN = 1,
    NVBIND_LOG_INFO = 2,   /* the claim taken, the spec written, the engine command run */
    NVBIND_LOG_DEBUG = 3,  /* every file considered and skipped, with the reason */
} nvbind_log_level;

/* Called with each decision up to the level asked for, one line without a newline (valid
 * during the call only), on the thread that made it. */
typedef void (*nvbind_log_callback)(nvbind_log_level level, const char *message, void *user_data);
/* Set the process's one log callback (NULL: none, the default). Not thread-safe against
 * calls running at the same time: set it before starting work. */
NVBIND_EXPORT void nvbind_set_log_callback(nvbind_log_callback cb, nvbind_log_level max_level, void *user_data);

#ifdef __cplusplus
}
#endif

#endif /* NVBIND_H */
