/* Internals shared by the public API's source files (lib/api/). Nothing here is exported:
 * the library is built with -fvisibility=hidden and only NVBIND_EXPORT functions of
 * include/nvbind.h leave it. */
#pragma once
#include <jansson.h>

#include "nvbind.h"
#include "config/config.h"
#include "host/host.h"
#include "policy/edits.h"
#include "util/error.h"
#include "util/strv.h"

struct nvbind_error {
    int code;      /* enum nvb_exit */
    int errnum;
    char *message;
};

/* The kind of every spec the manager writes: Bolt reads devices of this kind. */
#define NVB_API_BOLT_KIND "nvidia.com/gpu-bolt"

struct nvbind_gpu_manager {
    nvb_config config;            /* the whole configuration: file values or defaults */
    nvbind_bolt_config bolt;      /* the effective BoltConfig ([bolt.*] or the one given) */
    char *host_root;              /* "/" unless given */
    char *driver_root;            /* NULL = host root */
    char *cdi_spec_dir;           /* where run_with_bolt_runtime writes its spec */
    char *hook_path;              /* the nvbind binary the spec's hooks run */
    char *config_path;            /* the nvbind.toml loaded, NULL when none */
    struct nvb_api_kept *kept;    /* the host model kept between calls (api/kept.c), with its
                                   * own lock: the only part of a manager that changes */
};

/* ---- the kept host model (api/kept.c) ---- */
typedef struct nvb_api_model {
    nvb_host *host;               /* discovered for every vendor, without NVML */
    unsigned refs;                /* the manager's and one per holder; atomic */
    void *cache;                  /* what a call derives from the model once (capsule_edits.c) */
    void (*cache_free)(void *);
} nvb_api_model;
struct nvb_api_kept *nvb_api_kept_new(void);
void nvb_api_kept_free(struct nvb_api_kept *k);
/* m's host model, revalidated (and rediscovered when it changed); hold it only for the call.
 * NULL with *err set when discovery fails. Release with nvb_api_host_release. */
nvb_api_model *nvb_api_host_acquire(const nvbind_gpu_manager *m, nvbind_error **err);
void nvb_api_host_release(const nvbind_gpu_manager *m, nvb_api_model *model);
/* km's cache, made by make(m, host) on first use (NULL when make fails); drop frees it with the
 * model. One cache user per model. */
void *nvb_api_model_cache(const nvbind_gpu_manager *m, nvb_api_model *km,
                          void *(*make)(const nvbind_gpu_manager *, const nvb_host *), void (*drop)(void *));
/* The revalidation alone: 1 when the kept model is still the host's, 0 when it is not (or
 * none is kept), -1 when out of memory. */
int nvb_api_kept_check(const nvbind_gpu_manager *m);
/* How many times m discovered its host for the kept model. */
unsigned long nvb_api_kept_discoveries(const nvbind_gpu_manager *m);

/* A private copy of m (the same configuration file, options and BoltConfig). */
nvbind_gpu_manager *nvb_api_manager_clone(const nvbind_gpu_manager *m, nvbind_error **err);

struct nvbind_cdi_spec {
    json_t *json;                 /* the CDI document (jansson object in the CDI layout) */
    json_t *no_edits;             /* an empty object: the spec-wide edits when there are none */
};

/* Store a copy of e in *err (when err is not NULL), replacing one already there. Returns -1. */
int nvb_api_fail(nvbind_error **err, const nvb_err *e);
/* Same with a message built here. */
int nvb_api_failf(nvbind_error **err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Out of memory while doing `what`. */
int nvb_api_oom(nvbind_error **err, const char *what);

/* Discovery options for the manager's host. with_nvml: enrich through NVML (bounded). */
nvb_discover_opts nvb_api_discover_opts(const nvbind_gpu_manager *m, bool with_nvml);
nvb_host *nvb_api_discover(const nvbind_gpu_manager *m, bool with_nvml, nvbind_error **err);
/* The same for calls that serve every vendor: a host of other vendors' GPUs without NVIDIA's
 * driver is discovered too (api/vendors.c). */
nvb_host *nvb_api_discover_any(const nvbind_gpu_manager *m, bool with_nvml, nvbind_error **err);
/* Fill l's other_count/others from h's other-vendor GPUs; *box receives what to free. -1 when
 * out of memory. */
int nvb_api_other_gpus(const nvb_host *h, nvbind_gpu_list *l, void **box);

/* Mapping between the public BoltConfig and the configuration model. */
void nvb_api_bolt_from_config(const nvb_config *c, nvbind_bolt_config *out);
void nvb_api_bolt_to_config(const nvbind_bolt_config *b, nvb_config *c);
/* Range checks of a caller's BoltConfig / capsule config ("field: problem"). */
int nvb_api_check_bolt(const nvbind_bolt_config *b, nvbind_error **err);
int nvb_api_check_capsule(const nvbind_bolt_capsule_config *c, nvbind_error **err);

/* The workloads a spec is generated for. */
enum nvb_api_workload { NVB_API_DEFAULT, NVB_API_GAMING, NVB_API_AIML, NVB_API_CUSTOM };

/* Generate the Bolt-kind spec of m's host for a workload. custom is the capsule config of
 * NVB_API_CUSTOM (NULL otherwise). Returns the CDI document, or NULL with *err set. */
json_t *nvb_api_generate(const nvbind_gpu_manager *m, const nvb_host *h, enum nvb_api_workload w,
                         const nvbind_bolt_capsule_config *custom, nvbind_error **err);
/* The spec-wide extras of a workload on h: the profile's edits and the Bolt capsule variables
 * into *extra, the driver capabilities to mount into *caps (0 = all). -1 with *err set. */
int nvb_api_workload_edits(const nvbind_gpu_manager *m, const nvb_host *h, enum nvb_api_workload w,
                           const nvbind_bolt_capsule_config *custom, unsigned *caps, nvb_edits *extra,
                           nvbind_error **err);
/* The workload run_with_* use for the manager's configuration. */
enum nvb_api_workload nvb_api_manager_workload(const nvbind_gpu_manager *m);

/* Wrap a CDI document in a spec handle (takes the reference). NULL when out of memory. */
nvbind_cdi_spec *nvb_api_spec_wrap(json_t *doc);


/* The OCI-bundle adapter only: apply e to its bundle's config.json (what a `virtual` grant adds,
 * MPS variables and folders). Any other adapter, or empty edits: nothing, 0. */
int nvb_api_oci_adapter_apply(const nvbind_runtime_adapter *adapter, const nvb_edits *e, nvbind_error **err);
