/* GPU usage through NVML, on a worker thread with a deadline (see nvml_sample.h). The NVML
 * declarations are the few this file needs, from NVML's public ABI. */
#include "metrics/nvml_sample.h"
#include "util/grow.h"
#include "util/trust.h"
#include "util/worker.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int nvmlReturn_t; /* 0 = NVML_SUCCESS */
typedef struct nvmlDevice_st *nvmlDevice_t;
#define NVML_ERROR_INSUFFICIENT_SIZE 7
#define NVML_TEMPERATURE_GPU 0
#define NVML_CLOCK_SM 1
#define NVML_CLOCK_MEM 2
#define NVML_PCIE_UTIL_TX_BYTES 0
#define NVML_PCIE_UTIL_RX_BYTES 1

typedef struct {
    unsigned long long total, free, used;
} nvmlMemory_t;
typedef struct {
    unsigned gpu, memory;
} nvmlUtilization_t;
/* nvmlProcessInfo_t of the _v2/_v3 process queries. */
typedef struct {
    unsigned pid;
    unsigned long long usedGpuMemory;
    unsigned gpuInstanceId, computeInstanceId;
} nvmlProcessInfo_t;
typedef nvmlReturn_t (*procs_fn)(nvmlDevice_t, unsigned *, nvmlProcessInfo_t *);
typedef struct nvmlEventSet_st *nvmlEventSet_t;
typedef struct {
    nvmlDevice_t device;
    unsigned long long eventType, eventData;
    unsigned gpuInstanceId, computeInstanceId;
} nvmlEventData_t;
#define NVML_EVENT_TYPE_XID_CRITICAL_ERROR 0x8ull
#define XID_WATCH_MAX 64
#define XID_DRAIN_MAX 1024 /* events taken per sample; the rest wait for the next */

struct api {
    nvmlReturn_t (*init)(void);
    nvmlReturn_t (*shutdown)(void);
    const char *(*error_string)(nvmlReturn_t);
    nvmlReturn_t (*by_uuid)(const char *, nvmlDevice_t *);
    nvmlReturn_t (*memory)(nvmlDevice_t, nvmlMemory_t *);
    nvmlReturn_t (*util)(nvmlDevice_t, nvmlUtilization_t *);
    nvmlReturn_t (*temp)(nvmlDevice_t, int, unsigned *);
    nvmlReturn_t (*power)(nvmlDevice_t, unsigned *);
    nvmlReturn_t (*energy)(nvmlDevice_t, unsigned long long *);
    nvmlReturn_t (*clock)(nvmlDevice_t, int, unsigned *);
    nvmlReturn_t (*pcie)(nvmlDevice_t, int, unsigned *);
    procs_fn compute_procs, graphics_procs;
    nvmlReturn_t (*event_set_create)(nvmlEventSet_t *);
    nvmlReturn_t (*register_events)(nvmlDevice_t, unsigned long long, nvmlEventSet_t);
    nvmlReturn_t (*event_wait)(nvmlEventSet_t, nvmlEventData_t *, unsigned);
    nvmlReturn_t (*event_set_free)(nvmlEventSet_t);
};

/* XID errors need NVML open between samples (an event set): --interval only. */
struct xid_watch {
    char uuid[96];
    nvmlDevice_t dev;
    int64_t last;     /* the last XID seen, 0 when none yet */
    int64_t count;
};

struct nvb_nvml_sampler {
    pthread_mutex_t lock;
    char lib[4096];
    bool keep_open;
    bool loaded, initialized; /* touched by one worker at a time */
    bool busy;                /* a worker runs (or hangs) */
    bool orphan;              /* freed by its owner while busy: the worker frees it */
    struct api a;
    nvmlEventSet_t events;    /* keep_open: the XID event set, NULL when NVML has none */
    struct xid_watch xids[XID_WATCH_MAX];
    size_t n_xids;
};

struct job {
    pthread_mutex_t lock;
    int refs;
    bool ok;             /* read once the worker is joined */
    char why[512];
    nvb_nvml_sampler *s;
    size_t n;
    char (*uuids)[96];
    nvb_gpu_sample *res;
};

nvb_nvml_sampler *nvb_nvml_sampler_new(const char *lib_path, bool keep_open)
{
    nvb_nvml_sampler *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    pthread_mutex_init(&s->lock, NULL);
    snprintf(s->lib, sizeof s->lib, "%s", lib_path ? lib_path : "");
    s->keep_open = keep_open;
    return s;
}

static void sampler_destroy(nvb_nvml_sampler *s)
{
    if (s->events && s->a.event_set_free)
        s->a.event_set_free(s->events);
    if (s->initialized && s->a.shutdown)
        s->a.shutdown();
    pthread_mutex_destroy(&s->lock);
    free(s);
}

void nvb_nvml_sampler_free(nvb_nvml_sampler *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    bool busy = s->busy;
    s->orphan = busy;
    pthread_mutex_unlock(&s->lock);
    if (!busy)
        sampler_destroy(s);
}

void nvb_gpu_samples_clear(nvb_gpu_sample *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
        free(v[i].procs);
        v[i].procs = NULL;
        v[i].n_procs = v[i].n_procs_dropped = 0;
    }
}

static void job_unref(struct job *j)
{
    pthread_mutex_lock(&j->lock);
    int left = --j->refs;
    pthread_mutex_unlock(&j->lock);
    if (left)
        return;
    nvb_gpu_samples_clear(j->res, j->n);
    free(j->res);
    free(j->uuids);
    pthread_mutex_destroy(&j->lock);
    free(j);
}

static bool load_api(void *h, struct api *a)
{
#define SYM(field, name) (*(void **)&a->field = dlsym(h, name))
    SYM(init, "nvmlInit_v2");
    SYM(shutdown, "nvmlShutdown");
    SYM(error_string, "nvmlErrorString");
    SYM(by_uuid, "nvmlDeviceGetHandleByUUID");
    SYM(memory, "nvmlDeviceGetMemoryInfo");
    SYM(util, "nvmlDeviceGetUtilizationRates");
    SYM(temp, "nvmlDeviceGetTemperature");
    SYM(power, "nvmlDeviceGetPowerUsage");
    SYM(energy, "nvmlDeviceGetTotalEnergyConsumption");
    SYM(clock, "nvmlDeviceGetClockInfo");
    SYM(pcie, "nvmlDeviceGetPcieThroughput");
    SYM(compute_procs, "nvmlDeviceGetComputeRunningProcesses_v3");
    if (!a->compute_procs)
        SYM(compute_procs, "nvmlDeviceGetComputeRunningProcesses_v2");
    SYM(graphics_procs, "nvmlDeviceGetGraphicsRunningProcesses_v3");
    if (!a->graphics_procs)
        SYM(graphics_procs, "nvmlDeviceGetGraphicsRunningProcesses_v2");
    SYM(event_set_create, "nvmlEventSetCreate");
    SYM(register_events, "nvmlDeviceRegisterEvents");
    SYM(event_wait, "nvmlEventSetWait_v2");
    SYM(event_set_free, "nvmlEventSetFree");
#undef SYM
    return a->init && a->shutdown && a->by_uuid;
}

/* NVML's two-call protocol, retried when processes start between the calls. */
static void add_procs(procs_fn fn, nvmlDevice_t dev, bool graphics, nvb_gpu_sample *r)
{
    unsigned count = 0;
    nvmlProcessInfo_t *buf = NULL;
    nvmlReturn_t rc = fn(dev, &count, NULL);
    for (int tries = 0; rc == NVML_ERROR_INSUFFICIENT_SIZE && tries < 3; tries++) {
        free(buf);
        count += 8;
        if (count > NVB_SAMPLE_MAX_PROCS * 2 || !(buf = calloc(count, sizeof *buf)))
            return;
        rc = fn(dev, &count, buf);
    }
    size_t cap = r->n_procs;
    for (unsigned i = 0; rc == 0 && buf && i < count; i++) {
        if (r->n_procs >= NVB_SAMPLE_MAX_PROCS) {
            r->n_procs_dropped++;
            continue;
        }
        nvb_gpu_proc *v = nvb_grow(r->procs, &cap, r->n_procs, sizeof *v, 8);
        if (!v)
            break;
        r->procs = v;
        v[r->n_procs++] = (nvb_gpu_proc){.pid = buf[i].pid,
                                         .used_bytes = buf[i].usedGpuMemory == ~0ull ? UINT64_MAX : buf[i].usedGpuMemory,
                                         .graphics = graphics};
    }
    free(buf);
}

/* The value a query left in v, -1 when it failed (v is read after the call, never as a
 * second argument beside it: C leaves that order open). */
static int64_t u32_result(nvmlReturn_t rc, const unsigned *v)
{
    return rc == 0 ? (int64_t)*v : -1;
}
#define ASK(call, v) ({ nvmlReturn_t rc_ = (call); u32_result(rc_, &(v)); })

static void query_gpu(const struct api *a, nvmlDevice_t dev, nvb_gpu_sample *r)
{
    nvmlMemory_t mem;
    if (a->memory && a->memory(dev, &mem) == 0) {
        r->fb_total_mib = (int64_t)(mem.total >> 20);
        r->fb_used_mib = (int64_t)(mem.used >> 20);
        r->fb_free_mib = (int64_t)(mem.free >> 20);
    }
    nvmlUtilization_t u;
    if (a->util && a->util(dev, &u) == 0) {
        r->gpu_util = u.gpu;
        r->mem_util = u.memory;
    }
    unsigned v = 0;
    if (a->temp)
        r->temp_c = ASK(a->temp(dev, NVML_TEMPERATURE_GPU, &v), v);
    if (a->power)
        r->power_mw = ASK(a->power(dev, &v), v);
    if (a->clock) {
        r->sm_clock_mhz = ASK(a->clock(dev, NVML_CLOCK_SM, &v), v);
        r->mem_clock_mhz = ASK(a->clock(dev, NVML_CLOCK_MEM, &v), v);
    }
    if (a->pcie) {
        r->pcie_tx_kbps = ASK(a->pcie(dev, NVML_PCIE_UTIL_TX_BYTES, &v), v);
        r->pcie_rx_kbps = ASK(a->pcie(dev, NVML_PCIE_UTIL_RX_BYTES, &v), v);
    }
    unsigned long long e;
    if (a->energy && a->energy(dev, &e) == 0 && e <= INT64_MAX)
        r->energy_mj = (int64_t)e;
    if (a->compute_procs)
        add_procs(a->compute_procs, dev, false, r);
    if (a->graphics_procs)
        add_procs(a->graphics_procs, dev, true, r);
}

/* The watch of a GPU, registered for XID events the first time it is seen. */
static struct xid_watch *xid_watch_of(nvb_nvml_sampler *s, const char *uuid, nvmlDevice_t dev)
{
    for (size_t i = 0; i < s->n_xids; i++)
        if (strcmp(s->xids[i].uuid, uuid) == 0)
            return &s->xids[i];
    if (s->n_xids >= XID_WATCH_MAX || s->a.register_events(dev, NVML_EVENT_TYPE_XID_CRITICAL_ERROR, s->events) != 0)
        return NULL;
    struct xid_watch *w = &s->xids[s->n_xids++];
    snprintf(w->uuid, sizeof w->uuid, "%s", uuid);
    w->dev = dev;
    return w;
}

/* Take the XID events that arrived since the last sample, without waiting. */
static void drain_xids(nvb_nvml_sampler *s)
{
    nvmlEventData_t ev;
    for (int n = 0; n < XID_DRAIN_MAX && s->a.event_wait(s->events, &ev, 0) == 0; n++) {
        if (!(ev.eventType & NVML_EVENT_TYPE_XID_CRITICAL_ERROR))
            continue;
        for (size_t i = 0; i < s->n_xids; i++)
            if (s->xids[i].dev == ev.device) {
                s->xids[i].last = (int64_t)ev.eventData;
                s->xids[i].count++;
            }
    }
}

static bool events_usable(nvb_nvml_sampler *s)
{
    if (!s->keep_open || !s->a.event_set_create || !s->a.register_events || !s->a.event_wait)
        return false;
    if (!s->events && s->a.event_set_create(&s->events) != 0)
        s->events = NULL;
    return s->events != NULL;
}

static bool run_sample(nvb_nvml_sampler *s, struct job *j)
{
    if (!s->loaded) {
        /* The exporter runs as root: only a file nobody but root and the caller could have
         * written is loaded into it (util/trust.h). */
        char reason[512];
        if (nvb_trust_library(s->lib, false, reason, sizeof reason) != 0) {
            snprintf(j->why, sizeof j->why, "NVML: not loaded: %.400s", reason);
            return false;
        }
        /* The library stays loaded: unloading NVML while its threads may linger is unsafe. */
        void *h = dlopen(s->lib, RTLD_NOW | RTLD_LOCAL);
        if (!h || !load_api(h, &s->a)) {
            snprintf(j->why, sizeof j->why, "NVML: %.200s: %.200s", s->lib, h ? "not an NVML library" : dlerror());
            return false;
        }
        s->loaded = true;
    }
    if (!s->initialized) {
        nvmlReturn_t rc = s->a.init();
        if (rc != 0) {
            snprintf(j->why, sizeof j->why, "NVML: nvmlInit failed: %s",
                     s->a.error_string ? s->a.error_string(rc) : "error");
            return false;
        }
        s->initialized = true;
    }
    bool xids = events_usable(s);
    for (size_t i = 0; i < j->n; i++) {
        nvmlDevice_t dev;
        if (s->a.by_uuid(j->uuids[i], &dev) != 0)
            continue;
        j->res[i].found = true;
        query_gpu(&s->a, dev, &j->res[i]);
        if (xids)
            xid_watch_of(s, j->uuids[i], dev);
    }
    if (xids)
        drain_xids(s);
    for (size_t i = 0; xids && i < j->n; i++)
        for (size_t k = 0; k < s->n_xids; k++)
            if (strcmp(s->xids[k].uuid, j->uuids[i]) == 0) {
                j->res[i].xid_last = s->xids[k].last;
                j->res[i].xid_count = s->xids[k].count;
            }
    if (!s->keep_open) {
        s->a.shutdown();
        s->initialized = false;
    }
    return true;
}

static void *worker(void *arg)
{
    struct job *j = arg;
    nvb_nvml_sampler *s = j->s;
    j->ok = run_sample(s, j);
    pthread_mutex_lock(&s->lock);
    s->busy = false;
    bool orphan = s->orphan;
    pthread_mutex_unlock(&s->lock);
    if (orphan)
        sampler_destroy(s);
    job_unref(j);
    return NULL;
}

static void blank(nvb_gpu_sample *r)
{
    *r = (nvb_gpu_sample){.gpu_util = -1, .mem_util = -1, .fb_used_mib = -1, .fb_free_mib = -1,
                          .fb_total_mib = -1, .temp_c = -1, .power_mw = -1, .energy_mj = -1,
                          .sm_clock_mhz = -1, .mem_clock_mhz = -1, .pcie_tx_kbps = -1, .pcie_rx_kbps = -1,
                          .xid_last = -1, .xid_count = -1};
}

static struct job *job_new(nvb_nvml_sampler *s, const char *const *uuids, size_t n)
{
    struct job *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    pthread_mutex_init(&j->lock, NULL);
    j->refs = 2;
    j->s = s;
    j->n = n;
    j->uuids = calloc(n + 1, sizeof *j->uuids);
    j->res = calloc(n + 1, sizeof *j->res);
    if (!j->uuids || !j->res) {
        j->refs = 1;
        job_unref(j);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        snprintf(j->uuids[i], sizeof j->uuids[i], "%s", uuids[i]);
        blank(&j->res[i]);
    }
    return j;
}

/* The job on its own thread, s busy until it ends: 1 done, 0 still running at the deadline,
 * -1 not started. */
static int run_job(nvb_nvml_sampler *s, struct job *j, unsigned timeout_ms)
{
    pthread_mutex_lock(&s->lock);
    s->busy = true;
    pthread_mutex_unlock(&s->lock);
    int ran = nvb_run_bounded(worker, j, timeout_ms);
    if (ran < 0) {
        pthread_mutex_lock(&s->lock);
        s->busy = false;
        pthread_mutex_unlock(&s->lock);
    }
    return ran;
}

int nvb_nvml_sample(nvb_nvml_sampler *s, const char *const *uuids, size_t n, unsigned timeout_ms,
                    nvb_gpu_sample *out, char *why, size_t why_len)
{
    for (size_t i = 0; i < n; i++)
        blank(&out[i]);
    if (!s->lib[0]) {
        snprintf(why, why_len, "NVML: libnvidia-ml.so.1 not found in the driver root");
        return -1;
    }
    pthread_mutex_lock(&s->lock);
    bool busy = s->busy;
    pthread_mutex_unlock(&s->lock);
    if (busy) {
        snprintf(why, why_len, "NVML: %.200s has not answered an earlier request yet", s->lib);
        return -1;
    }
    struct job *j = job_new(s, uuids, n);
    int ran = j ? run_job(s, j, timeout_ms) : -1;
    if (ran < 0) {
        if (j) {
            j->refs = 1;
            job_unref(j);
        }
        snprintf(why, why_len, "NVML: cannot start its thread: out of resources");
        return -1;
    }
    int rc = -1;
    if (ran == 0) {
        snprintf(why, why_len, "NVML: %.200s did not answer within %u ms", s->lib, timeout_ms);
    } else if (!j->ok) {
        snprintf(why, why_len, "%s", j->why);
    } else {
        /* The results move to the caller: the job frees only what is left. */
        memcpy(out, j->res, n * sizeof *out);
        for (size_t i = 0; i < n; i++)
            j->res[i].procs = NULL;
        rc = 0;
    }
    job_unref(j);
    return rc;
}
