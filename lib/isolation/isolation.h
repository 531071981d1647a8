/* Isolation for one container start, in one call: claims (shared / exclusive / virtual),
 * the virtual limits (MPS edits or a MIG device in place of a GPU), and one audit line
 * for the decision. `nvbind run`, the nvbind-runtime shim and the C API all go through
 * nvb_isolation_acquire, so the same rule holds whichever way a request comes.
 *
 *   nvb_isolation_request rq = {0};
 *   nvb_isolation_request_from_config(&rq, &cfg);     // state_dir, audit_log, limits, MIG
 *   rq.isolation = NVB_ISOLATION_EXCLUSIVE;
 *   rq.host = host; rq.devices = sel; rq.n_devices = n;
 *   rq.owner = (nvb_claim_owner){.container = id, .runtime = "runc", .oci_state = state_file};
 *   rq.profile = "default"; rq.wait_seconds = NVB_CLAIM_NO_WAIT;
 *   nvb_isolation_grant g;
 *   if (nvb_isolation_acquire(&rq, &g, &err) < 0)
 *       return nvb_cli_fail(&err);                    // NVB_EXIT_BUSY when a GPU is taken
 *   for (i < g.n_devices) nvb_isolation_device_edits(&edits, &g.devices[i]);
 *   nvb_edits_merge(&edits, &g.edits);               // MPS env and mounts (virtual)
 *   ... run the container ...
 *   nvb_isolation_release(&g, NULL);                  // when the container is gone
 *   nvb_isolation_grant_clear(&g);
 */
#pragma once
#include "config/config.h"
#include "host/host.h"
#include "isolation/audit.h"
#include "isolation/claims.h"
#include "isolation/virtual.h"
#include "policy/edits.h"

typedef struct nvb_isolation_device {
    const nvb_gpu *gpu;               /* the GPU, or the MIG device's parent */
    const nvb_mig_device *mig;        /* a MIG device of gpu; NULL for the whole GPU */
} nvb_isolation_device;

typedef struct nvb_isolation_request {
    enum nvb_isolation isolation;
    const nvb_host *host;             /* for `virtual`: where the MPS folders are (its root);
                                       * NULL = "/". The devices point into it: it must
                                       * outlive the grant */
    const nvb_isolation_device *devices;  /* what was selected (--gpu); may be empty */
    size_t n_devices;
    nvb_claim_owner owner;            /* container id, runtime, holder, init, OCI state file */
    const char *profile;              /* for the audit log; NULL = none */
    int wait_seconds;                 /* NVB_CLAIM_NO_WAIT, NVB_CLAIM_WAIT_FOREVER, or seconds */
    const char *state_dir;            /* NULL = NVB_CLAIMS_DEFAULT_DIR */
    const char *audit_log;            /* NULL = NVB_AUDIT_DEFAULT_LOG; "" = no audit log */
    nvb_virtual_opts virt;            /* limits and MIG for `virtual` */
} nvb_isolation_request;

typedef struct nvb_isolation_grant {
    nvb_isolation_device *devices;    /* what the container gets: the request's devices, with
                                       * a MIG device in place of a whole GPU where `virtual`
                                       * chose one */
    size_t n_devices;
    nvb_edits edits;                  /* `virtual`: MPS variables and mounts; merge after the
                                       * device edits */
    nvb_strv warnings;                /* say these to the user (e.g. MPS missing, limits off) */
    char *state_dir, *container;      /* what nvb_isolation_release needs */
    pid_t holder_pid;                 /* the claims' holder process and its start time: a */
    unsigned long long holder_start;  /* release gives back only what this grant added */
    bool claimed;
} nvb_isolation_grant;

/* Fill state_dir, audit_log and virt from the configuration ([isolation] state_dir and
 * audit_log, [bolt.capsule] gpu_memory_limit and compute_limit_percent, [bolt.aiml]
 * mig_enabled), and isolation from [bolt.capsule] isolation_level. Pointers into cfg. */
void nvb_isolation_request_from_config(nvb_isolation_request *rq, const nvb_config *cfg);

/* Decide, claim and audit. Every call appends exactly one audit line (grant or deny)
 * unless audit_log is "". Shared: a shared claim on each device. Exclusive: an exclusive
 * claim on each. Virtual: with mig_enabled, each whole GPU that has MIG devices is replaced
 * by its first free MIG device (exclusive claim on the MIG device, shared on its parent);
 * the other devices get shared claims and MPS edits. A MIG device selected directly gets a
 * claim of the request's mode on itself plus a shared claim on its parent.
 * Fails with NVB_EXIT_BUSY when a device is taken (after waiting, if asked), NVB_EXIT_FAIL
 * when virtual limits need an MPS daemon that does not run, NVB_EXIT_IO when the state or
 * the audit log cannot be written (a grant that cannot be audited is withdrawn). */
int nvb_isolation_acquire(const nvb_isolation_request *rq, nvb_isolation_grant *out, nvb_err *err);

/* Give the claims back: the ones this grant added, not another holder's under the same
 * name. Safe to call twice and on a grant that claimed nothing. */
int nvb_isolation_release(nvb_isolation_grant *g, nvb_err *err);
void nvb_isolation_grant_clear(nvb_isolation_grant *g);

/* The device part of the edits for one granted device (nvb_edits_for_gpu or _for_mig). */
int nvb_isolation_device_edits(nvb_edits *e, const nvb_isolation_device *d);
/* The UUID that names d: the MIG device's, else the GPU's. */
const char *nvb_isolation_device_uuid(const nvb_isolation_device *d);
