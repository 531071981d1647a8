#include "k8s/xid.h"
#include "host/host.h"
#include "util/trust.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* From NVML's public API. */
typedef int nvmlReturn_t;
typedef struct nvmlDevice_st *nvmlDevice_t;
typedef struct nvmlEventSet_st *nvmlEventSet_t;
typedef struct {
    nvmlDevice_t device;
    unsigned long long eventType;
    unsigned long long eventData;
    unsigned int gpuInstanceId;
    unsigned int computeInstanceId;
} nvmlEventData_t;
typedef struct {
    char busIdLegacy[16];
    unsigned int domain, bus, device, pciDeviceId, pciSubSystemId;
    char busId[32];
} nvmlPciInfo_t;
#define NVML_NVLINK_MAX_LINKS 18
#define NVML_EVENT_XID_CRITICAL 0x8ull
#define NVML_ERROR_TIMEOUT 10
#define WAIT_MS 500

struct nvml_fns {
    nvmlReturn_t (*init)(void);
    nvmlReturn_t (*count)(unsigned *);
    nvmlReturn_t (*by_index)(unsigned, nvmlDevice_t *);
    nvmlReturn_t (*uuid)(nvmlDevice_t, char *, unsigned);
    nvmlReturn_t (*set_create)(nvmlEventSet_t *);
    nvmlReturn_t (*reg)(nvmlDevice_t, unsigned long long, nvmlEventSet_t);
    nvmlReturn_t (*wait)(nvmlEventSet_t, nvmlEventData_t *, unsigned);
    nvmlReturn_t (*set_free)(nvmlEventSet_t);
    nvmlReturn_t (*link_state)(nvmlDevice_t, unsigned, int *);
    nvmlReturn_t (*link_remote)(nvmlDevice_t, unsigned, nvmlPciInfo_t *);
};

/* Shared by the plugin and the thread; the last one to let go frees it. */
struct nvb_dp_xid {
    pthread_mutex_t lock;
    int refs;
    bool stop;
    char lib[4096];
    nvb_strv events;
    nvb_strv links;
};

static void unref(nvb_dp_xid *x)
{
    pthread_mutex_lock(&x->lock);
    int left = --x->refs;
    pthread_mutex_unlock(&x->lock);
    if (left == 0) {
        nvb_strv_free(&x->events);
        nvb_strv_free(&x->links);
        free(x);
    }
}

/* XIDs an application causes (its own bad memory access, a graphics engine exception, a
 * reset channel after a fault...): the GPU itself is fine. Listed in NVIDIA's XID catalogue. */
static bool application_xid(unsigned long long xid)
{
    static const unsigned long long app[] = {13, 31, 43, 45, 68, 109};
    for (size_t i = 0; i < sizeof app / sizeof app[0]; i++)
        if (app[i] == xid)
            return true;
    return false;
}

static bool load(void *h, struct nvml_fns *f)
{
#define SYM(field, name) (*(void **)&f->field = dlsym(h, name))
    SYM(init, "nvmlInit_v2");
    SYM(count, "nvmlDeviceGetCount_v2");
    SYM(by_index, "nvmlDeviceGetHandleByIndex_v2");
    SYM(uuid, "nvmlDeviceGetUUID");
    SYM(set_create, "nvmlEventSetCreate");
    SYM(reg, "nvmlDeviceRegisterEvents");
    SYM(wait, "nvmlEventSetWait_v2");
    SYM(set_free, "nvmlEventSetFree");
    SYM(link_state, "nvmlDeviceGetNvLinkState");
    SYM(link_remote, "nvmlDeviceGetNvLinkRemotePciInfo_v2");
#undef SYM
    return f->init && f->count && f->by_index && f->uuid && f->set_create && f->reg && f->wait && f->set_free;
}

static bool stopping(nvb_dp_xid *x)
{
    pthread_mutex_lock(&x->lock);
    bool s = x->stop;
    pthread_mutex_unlock(&x->lock);
    return s;
}

static void watch(nvb_dp_xid *x, const struct nvml_fns *f, nvmlEventSet_t set)
{
    while (!stopping(x)) {
        nvmlEventData_t ev;
        nvmlReturn_t r = f->wait(set, &ev, WAIT_MS);
        if (r == NVML_ERROR_TIMEOUT)
            continue;
        if (r != 0) {
            fprintf(stderr, "nvbind device-plugin: NVML stopped delivering events (error %d): health from discovery alone\n", r);
            return;
        }
        char uuid[96];
        if (!(ev.eventType & NVML_EVENT_XID_CRITICAL) || application_xid(ev.eventData) ||
            f->uuid(ev.device, uuid, sizeof uuid) != 0)
            continue;
        pthread_mutex_lock(&x->lock);
        nvb_strv_pushf(&x->events, "%s %llu", uuid, ev.eventData);
        pthread_mutex_unlock(&x->lock);
    }
}

/* Each active NVLink of GPU d, as "UUID peer-bus-id" (GPUs without NVLink say so per link). */
static void read_links(nvb_dp_xid *x, const struct nvml_fns *f, nvmlDevice_t d)
{
    char uuid[96];
    if (!f->link_state || !f->link_remote || f->uuid(d, uuid, sizeof uuid) != 0)
        return;
    for (unsigned l = 0; l < NVML_NVLINK_MAX_LINKS; l++) {
        int active = 0;
        nvmlPciInfo_t pci;
        unsigned dom, bus, dev, fn;
        if (f->link_state(d, l, &active) != 0 || !active || f->link_remote(d, l, &pci) != 0 ||
            sscanf(pci.busId, "%x:%x:%x.%x", &dom, &bus, &dev, &fn) != 4)
            continue;
        pthread_mutex_lock(&x->lock);
        nvb_strv_pushf(&x->links, "%s %04x:%02x:%02x.%x", uuid, dom & 0xffffu, bus, dev, fn);
        pthread_mutex_unlock(&x->lock);
    }
}

static void *thread_main(void *arg)
{
    nvb_dp_xid *x = arg;
    struct nvml_fns f = {0};
    nvmlEventSet_t set = NULL;
    unsigned n = 0, watched = 0;
    /* The library stays loaded: unloading NVML while its threads may linger is unsafe. */
    void *h = dlopen(x->lib, RTLD_NOW | RTLD_LOCAL);
    if (!h || !load(h, &f) || f.init() != 0 || f.count(&n) != 0 || f.set_create(&set) != 0) {
        fprintf(stderr, "nvbind device-plugin: NVML (%s) not usable for XID events: health from discovery alone\n",
                x->lib);
        unref(x);
        return NULL;
    }
    for (unsigned i = 0; i < n; i++) {
        nvmlDevice_t d;
        if (f.by_index(i, &d) != 0)
            continue;
        read_links(x, &f, d);
        if (f.reg(d, NVML_EVENT_XID_CRITICAL, set) == 0)
            watched++;
    }
    fprintf(stderr, "nvbind device-plugin: NVML: watching XID errors of %u of %u GPUs\n", watched, n);
    watch(x, &f, set);
    f.set_free(set);
    unref(x);
    return NULL;
}

nvb_dp_xid *nvb_dp_xid_start(const nvb_host *h)
{
    const nvb_component *c = nvb_host_nvml_library(h);
    if (!c)
        return NULL;
    const char *lib = c->host_path;
    /* The plugin runs as root: only a file nobody but root and the caller could have written
     * is loaded into it (util/trust.h). */
    char why[512];
    if (nvb_trust_library(lib, false, why, sizeof why) != 0) {
        fprintf(stderr, "nvbind device-plugin: NVML not loaded for XID events: %s: health from discovery alone\n", why);
        return NULL;
    }
    nvb_dp_xid *x = calloc(1, sizeof *x);
    if (!x)
        return NULL;
    pthread_mutex_init(&x->lock, NULL);
    x->refs = 2;
    snprintf(x->lib, sizeof x->lib, "%s", lib);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t th;
    int r = pthread_create(&th, &attr, thread_main, x);
    pthread_attr_destroy(&attr);
    if (r != 0) {
        free(x);
        return NULL;
    }
    return x;
}

/* Move what the watcher queued in one of its lists (events or links) to out, under the lock
 * the watcher thread adds to them with. */
static void take_queued(nvb_dp_xid *x, nvb_strv *queued, nvb_strv *out)
{
    pthread_mutex_lock(&x->lock);
    for (size_t i = 0; i < queued->n; i++)
        nvb_strv_push_take(out, queued->v[i]); /* frees it when out of memory */
    queued->n = 0;
    pthread_mutex_unlock(&x->lock);
}

void nvb_dp_xid_take(nvb_dp_xid *x, nvb_strv *out)
{
    if (x)
        take_queued(x, &x->events, out);
}

void nvb_dp_xid_take_links(nvb_dp_xid *x, nvb_strv *out)
{
    if (x)
        take_queued(x, &x->links, out);
}

void nvb_dp_xid_stop(nvb_dp_xid *x)
{
    if (!x)
        return;
    pthread_mutex_lock(&x->lock);
    x->stop = true;
    pthread_mutex_unlock(&x->lock);
    unref(x);
}
