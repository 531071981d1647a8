/* NVML enrichment: memory, CUDA driver version, compute capability, brand, MIG. Loaded
 * with dlopen from the driver root only when a command asks for it, and bounded in time:
 * a hung NVML must never hang nvbind, so the calls run on a worker thread, or in the
 * nvbind-helper helper for a static executable (util/isolate.h). */
#include "host/discover.h"
#include "host/hostio.h"
#include "host/procfs.h"
#include "util/cleanup.h"
#include "util/fileio.h"
#include "util/isolate.h"
#include "util/trust.h"
#include "util/worker.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The few NVML declarations nvbind needs, from NVML's public ABI. */
typedef int nvmlReturn_t; /* 0 = NVML_SUCCESS */
typedef struct nvmlDevice_st *nvmlDevice_t;
typedef struct {
    unsigned long long total, free, used;
} nvmlMemory_t;

struct nvml_api {
    nvmlReturn_t (*init)(void);
    nvmlReturn_t (*shutdown)(void);
    nvmlReturn_t (*cuda_version)(int *);
    nvmlReturn_t (*by_uuid)(const char *, nvmlDevice_t *);
    nvmlReturn_t (*memory)(nvmlDevice_t, nvmlMemory_t *);
    nvmlReturn_t (*cc)(nvmlDevice_t, int *, int *);
    nvmlReturn_t (*brand)(nvmlDevice_t, int *);
    nvmlReturn_t (*mig_mode)(nvmlDevice_t, unsigned *, unsigned *);
    nvmlReturn_t (*max_mig)(nvmlDevice_t, unsigned *);
    nvmlReturn_t (*mig_by_index)(nvmlDevice_t, unsigned, nvmlDevice_t *);
    nvmlReturn_t (*gi_id)(nvmlDevice_t, unsigned *);
    nvmlReturn_t (*ci_id)(nvmlDevice_t, unsigned *);
    nvmlReturn_t (*uuid)(nvmlDevice_t, char *, unsigned);
    nvmlReturn_t (*name)(nvmlDevice_t, char *, unsigned);
};

struct mig_result {
    unsigned gi, ci;
    char uuid[96];
    char name[96];  /* "NVIDIA A100-SXM4-40GB MIG 1g.5gb": the profile is its last word */
    int64_t memory_mib;
};

struct gpu_result {
    int64_t memory_mib;
    int cc_major, cc_minor, brand, mig_mode;
    struct mig_result migs[16];
    unsigned n_migs;
};

/* A GPU NVML said nothing about (-1: unknown). */
static const struct gpu_result unanswered = {.memory_mib = -1, .cc_major = -1, .cc_minor = -1, .brand = -1,
                                             .mig_mode = -1};

/* Shared between the caller and the worker; whoever finishes last frees it. */
struct nvml_job {
    pthread_mutex_t lock;
    int refs;
    bool ok;             /* read once the worker is joined */
    char lib[4096];
    size_t n_gpus;
    char (*uuids)[96];
    int cuda_version;
    struct gpu_result *res;
};

static void job_unref(struct nvml_job *job)
{
    pthread_mutex_lock(&job->lock);
    int left = --job->refs;
    pthread_mutex_unlock(&job->lock);
    if (left == 0) {
        free(job->uuids);
        free(job->res);
        free(job);
    }
}

static bool load_api(void *h, struct nvml_api *a)
{
#define SYM(field, name) (*(void **)&a->field = dlsym(h, name))
    SYM(init, "nvmlInit_v2");
    SYM(shutdown, "nvmlShutdown");
    SYM(cuda_version, "nvmlSystemGetCudaDriverVersion_v2");
    if (!a->cuda_version)
        SYM(cuda_version, "nvmlSystemGetCudaDriverVersion");
    SYM(by_uuid, "nvmlDeviceGetHandleByUUID");
    SYM(memory, "nvmlDeviceGetMemoryInfo");
    SYM(cc, "nvmlDeviceGetCudaComputeCapability");
    SYM(brand, "nvmlDeviceGetBrand");
    SYM(mig_mode, "nvmlDeviceGetMigMode");
    SYM(max_mig, "nvmlDeviceGetMaxMigDeviceCount");
    SYM(mig_by_index, "nvmlDeviceGetMigDeviceHandleByIndex");
    SYM(gi_id, "nvmlDeviceGetGpuInstanceId");
    SYM(ci_id, "nvmlDeviceGetComputeInstanceId");
    SYM(uuid, "nvmlDeviceGetUUID");
    SYM(name, "nvmlDeviceGetName");
#undef SYM
    return a->init && a->shutdown && a->by_uuid;
}

static void query_gpu(const struct nvml_api *a, nvmlDevice_t dev, struct gpu_result *r)
{
    nvmlMemory_t mem;
    if (a->memory && a->memory(dev, &mem) == 0)
        r->memory_mib = (int64_t)(mem.total >> 20);
    if (a->cc && a->cc(dev, &r->cc_major, &r->cc_minor) != 0)
        r->cc_major = r->cc_minor = -1;
    if (a->brand && a->brand(dev, &r->brand) != 0)
        r->brand = -1;
    unsigned cur, pending, max = 0;
    if (!a->mig_mode || a->mig_mode(dev, &cur, &pending) != 0)
        return; /* not MIG capable */
    r->mig_mode = (int)cur;
    if (cur != 1 || !a->max_mig || !a->mig_by_index || a->max_mig(dev, &max) != 0)
        return;
    for (unsigned i = 0; i < max && r->n_migs < sizeof r->migs / sizeof r->migs[0]; i++) {
        nvmlDevice_t mig;
        if (a->mig_by_index(dev, i, &mig) != 0)
            continue; /* slots without an instance */
        struct mig_result *m = &r->migs[r->n_migs];
        m->memory_mib = -1;
        if ((a->gi_id && a->gi_id(mig, &m->gi) != 0) || (a->ci_id && a->ci_id(mig, &m->ci) != 0))
            continue;
        if (a->uuid(mig, m->uuid, sizeof m->uuid) != 0)
            continue;
        if (!a->name || a->name(mig, m->name, sizeof m->name) != 0)
            m->name[0] = '\0';
        nvmlMemory_t mm;
        if (a->memory && a->memory(mig, &mm) == 0)
            m->memory_mib = (int64_t)(mm.total >> 20);
        r->n_migs++;
    }
}

/* NVML's answers for each GPU (res[i] for uuids[i]) and the CUDA version: false when the
 * library could not be loaded or initialised. On a worker thread, or in nvbind-helper. */
static bool query(const char *lib, size_t n_gpus, const char (*uuids)[96], int *cuda_version, struct gpu_result *res)
{
    struct nvml_api a = {0};
    void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
    if (!h || !load_api(h, &a) || a.init() != 0)
        return false;
    if (a.cuda_version && a.cuda_version(cuda_version) != 0)
        *cuda_version = 0;
    for (size_t i = 0; i < n_gpus; i++) {
        nvmlDevice_t dev;
        if (a.by_uuid(uuids[i], &dev) == 0)
            query_gpu(&a, dev, &res[i]);
    }
    a.shutdown();
    /* The library stays loaded: unloading NVML while its threads may linger is unsafe. */
    return true;
}

static void *worker(void *arg)
{
    struct nvml_job *job = arg;
    job->ok = query(job->lib, job->n_gpus, (const char (*)[96])job->uuids, &job->cuda_version, job->res);
    job_unref(job);
    return NULL;
}

/* The job as nvbind-helper gets it (the library, then the GPUs' UUIDs) and answers it (this
 * header, then a gpu_result for each GPU): both sides are one build's. */
struct helper_in {
    char lib[4096];
    uint32_t n_gpus;
    char uuids[][96];
};
struct helper_answer {
    int32_t ok, cuda_version;
    struct gpu_result res[];
};

int nvb_nvml_serve(const void *in, size_t in_len, void **out, size_t *out_len)
{
    const struct helper_in *q = in;
    if (in_len < sizeof *q || q->n_gpus > NVB_NVML_MAX_GPUS || in_len != sizeof *q + q->n_gpus * sizeof q->uuids[0] ||
        !memchr(q->lib, '\0', sizeof q->lib))
        return -1;
    size_t n = sizeof(struct helper_answer) + q->n_gpus * sizeof(struct gpu_result);
    struct helper_answer *a = calloc(1, n);
    if (!a)
        return -1;
    struct gpu_result *res = a->res;
    for (size_t i = 0; i < q->n_gpus; i++)
        res[i] = unanswered;
    int cuda = 0;
    a->ok = query(q->lib, q->n_gpus, q->uuids, &cuda, res);
    a->cuda_version = cuda;
    *out = a;
    *out_len = n;
    return 0;
}

/* The job in nvbind-helper (static executables): 1 answered, 0 not in time, -1 failed (why). */
static int run_in_helper(struct nvml_job *job, unsigned timeout_ms, char *why, size_t why_len)
{
    if (job->n_gpus > NVB_NVML_MAX_GPUS) {
        snprintf(why, why_len, "more than %d GPUs", NVB_NVML_MAX_GPUS);
        return -1;
    }
    size_t in_len = sizeof(struct helper_in) + job->n_gpus * 96;
    size_t out_len = sizeof(struct helper_answer) + job->n_gpus * sizeof(struct gpu_result);
    _cleanup_free_ struct helper_in *q = calloc(1, in_len);
    _cleanup_free_ struct helper_answer *answer = malloc(out_len);
    if (!q || !answer) {
        snprintf(why, why_len, "out of memory");
        return -1;
    }
    memcpy(q->lib, job->lib, sizeof q->lib);
    q->n_gpus = (uint32_t)job->n_gpus;
    memcpy(q->uuids, job->uuids, job->n_gpus * 96);
    int r = nvb_isolated_call("nvml-gpus", q, in_len, answer, out_len, timeout_ms, why, why_len);
    if (r == 1) {
        job->ok = answer->ok != 0;
        job->cuda_version = answer->cuda_version;
        memcpy(job->res, answer->res, job->n_gpus * sizeof(struct gpu_result));
    }
    return r;
}

static const char *brand_name(int b)
{
    static const char *const names[] = {"Unknown", "Quadro", "Tesla", "NVS", "GRID", "GeForce", "Titan",
                                        "NVIDIA Virtual Applications", "NVIDIA Virtual PC", "NVIDIA Virtual Compute Server",
                                        "NVIDIA RTX Virtual Workstation", "NVIDIA Cloud Gaming", "Quadro RTX",
                                        "NVIDIA RTX", "NVIDIA", "GeForce RTX", "Titan RTX"};
    return b >= 0 && b < (int)(sizeof names / sizeof names[0]) ? names[b] : NULL;
}

static void add_cap_node(nvb_discovery *d, nvb_devnode_list *l, const char *access_rel)
{
    _cleanup_free_ char *p = nvb_rootpath_host(&d->root, access_rel);
    _cleanup_free_ char *text = p ? nvb_read_file(p, 4096, NULL) : NULL;
    int minor = text ? nvb_parse_cap_access_minor(text) : -1;
    if (minor < 0)
        return;
    char path[64];
    snprintf(path, sizeof path, "/dev/nvidia-caps/nvidia-cap%d", minor);
    nvb_devnode node;
    if (nvb_stat_devnode(d, path, &node) < 0)
        return;
    node.path = path;
    nvb_devnode_list_add(l, &node);
    free(node.host_path);
}

/* The MIG profile ("1g.10gb") from an NVML MIG device name ("... MIG 1g.10gb"): what the
 * Kubernetes device plugin names MIG resources by. NULL when the name does not say. */
static char *mig_profile(const char *name)
{
    const char *p = strstr(name, "MIG ");
    if (!p)
        return NULL;
    p += 4;
    size_t n = strcspn(p, " ");
    return n ? strndup(p, n) : NULL;
}

static void apply(nvb_discovery *d, struct nvml_job *job)
{
    nvb_host *h = d->h;
    h->nvml_loaded = true;
    if (job->cuda_version > 0 &&
        asprintf(&h->cuda_version, "%d.%d", job->cuda_version / 1000, (job->cuda_version % 1000) / 10) < 0)
        h->cuda_version = NULL;
    for (size_t i = 0; i < h->n_gpus; i++) {
        nvb_gpu *g = &h->gpus[i];
        struct gpu_result *r = &job->res[i];
        g->memory_mib = r->memory_mib;
        g->cc_major = r->cc_major;
        g->cc_minor = r->cc_minor;
        g->mig_mode = r->mig_mode;
        const char *bn = brand_name(r->brand);
        g->brand = bn ? strdup(bn) : NULL;
        if (!r->n_migs || !(g->migs = calloc(r->n_migs, sizeof *g->migs)))
            continue;
        for (unsigned m = 0; m < r->n_migs; m++) {
            nvb_mig_device *md = &g->migs[g->n_migs++];
            md->gpu_index = g->index;
            md->mig_index = m;
            md->gi = r->migs[m].gi;
            md->ci = r->migs[m].ci;
            md->uuid = strdup(r->migs[m].uuid);
            md->memory_mib = r->migs[m].memory_mib;
            md->profile = mig_profile(r->migs[m].name);
            char rel[256];
            snprintf(rel, sizeof rel, "/proc/driver/nvidia/capabilities/gpu%u/mig/gi%u/access", g->minor, md->gi);
            add_cap_node(d, &md->nodes, rel);
            snprintf(rel, sizeof rel, "/proc/driver/nvidia/capabilities/gpu%u/mig/gi%u/ci%u/access", g->minor, md->gi,
                     md->ci);
            add_cap_node(d, &md->nodes, rel);
        }
    }
}

bool nvb_mig_shown(nvb_discovery *d)
{
    for (size_t i = 0; i < d->h->n_gpus; i++) {
        char path[96];
        snprintf(path, sizeof path, "/proc/driver/nvidia/capabilities/gpu%u/mig", d->h->gpus[i].minor);
        nvb_dir dir;
        if (nvb_dir_open(&dir, &d->root, path) < 0)
            continue;
        const char *name;
        bool found = false;
        while (!found && (name = nvb_dir_next(&dir, NULL)))
            found = strncmp(name, "gi", 2) == 0 && name[2] >= '0' && name[2] <= '9';
        nvb_dir_close(&dir);
        if (found)
            return true;
    }
    return false;
}

const nvb_component *nvb_host_nvml_library(const nvb_host *h)
{
    const nvb_component *lib = NULL;
    for (size_t i = 0; i < h->n_comps; i++) {
        const nvb_component *c = &h->comps[i];
        const char *b = strrchr(c->container_path, '/');
        if (c->kind == NVB_COMP_LIBRARY && !(c->caps & NVB_CAP_COMPAT32) && b && strncmp(b + 1, "libnvidia-ml.so", 15) == 0)
            lib = c;
    }
    return lib;
}

int nvb_nvml_run_bounded(nvb_discovery *d, const char *lib, void *(*fn)(void *), void *job, unsigned timeout_ms)
{
    int ran = nvb_run_bounded_once(lib, fn, job, timeout_ms);
    if (ran == -2) /* one stuck thread per library is the most a long-lived caller keeps */
        nvb_strv_pushf(&d->h->warnings, "NVML: %s not asked: %s; continuing without it", lib,
                       errno == EBUSY ? "it has not answered an earlier request yet"
                                      : "too many NVML libraries have not answered earlier requests");
    return ran;
}

int nvb_discover_nvml(nvb_discovery *d, unsigned timeout_ms)
{
    const nvb_component *lib = nvb_host_nvml_library(d->h);
    if (!lib) {
        nvb_strv_push(&d->h->warnings, "NVML: libnvidia-ml.so.1 not found in the driver root");
        return -1;
    }
    /* dlopen runs the library's code in this process (root's, for a runtime hook or a
     * daemon): only a file nobody but root and the caller could have written is loaded. */
    char why[PATH_MAX + 128];
    if (nvb_trust_library(lib->host_path, false, why, sizeof why) != 0) {
        nvb_strv_pushf(&d->h->warnings, "NVML: not loaded: %s", why);
        return -1;
    }
    struct nvml_job *job = calloc(1, sizeof *job);
    if (!job)
        return -1;
    pthread_mutex_init(&job->lock, NULL);
    job->refs = 2;
    snprintf(job->lib, sizeof job->lib, "%s", lib->host_path);
    job->n_gpus = d->h->n_gpus;
    job->uuids = calloc(job->n_gpus + 1, sizeof *job->uuids);
    job->res = calloc(job->n_gpus + 1, sizeof *job->res);
    if (!job->uuids || !job->res) {
        job->refs = 1;
        job_unref(job);
        return -1;
    }
    for (size_t i = 0; i < job->n_gpus; i++) {
        snprintf(job->uuids[i], sizeof job->uuids[i], "%s", d->h->gpus[i].uuid);
        job->res[i] = unanswered;
    }
    int ran;
    if (nvb_isolate_wanted()) {
        ran = run_in_helper(job, timeout_ms, why, sizeof why);
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
    bool done = ran == 1, ok = done && job->ok;
    if (!done)
        nvb_strv_pushf(&d->h->warnings, "NVML: %s did not answer within %u ms; continuing without it", job->lib,
                       timeout_ms);
    else if (!ok)
        nvb_strv_pushf(&d->h->warnings, "NVML: %s could not be loaded or initialised", job->lib);
    else
        apply(d, job);
    job_unref(job);
    return done && ok ? 0 : -1;
}
