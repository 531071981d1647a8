/* One look at the host for the exporter and `nvbind top`: each GPU's usage from NVML, the
 * containers using each GPU (NVML's processes, mapped through their cgroups and nvbind's
 * claims), the claims held, the audit log's grants and denials, and whether nvbind's
 * installed CDI specs are still true of the host.
 *
 * Discovery (and with it the spec check) is redone at most every rediscover_s seconds: a
 * scrape costs NVML's answers, the claim records and the audit log's new lines. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "host/host.h"
#include "isolation/claims.h"
#include "metrics/audit_count.h"
#include "metrics/nvml_sample.h"

typedef struct nvb_collector_opts {
    nvb_discover_opts discover;       /* strings borrowed for the collector's life */
    const char *state_dir;            /* GPU claims; NULL = NVB_CLAIMS_DEFAULT_DIR */
    const char *audit_log;            /* NULL = NVB_AUDIT_DEFAULT_LOG */
    const char *const *spec_dirs;     /* where installed specs are; NULL = CDI's defaults */
    size_t n_spec_dirs;
    const char *proc_root;            /* NULL = "/proc" */
    unsigned nvml_timeout_ms;         /* 0 = 2000 */
    bool keep_nvml_open;              /* --interval: NVML initialised once */
    unsigned rediscover_s;            /* 0 = 30 */
} nvb_collector_opts;

/* What one container uses of one GPU. */
typedef struct nvb_container_use {
    size_t gpu;                 /* index into host->gpus */
    char container[128];        /* nvbind's claim name, else the engine's id; "" = no container */
    char pod[80];               /* Kubernetes pod UID, "" when none */
    uint64_t used_bytes;
    unsigned n_procs;
} nvb_container_use;

typedef struct nvb_spec_state {
    char *path;
    bool fresh;
    size_t n_reasons;
} nvb_spec_state;

typedef struct nvb_snapshot {
    const nvb_host *host;       /* the collector's: valid until its next collect; NULL when
                                 * discovery failed (host_why says why) */
    char host_why[1024];
    char hostname[256];
    bool nvml_up;
    char nvml_why[512];
    nvb_gpu_sample *gpus;       /* host->n_gpus */
    nvb_container_use *uses;
    size_t n_uses, cap_uses;
    nvb_claim_list claims;
    bool claims_ok;
    nvb_audit_counts audit;
    bool audit_ok;
    const nvb_spec_state *specs; /* the collector's, like host */
    size_t n_specs;
    double discovery_seconds;   /* the last discovery's duration */
    double collect_seconds;     /* this collection's */
} nvb_snapshot;

typedef struct nvb_collector nvb_collector;

nvb_collector *nvb_collector_new(const nvb_collector_opts *o);
void nvb_collector_free(nvb_collector *c);
/* Fill out (free with nvb_snapshot_clear). Never fails as a whole: what could not be read is
 * marked in out (host NULL, nvml_up false, claims_ok/audit_ok false). */
void nvb_collect(nvb_collector *c, nvb_snapshot *out);
void nvb_snapshot_clear(nvb_snapshot *s);
