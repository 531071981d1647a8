/* One isolation decision: claims, virtual limits, audit line. See isolation.h. */
#include "isolation/isolation.h"
#include "util/log.h"
#include "util/cleanup.h"
#include "util/clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_MIG_CANDIDATES 64
#define MIG_RETRY_START_MS 50
#define MIG_RETRY_MAX_MS 1000

void nvb_isolation_request_from_config(nvb_isolation_request *rq, const nvb_config *cfg)
{
    if (!cfg)
        return;
    rq->isolation = cfg->capsule.isolation_level;
    rq->state_dir = cfg->isolation.state_dir;
    rq->audit_log = cfg->isolation.audit_log;
    rq->virt.memory_limit = cfg->capsule.gpu_memory_limit;
    rq->virt.compute_percent = cfg->capsule.compute_limit_percent;
    rq->virt.mig_enabled = cfg->aiml.mig_enabled;
}

const char *nvb_isolation_device_uuid(const nvb_isolation_device *d)
{
    return d->mig ? d->mig->uuid : d->gpu->uuid;
}

int nvb_isolation_device_edits(nvb_edits *e, const nvb_isolation_device *d)
{
    return d->mig ? nvb_edits_for_mig(e, d->gpu, d->mig) : nvb_edits_for_gpu(e, d->gpu);
}

static nvb_claim_device claim_device(const nvb_isolation_device *d)
{
    if (d->mig)
        return (nvb_claim_device){.gpu_index = d->gpu->index, .mig_index = (int)d->mig->mig_index,
                                  .uuid = d->mig->uuid, .parent_uuid = d->gpu->uuid};
    return (nvb_claim_device){.gpu_index = d->gpu->index, .mig_index = -1, .uuid = d->gpu->uuid};
}

/* Targets for devices: each device in `mode` (virtual: whole GPUs shared, MIG devices
 * exclusive), plus a shared claim on the parent of every MIG device. tgt holds 2n. */
static size_t build_targets(const nvb_isolation_device *devs, size_t n, enum nvb_isolation iso, nvb_claim_target *tgt,
                            size_t *owner_of)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        enum nvb_claim_mode mode = iso == NVB_ISOLATION_EXCLUSIVE ? NVB_CLAIM_EXCLUSIVE : NVB_CLAIM_SHARED;
        if (devs[i].mig && iso == NVB_ISOLATION_VIRTUAL)
            mode = NVB_CLAIM_EXCLUSIVE; /* a MIG slice is the capsule's own */
        owner_of[m] = i;
        tgt[m++] = (nvb_claim_target){.device = claim_device(&devs[i]), .mode = mode};
        if (devs[i].mig) {
            owner_of[m] = i;
            tgt[m++] = (nvb_claim_target){
                .device = {.gpu_index = devs[i].gpu->index, .mig_index = -1, .uuid = devs[i].gpu->uuid},
                .mode = NVB_CLAIM_SHARED};
        }
    }
    return m;
}

/* Claim devs (whose MIG choices may still change: cand[i]/n_cand[i] are the MIG devices a
 * whole GPU i may become). On a busy MIG device, try that GPU's next one. */
static int claim_devices(const nvb_isolation_request *rq, nvb_isolation_device *devs, size_t n,
                         const nvb_mig_device *const *cand, const size_t *n_cand, nvb_err *err)
{
    bool picking = false;
    for (size_t i = 0; i < n; i++)
        picking |= n_cand[i] > 0;
    _cleanup_free_ nvb_claim_target *tgt = calloc(2 * n + 1, sizeof *tgt);
    _cleanup_free_ size_t *owner_of = calloc(2 * n + 1, sizeof *owner_of);
    _cleanup_free_ size_t *pick = calloc(n + 1, sizeof *pick);
    if (!tgt || !owner_of || !pick)
        return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    if (!picking) {
        size_t m = build_targets(devs, n, rq->isolation, tgt, owner_of);
        return nvb_claims_acquire(rq->state_dir, &rq->owner, tgt, m, rq->wait_seconds, NULL, err);
    }
    /* Choosing among MIG devices: try without waiting, moving to the next free candidate
     * on a busy one; when every combination is busy, wait a little and start over. */
    int64_t deadline = rq->wait_seconds > 0 ? nvb_mono_ms() + (int64_t)rq->wait_seconds * 1000 : -1;
    int backoff = MIG_RETRY_START_MS;
    for (;;) {
        for (size_t i = 0; i < n; i++) {
            pick[i] = 0;
            if (n_cand[i])
                devs[i].mig = cand[i * MAX_MIG_CANDIDATES];
        }
        for (;;) {
            size_t m = build_targets(devs, n, rq->isolation, tgt, owner_of), busy = 0;
            if (nvb_claims_acquire(rq->state_dir, &rq->owner, tgt, m, NVB_CLAIM_NO_WAIT, &busy, err) == 0)
                return 0;
            if (err->exit_code != NVB_EXIT_BUSY)
                return -1;
            size_t i = owner_of[busy];
            /* Only the MIG device itself being taken is worth another candidate; a parent
             * held exclusively blocks every MIG device of that GPU. */
            bool mig_target = tgt[busy].device.mig_index >= 0;
            if (!mig_target || n_cand[i] == 0 || pick[i] + 1 >= n_cand[i])
                break;
            pick[i]++;
            devs[i].mig = cand[i * MAX_MIG_CANDIDATES + pick[i]];
        }
        if (rq->wait_seconds == NVB_CLAIM_NO_WAIT)
            return -1;
        int64_t now = nvb_mono_ms();
        if (deadline >= 0 && now >= deadline) {
            char msg[sizeof err->msg];
            snprintf(msg, sizeof msg, "%s", err->msg);
            return nvb_errf(err, NVB_EXIT_BUSY, "%s; gave up after %d s", msg, rq->wait_seconds);
        }
        int t = backoff;
        if (deadline >= 0 && deadline - now < t)
            t = (int)(deadline - now);
        nvb_sleep_ms(t);
        backoff = backoff * 2 > MIG_RETRY_MAX_MS ? MIG_RETRY_MAX_MS : backoff * 2;
    }
}

static void describe_grant(char *buf, size_t len, const nvb_isolation_request *rq, const nvb_isolation_grant *g)
{
    size_t pos = 0;
#define ADD(...)                                                                                                       \
    do {                                                                                                               \
        if (pos < len) {                                                                                               \
            int k_ = snprintf(buf + pos, len - pos, __VA_ARGS__);                                                      \
            pos += k_ > 0 ? (size_t)k_ : 0;                                                                            \
        }                                                                                                              \
    } while (0)
    buf[0] = '\0';
    if (g->n_devices == 0)
        ADD("no devices requested");
    for (size_t i = 0; i < g->n_devices; i++) {
        const nvb_isolation_device *d = &g->devices[i];
        char dev[300];
        nvb_claim_device_describe(dev, sizeof dev, d->gpu->index, d->mig ? (int)d->mig->mig_index : -1,
                                  nvb_isolation_device_uuid(d));
        bool replaced = d->mig && !rq->devices[i].mig;
        ADD("%s%s %s%s", i ? ", " : "", rq->isolation == NVB_ISOLATION_EXCLUSIVE || (d->mig && rq->isolation == NVB_ISOLATION_VIRTUAL)
                                            ? "exclusive"
                                            : "shared",
            dev, replaced ? " in place of the whole GPU" : "");
    }
    for (size_t i = 0; i < g->edits.env.n; i++)
        if (strncmp(g->edits.env.v[i], "CUDA_MPS_", 9) == 0 && !strstr(g->edits.env.v[i], "_DIRECTORY="))
            ADD("; %s", g->edits.env.v[i]);
    for (size_t i = 0; i < g->warnings.n; i++)
        ADD("; warning: %s", g->warnings.v[i]);
#undef ADD
}

static int audit(const nvb_isolation_request *rq, const nvb_isolation_device *devs, size_t n, bool grant,
                 const char *reason, nvb_err *err)
{
    if (rq->audit_log && !*rq->audit_log)
        return 0;
    const char **uuids = calloc(n + 1, sizeof *uuids);
    if (!uuids)
        return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    for (size_t i = 0; i < n; i++)
        uuids[i] = nvb_isolation_device_uuid(&devs[i]);
    nvb_audit_event ev = {
        .container = rq->owner.container,
        .runtime = rq->owner.runtime,
        .devices = uuids,
        .n_devices = n,
        .profile = rq->profile,
        .isolation = nvb_isolation_name(rq->isolation),
        .grant = grant,
        .reason = reason,
    };
    int r = nvb_audit_append(rq->audit_log, &ev, err);
    free(uuids);
    return r;
}

/* A denial: audit it, keeping the reason in err (and saying so if the audit failed too). */
static int deny(const nvb_isolation_request *rq, nvb_err *err)
{
    nvb_err aerr = {0};
    char reason[sizeof err->msg];
    snprintf(reason, sizeof reason, "%s", err->msg);
    nvb_log(NVB_LOG_INFO, "claim for container %s denied: %s", rq->owner.container ? rq->owner.container : "(none)",
            reason);
    if (audit(rq, rq->devices, rq->n_devices, false, reason, &aerr) < 0) {
        int code = err->exit_code;
        nvb_errf(err, code, "%s (and the denial could not be audited: %s)", reason, aerr.msg);
    }
    return -1;
}

int nvb_isolation_acquire(const nvb_isolation_request *rq, nvb_isolation_grant *out, nvb_err *err)
{
    nvb_err local = {0};
    if (!err)
        err = &local; /* the denial's reason goes to the audit log either way */
    memset(out, 0, sizeof *out);
    if (rq->isolation != NVB_ISOLATION_SHARED && rq->isolation != NVB_ISOLATION_EXCLUSIVE &&
        rq->isolation != NVB_ISOLATION_VIRTUAL)
        return nvb_errf(err, NVB_EXIT_USAGE, "unknown isolation level %d", (int)rq->isolation);
    out->devices = calloc(rq->n_devices + 1, sizeof *out->devices);
    out->state_dir = strdup(rq->state_dir ? rq->state_dir : NVB_CLAIMS_DEFAULT_DIR);
    out->container = rq->owner.container ? strdup(rq->owner.container) : NULL;
    out->holder_pid = rq->owner.holder_pid > 0 ? rq->owner.holder_pid : getpid(); /* as the claims record it */
    out->holder_start = nvb_proc_start_time(out->holder_pid);
    _cleanup_free_ const nvb_mig_device **cand = calloc(rq->n_devices * MAX_MIG_CANDIDATES + 1, sizeof *cand);
    _cleanup_free_ size_t *n_cand = calloc(rq->n_devices + 1, sizeof *n_cand);
    if (!out->devices || !out->state_dir || !cand || !n_cand || (rq->owner.container && !out->container)) {
        nvb_isolation_grant_clear(out);
        return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    }
    out->n_devices = rq->n_devices;
    bool any_mig = false;
    for (size_t i = 0; i < rq->n_devices; i++) {
        if (!rq->devices[i].gpu) {
            nvb_isolation_grant_clear(out);
            return nvb_errf(err, NVB_EXIT_USAGE, "isolation request: device %zu has no GPU", i);
        }
        out->devices[i] = rq->devices[i];
        if (rq->isolation == NVB_ISOLATION_VIRTUAL && !rq->devices[i].mig) {
            size_t k = nvb_virtual_mig_candidates(rq->devices[i].gpu, &rq->virt, &cand[i * MAX_MIG_CANDIDATES],
                                                  MAX_MIG_CANDIDATES);
            n_cand[i] = k < MAX_MIG_CANDIDATES ? k : MAX_MIG_CANDIDATES;
        }
        any_mig |= rq->devices[i].mig || n_cand[i];
    }
    /* MPS first: a virtual capsule that cannot get its limits is denied before it claims. */
    if (rq->isolation == NVB_ISOLATION_VIRTUAL && !any_mig) {
        if (nvb_virtual_mps_edits(rq->host, &rq->virt, rq->n_devices, &out->edits, &out->warnings, err) < 0) {
            nvb_isolation_grant_clear(out);
            return deny(rq, err);
        }
    } else if (rq->isolation == NVB_ISOLATION_VIRTUAL && (rq->virt.memory_limit || rq->virt.compute_percent)) {
        nvb_strv_pushf(&out->warnings, "MIG devices carry their own memory and compute share: gpu_memory_limit and compute_limit are not applied through MPS");
    }
    if (rq->n_devices) {
        if (claim_devices(rq, out->devices, out->n_devices, cand, n_cand, err) < 0) {
            nvb_isolation_grant_clear(out);
            return deny(rq, err);
        }
        out->claimed = true;
    }
    char reason[2048];
    describe_grant(reason, sizeof reason, rq, out);
    nvb_log(NVB_LOG_INFO, "claim taken for container %s: %s (state %s)",
            rq->owner.container ? rq->owner.container : "(none)", reason,
            out->claimed ? (rq->state_dir ? rq->state_dir : NVB_CLAIMS_DEFAULT_DIR) : "none: nothing to claim");
    if (audit(rq, out->devices, out->n_devices, true, reason, err) < 0) {
        /* A grant nobody can audit is not given. */
        nvb_isolation_release(out, NULL);
        nvb_isolation_grant_clear(out);
        return -1;
    }
    return 0;
}

int nvb_isolation_release(nvb_isolation_grant *g, nvb_err *err)
{
    if (!g->claimed || !g->container)
        return 0;
    g->claimed = false;
    return nvb_claims_release_holder(g->state_dir, g->container, g->holder_pid, g->holder_start, err) < 0 ? -1 : 0;
}

void nvb_isolation_grant_clear(nvb_isolation_grant *g)
{
    free(g->devices);
    nvb_edits_clear(&g->edits);
    nvb_strv_free(&g->warnings);
    free(g->state_dir);
    free(g->container);
    memset(g, 0, sizeof *g);
}
