/* nvbind's configuration (nvbind.toml) as plain data: defaults filled in, every value
 * validated. lib/config/toml.h parses the text; the schema code maps it onto this. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include "util/error.h"
#include "util/strv.h"

enum nvb_isolation { NVB_ISOLATION_SHARED, NVB_ISOLATION_EXCLUSIVE, NVB_ISOLATION_VIRTUAL };
enum nvb_perf_profile {
    NVB_PERF_ULTRA_LOW_LATENCY,
    NVB_PERF_PERFORMANCE,
    NVB_PERF_BALANCED,
    NVB_PERF_EFFICIENCY,
};
enum nvb_power_profile { NVB_POWER_MAXIMUM, NVB_POWER_BALANCED, NVB_POWER_EFFICIENCY };

typedef struct nvb_config_capsule {          /* [bolt.capsule] */
    bool snapshot_gpu_state;
    enum nvb_isolation isolation_level;
    bool quic_acceleration;
    uint64_t gpu_memory_limit;                /* bytes; 0 = no limit */
    unsigned compute_limit_percent;           /* 1-100; 0 = no limit */
} nvb_config_capsule;

typedef struct nvb_config_gaming {            /* [bolt.gaming] */
    bool present;                             /* the table was given */
    bool dlss_enabled, rt_cores_enabled, wine_optimizations, vrs_enabled;
    enum nvb_perf_profile performance_profile;
    enum nvb_power_profile power_profile;
    uint64_t shader_cache_size;               /* added: bytes, __GL_SHADER_DISK_CACHE_SIZE; 0 = driver's */
} nvb_config_gaming;

typedef struct nvb_config_aiml {              /* [bolt.aiml] */
    bool present;
    uint64_t cuda_cache_size_mib;
    bool tensor_cores_enabled, mixed_precision, mig_enabled;
    uint64_t memory_pool_size;                /* bytes; 0 = none */
} nvb_config_aiml;

typedef struct nvb_custom_profile {           /* [profiles.NAME] */
    char *name;
    nvb_strv env;                             /* "KEY=VALUE" */
    unsigned caps;                            /* enum nvb_cap bits; 0 = all */
    nvb_strv device_nodes;                    /* extra container paths of host device nodes */
    nvb_strv mounts;                          /* "HOST:CONTAINER" read-only bind mounts */
} nvb_custom_profile;

typedef struct nvb_config {
    char *source;                             /* the file loaded, NULL when only defaults */
    nvb_config_capsule capsule;
    nvb_config_gaming gaming;
    nvb_config_aiml aiml;
    struct {
        char *default_runtime;                /* NULL = first engine found */
        nvb_strv extra_args;                  /* added to every engine command */
        nvb_strv environment;                 /* "KEY=VALUE" for every container */
        char *oci_runtime;                    /* the shim's real runtime; NULL = runc, else crun */
        char *log_file;                       /* the shim's own log of its decisions; NULL = none */
    } runtime;
    struct {
        char *root, *driver_root;             /* NULL = defaults ("/", same as root) */
        nvb_strv library_search_path;
    } host;
    struct {
        char *default_selection;              /* "all" unless set */
    } gpu;
    struct {
        bool allow_env_requests;              /* honour NVIDIA_VISIBLE_DEVICES at all */
        bool allow_unprivileged_env_requests; /* ... from containers that are not privileged */
        bool allow_annotation_requests;       /* honour nvbind.* / cdi.k8s.io annotations (default off) */
        nvb_strv allow_run_options;           /* engine options nvbind run passes though they undo isolation */
    } security;
    struct {
        nvb_strv spec_dirs;                   /* default /etc/cdi, /var/run/cdi */
        char *output_dir;                     /* where run/the shim write specs: /var/run/cdi */
        unsigned naming;                      /* enum nvb_naming bits; default index|uuid */
        char *hook_path;                      /* NULL = the running nvbind */
    } cdi;
    struct {
        char *state_dir;                      /* /run/nvbind */
        char *audit_log;                      /* /var/log/nvbind/audit.log */
    } isolation;
    nvb_custom_profile *profiles;
    size_t n_profiles;
    /* Where each value came from, for `config show`: "file:line" by dotted key
     * ("bolt.capsule.isolation_level", "runtime.environment.FOO", "profiles.NAME.env").
     * Keys not listed hold their defaults. */
    struct nvb_config_origin {
        char *key, *where;
    } *origins;
    size_t n_origins;
} nvb_config;

/* Defaults for everything. */
void nvb_config_init(nvb_config *c);
void nvb_config_clear(nvb_config *c);

/* Load the configuration: explicit path (--config), else NVBIND_CONFIG, else
 * $XDG_CONFIG_HOME/nvbind/config.toml (~/.config/...), /etc/nvbind/config.toml; none
 * found means defaults. Never ./nvbind.toml. Errors: NVB_EXIT_CONFIG, "file:line:column:
 * key: problem". Every file goes through nvb_config_check_trusted first. */
int nvb_config_load(nvb_config *c, const char *explicit_path, nvb_err *err);
int nvb_config_load_file(nvb_config *c, const char *path, nvb_err *err);
/* A configuration file chooses programs root runs ([cdi] hook_path): refuse one that anybody
 * but root and the caller (effective uid) could have written (util/trust.h), NVB_EXIT_CONFIG. */
int nvb_config_check_trusted(const char *path, nvb_err *err);
int nvb_config_load_text(nvb_config *c, const char *text, size_t len, const char *name, nvb_err *err);

const char *nvb_isolation_name(enum nvb_isolation i);   /* "shared", ... */
int nvb_isolation_parse(const char *s, enum nvb_isolation *out);

/* Accessors and the search order (lib/config/keys.c, lib/config/schema.c). */

/* Where the value of a dotted key came from: "file:line", or "default". */
const char *nvb_config_origin(const nvb_config *c, const char *key);
/* The custom profile called name, or NULL. */
const nvb_custom_profile *nvb_config_profile(const nvb_config *c, const char *name);
const char *nvb_perf_profile_name(enum nvb_perf_profile p);    /* "ultra-low-latency", ... */
const char *nvb_power_profile_name(enum nvb_power_profile p);  /* "maximum", ... */

/* The search order without loading: the file that nvb_config_load would read (*found,
 * caller frees; NULL when none exists and defaults apply) and, in searched, every place
 * looked at. An explicit path or NVBIND_CONFIG that does not exist is an error. */
int nvb_config_find(const char *explicit_path, char **found, nvb_strv *searched, nvb_err *err);
