/* The GPUs of a WSL2 host and the driver's version, from NVML: WSL2 has no
 * /proc/driver/nvidia, so NVML (from /usr/lib/wsl, the library the Windows driver maps in)
 * is the only source. Bounded like nvml.c's enrichment: the calls run on a worker thread (or
 * in the nvbind-helper helper, util/isolate.h) and a NVML that does not answer in time is left
 * behind, never waited for. */
#include "host/discover.h"
#include "host/wsl2.h"
#include "util/trust.h"
#include "util/isolate.h"
#include "util/worker.h"

#include <dlfcn.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* From NVML's public ABI: the parts this lister calls. */
typedef int nvmlReturn_t;
typedef struct nvmlDevice_st *nvmlDevice_t;
typedef struct {
    char bus_id_legacy[16];
    unsigned domain, bus, device, pci_device_id, pci_subsystem_id;
    char bus_id[32];
} nvmlPciInfo_t;

#define MAX_GPUS 64

struct gpu_row {
    char uuid[96], name[96], bus_id[32];
};

/* What the lister answers; nvbind-helper writes it as it is (both sides are one build's). */
struct list_answer {
    int32_t ok;
    char version[96];
    uint32_t n;
    struct gpu_row rows[MAX_GPUS];
};

/* Shared by the caller and the worker; whoever finishes last frees it. */
struct list_job {
    pthread_mutex_t lock;
    int refs;
    char lib[4096];
    struct list_answer a; /* read once the worker is joined */
};

static void job_unref(struct list_job *job)
{
    pthread_mutex_lock(&job->lock);
    int left = --job->refs;
    pthread_mutex_unlock(&job->lock);
    if (left == 0)
        free(job);
}

struct api {
    nvmlReturn_t (*init)(void);
    nvmlReturn_t (*shutdown)(void);
    nvmlReturn_t (*version)(char *, unsigned);
    nvmlReturn_t (*count)(unsigned *);
    nvmlReturn_t (*by_index)(unsigned, nvmlDevice_t *);
    nvmlReturn_t (*uuid)(nvmlDevice_t, char *, unsigned);
    nvmlReturn_t (*name)(nvmlDevice_t, char *, unsigned);
    nvmlReturn_t (*pci)(nvmlDevice_t, nvmlPciInfo_t *);
};

static bool load(void *h, struct api *a)
{
#define SYM(field, sym) (*(void **)&a->field = dlsym(h, sym))
    SYM(init, "nvmlInit_v2");
    SYM(shutdown, "nvmlShutdown");
    SYM(version, "nvmlSystemGetDriverVersion");
    SYM(count, "nvmlDeviceGetCount_v2");
    SYM(by_index, "nvmlDeviceGetHandleByIndex_v2");
    SYM(uuid, "nvmlDeviceGetUUID");
    SYM(name, "nvmlDeviceGetName");
    if (!SYM(pci, "nvmlDeviceGetPciInfo_v3"))
        SYM(pci, "nvmlDeviceGetPciInfo_v2");
#undef SYM
    return a->init && a->shutdown && a->count && a->by_index && a->uuid;
}

static void list_gpus(const struct api *a, struct list_answer *job)
{
    unsigned count = 0;
    if (a->version && a->version(job->version, sizeof job->version) != 0)
        job->version[0] = '\0';
    if (a->count(&count) != 0)
        return;
    for (unsigned i = 0; i < count && job->n < MAX_GPUS; i++) {
        nvmlDevice_t dev;
        struct gpu_row *row = &job->rows[job->n];
        nvmlPciInfo_t pci;
        if (a->by_index(i, &dev) != 0 || a->uuid(dev, row->uuid, sizeof row->uuid) != 0 || !row->uuid[0])
            continue;
        if (!a->name || a->name(dev, row->name, sizeof row->name) != 0)
            snprintf(row->name, sizeof row->name, "NVIDIA GPU");
        memset(&pci, 0, sizeof pci);
        if (a->pci && a->pci(dev, &pci) == 0) /* Linux's spelling: a four-digit domain, lower case */
            snprintf(row->bus_id, sizeof row->bus_id, "%04x:%02x:%02x.0", pci.domain & 0xffff, pci.bus & 0xff,
                     pci.device & 0x1f);
        job->n++;
    }
}

/* Loads NVML from lib and lists its GPUs into *ans: on a worker thread, or in nvbind-helper. */
static void list_with(const char *lib, struct list_answer *ans)
{
    struct api a = {0};
    void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
    if (h && load(h, &a) && a.init() == 0) {
        list_gpus(&a, ans);
        a.shutdown();
        ans->ok = 1;
    }
    /* The library stays loaded: unloading NVML while its threads may linger is unsafe. */
}

static void *worker(void *arg)
{
    struct list_job *job = arg;
    list_with(job->lib, &job->a);
    job_unref(job);
    return NULL;
}

int nvb_wsl2_nvml_serve(const void *in, size_t in_len, void **out, size_t *out_len)
{
    if (in_len == 0 || in_len > 4096 || ((const char *)in)[in_len - 1] != '\0')
        return -1;
    struct list_answer *ans = calloc(1, sizeof *ans);
    if (!ans)
        return -1;
    list_with(in, ans);
    *out = ans;
    *out_len = sizeof *ans;
    return 0;
}

/* The GPUs the worker listed into the host model, each reached through /dev/dxg. */
static int apply(nvb_discovery *d, const struct list_answer *job)
{
    nvb_host *h = d->h;
    if (job->version[0] && !(h->driver_version = strdup(job->version)))
        return -1;
    if (!job->n)
        return 0;
    if (!(h->gpus = calloc(job->n, sizeof *h->gpus)))
        return -1;
    for (unsigned i = 0; i < job->n; i++) {
        nvb_gpu *g = &h->gpus[i];
        h->n_gpus = i + 1;
        *g = (nvb_gpu){.index = i, .minor = i, .numa_node = -1, .memory_mib = -1, .cc_major = -1, .cc_minor = -1,
                       .mig_mode = -1};
        g->uuid = strdup(job->rows[i].uuid);
        g->name = strdup(job->rows[i].name);
        g->pci_bus_id = strdup(job->rows[i].bus_id[0] ? job->rows[i].bus_id : "unknown");
        if (!g->uuid || !g->name || !g->pci_bus_id)
            return -1;
        for (size_t n = 0; n < h->wsl2_nodes.n; n++)
            if (nvb_devnode_list_add(&g->nodes, &h->wsl2_nodes.v[n]) < 0)
                return -1;
    }
    return 0;
}

int nvb_wsl2_nvml_list(nvb_discovery *d, const char *lib_host_path, unsigned timeout_ms)
{
    /* dlopen runs the library's code in this process, on every discovery of a WSL2 guest (no
     * other source of GPUs there): only a file nobody but root and the caller could have
     * written is loaded (WSL's own are root's, on read-only mounts). */
    char why[768];
    if (nvb_trust_library(lib_host_path, true, why, sizeof why) != 0) {
        nvb_strv_pushf(&d->h->warnings, "NVML: not loaded: %s", why);
        return -1;
    }
    struct list_job *job = calloc(1, sizeof *job);
    if (!job)
        return -1;
    pthread_mutex_init(&job->lock, NULL);
    job->refs = 2;
    snprintf(job->lib, sizeof job->lib, "%s", lib_host_path);
    int ran;
    if (nvb_isolate_wanted()) {
        ran = nvb_isolated_call("nvml-wsl2", job->lib, strlen(job->lib) + 1, &job->a, sizeof job->a, timeout_ms, why,
                                sizeof why);
        if (ran < 0)
            nvb_strv_pushf(&d->h->warnings, "NVML: not asked: %s", why);
        job->refs = 1; /* no worker holds it */
    } else {
        ran = nvb_nvml_run_bounded(d, job->lib, worker, job, timeout_ms);
    }
    if (ran < 0) {
        job->refs = 1;
        job_unref(job);
        return -1;
    }
    bool done = ran == 1;
    int rc = -1;
    if (!done)
        nvb_strv_pushf(&d->h->warnings, "NVML: %s did not answer within %u ms; continuing without it", job->lib,
                       timeout_ms);
    else if (job->a.ok)
        rc = apply(d, &job->a);
    job_unref(job);
    return rc;
}
