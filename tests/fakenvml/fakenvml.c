/* A fake libnvidia-ml.so.1 for nvbind's tests: it serves a fake host's GPUs (UUIDs, names, bus
 * ids, minors, memory, compute capability, brand, MIG devices) through NVML's public ABI, so
 * the NVML enrichment path is tested without a GPU.
 *
 * Its data is a JSON file: $NVBIND_FAKE_NVML_DATA, else "fakenvml.json" in the folder the
 * library was loaded from. tests/fakehost/fakehost.py writes it (build --fake-nvml). Format:
 *
 *   { "driver_version": "550.54.14", "cuda_version": 12040, "nvml_version": "12.550.54.14",
 *     "init_delay_ms": 0,       sleep this long in nvmlInit (a hung NVML)
 *     "init_error": 0,          make nvmlInit fail with this nvmlReturn_t
 *     "gpus": [ { "uuid": "GPU-...", "name": "NVIDIA A100-SXM4-80GB", "pci_bus_id": "0000:01:00.0",
 *                 "minor": 0, "memory_mib": 81920, "cc": [8, 0], "brand": 14 (or "nvidia"),
 *                 "pci_device_id": 548540638, "pci_subsystem_id": 331550942,
 *                 "mig_mode": 1 (absent/null: GPU without MIG), "max_mig_devices": 7,
 *                 "migs": [ { "uuid": "MIG-...", "gi": 1, "ci": 0, "memory_mib": 40192,
 *                             "name": "...", "index": 0 } ],
 *                 "nvlink_peers": ["0000:21:00.0", ...] (optional: link N reaches that GPU) } ] }
 *
 * The NVML types and constants below are declared from NVML's public documentation; the
 * library exports only nvml* symbols (built with -fvisibility=hidden). It uses no JSON library
 * so that it cannot clash with the one linked into the process that dlopens it. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define NVML_API __attribute__((visibility("default")))

/* ---- NVML's ABI (values from NVML's public API documentation) ---- */
typedef int nvmlReturn_t;
enum {
    NVML_SUCCESS = 0,
    NVML_ERROR_UNINITIALIZED = 1,
    NVML_ERROR_INVALID_ARGUMENT = 2,
    NVML_ERROR_NOT_SUPPORTED = 3,
    NVML_ERROR_NO_PERMISSION = 4,
    NVML_ERROR_ALREADY_INITIALIZED = 5,
    NVML_ERROR_NOT_FOUND = 6,
    NVML_ERROR_INSUFFICIENT_SIZE = 7,
    NVML_ERROR_INSUFFICIENT_POWER = 8,
    NVML_ERROR_DRIVER_NOT_LOADED = 9,
    NVML_ERROR_TIMEOUT = 10,
    NVML_ERROR_IRQ_ISSUE = 11,
    NVML_ERROR_LIBRARY_NOT_FOUND = 12,
    NVML_ERROR_FUNCTION_NOT_FOUND = 13,
    NVML_ERROR_CORRUPTED_INFOROM = 14,
    NVML_ERROR_GPU_IS_LOST = 15,
    NVML_ERROR_RESET_REQUIRED = 16,
    NVML_ERROR_OPERATING_SYSTEM = 17,
    NVML_ERROR_LIB_RM_VERSION_MISMATCH = 18,
    NVML_ERROR_IN_USE = 19,
    NVML_ERROR_MEMORY = 20,
    NVML_ERROR_NO_DATA = 21,
    NVML_ERROR_VGPU_ECC_NOT_SUPPORTED = 22,
    NVML_ERROR_INSUFFICIENT_RESOURCES = 23,
    NVML_ERROR_FREQ_NOT_SUPPORTED = 24,
    NVML_ERROR_ARGUMENT_VERSION_MISMATCH = 25,
    NVML_ERROR_DEPRECATED = 26,
    NVML_ERROR_NOT_READY = 27,
    NVML_ERROR_GPU_NOT_FOUND = 28,
    NVML_ERROR_INVALID_STATE = 29,
    NVML_ERROR_UNKNOWN = 999,
};

typedef int nvmlBrandType_t; /* an enum in NVML: int-sized */
enum { NVML_BRAND_UNKNOWN = 0, NVML_BRAND_COUNT = 17 };

#define NVML_DEVICE_PCI_BUS_ID_BUFFER_SIZE 32
#define NVML_DEVICE_PCI_BUS_ID_BUFFER_V2_SIZE 16
#define NVML_DEVICE_UUID_V2_BUFFER_SIZE 96
#define NVML_DEVICE_NAME_V2_BUFFER_SIZE 96
#define NVML_DEVICE_MIG_DISABLE 0
#define NVML_DEVICE_MIG_ENABLE 1

typedef struct nvmlDevice_st *nvmlDevice_t;

typedef struct {
    unsigned long long total;
    unsigned long long free;
    unsigned long long used;
} nvmlMemory_t;

typedef struct {
    unsigned int version;
    unsigned long long total;
    unsigned long long reserved;
    unsigned long long free;
    unsigned long long used;
} nvmlMemory_v2_t;
#define NVML_MEMORY_V2_VERSION ((unsigned)(sizeof(nvmlMemory_v2_t) | (2u << 24)))

typedef struct {
    char busIdLegacy[NVML_DEVICE_PCI_BUS_ID_BUFFER_V2_SIZE];
    unsigned int domain;
    unsigned int bus;
    unsigned int device;
    unsigned int pciDeviceId;
    unsigned int pciSubSystemId;
    char busId[NVML_DEVICE_PCI_BUS_ID_BUFFER_SIZE];
} nvmlPciInfo_t;

/* Our own declarations of the exported API (the project builds with -Wmissing-prototypes). */
NVML_API nvmlReturn_t nvmlInit_v2(void);
NVML_API nvmlReturn_t nvmlInit(void);
NVML_API nvmlReturn_t nvmlInitWithFlags(unsigned int flags);
NVML_API nvmlReturn_t nvmlShutdown(void);
NVML_API const char *nvmlErrorString(nvmlReturn_t result);
NVML_API nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length);
NVML_API nvmlReturn_t nvmlSystemGetNVMLVersion(char *version, unsigned int length);
NVML_API nvmlReturn_t nvmlSystemGetCudaDriverVersion(int *cudaDriverVersion);
NVML_API nvmlReturn_t nvmlSystemGetCudaDriverVersion_v2(int *cudaDriverVersion);
NVML_API nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *deviceCount);
NVML_API nvmlReturn_t nvmlDeviceGetCount(unsigned int *deviceCount);
NVML_API nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device);
NVML_API nvmlReturn_t nvmlDeviceGetHandleByIndex(unsigned int index, nvmlDevice_t *device);
NVML_API nvmlReturn_t nvmlDeviceGetHandleByUUID(const char *uuid, nvmlDevice_t *device);
NVML_API nvmlReturn_t nvmlDeviceGetHandleByPciBusId_v2(const char *pciBusId, nvmlDevice_t *device);
NVML_API nvmlReturn_t nvmlDeviceGetHandleByPciBusId(const char *pciBusId, nvmlDevice_t *device);
NVML_API nvmlReturn_t nvmlDeviceGetIndex(nvmlDevice_t device, unsigned int *index);
NVML_API nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length);
NVML_API nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length);
NVML_API nvmlReturn_t nvmlDeviceGetBrand(nvmlDevice_t device, nvmlBrandType_t *type);
NVML_API nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *memory);
NVML_API nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t device, nvmlMemory_v2_t *memory);
NVML_API nvmlReturn_t nvmlDeviceGetCudaComputeCapability(nvmlDevice_t device, int *major, int *minor);
NVML_API nvmlReturn_t nvmlDeviceGetMinorNumber(nvmlDevice_t device, unsigned int *minorNumber);
NVML_API nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t device, nvmlPciInfo_t *pci);
NVML_API nvmlReturn_t nvmlDeviceGetPciInfo_v2(nvmlDevice_t device, nvmlPciInfo_t *pci);
NVML_API nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t device, unsigned int *currentMode, unsigned int *pendingMode);
NVML_API nvmlReturn_t nvmlDeviceGetMaxMigDeviceCount(nvmlDevice_t device, unsigned int *count);
NVML_API nvmlReturn_t nvmlDeviceGetMigDeviceHandleByIndex(nvmlDevice_t device, unsigned int index,
                                                          nvmlDevice_t *migDevice);
NVML_API nvmlReturn_t nvmlDeviceIsMigDeviceHandle(nvmlDevice_t device, unsigned int *isMigDevice);
NVML_API nvmlReturn_t nvmlDeviceGetGpuInstanceId(nvmlDevice_t device, unsigned int *id);
NVML_API nvmlReturn_t nvmlDeviceGetComputeInstanceId(nvmlDevice_t device, unsigned int *id);
NVML_API nvmlReturn_t nvmlDeviceGetDeviceHandleFromMigDeviceHandle(nvmlDevice_t migDevice, nvmlDevice_t *device);

/* ---- the fake devices ---- */
#define MAX_GPUS 64
#define MAX_MIGS 16
#define MAX_DATA_BYTES (1u << 20)

struct nvmlDevice_st {
    int is_mig;
    unsigned index; /* GPU: position in bus order; MIG: index under its parent */
    struct nvmlDevice_st *parent;
    char uuid[NVML_DEVICE_UUID_V2_BUFFER_SIZE];
    char name[NVML_DEVICE_NAME_V2_BUFFER_SIZE];
    unsigned domain, bus, dev, fn;
    unsigned minor;
    unsigned long long memory_mib;
    int cc_major, cc_minor;
    int brand;
    int mig_mode; /* -1: the GPU has no MIG */
    unsigned max_migs;
    unsigned gi, ci;
    unsigned pci_device_id, pci_subsystem_id;
    unsigned n_migs;
    char nvlink_peers[18][32]; /* NVLink: each active link's remote PCI bus id (the NVLink block) */
    unsigned n_nvlinks;
};

static struct {
    pthread_mutex_t lock;
    unsigned refs;
    char driver_version[80];
    char nvml_version[80];
    int cuda_version;
    unsigned n_gpus;
    struct nvmlDevice_st gpus[MAX_GPUS];
    struct nvmlDevice_st migs[MAX_GPUS][MAX_MIGS];
} fake = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void debug(const char *what, const char *detail)
{
    if (getenv("NVBIND_FAKE_NVML_DEBUG"))
        fprintf(stderr, "fakenvml: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
}

/* ---- a small JSON reader (objects, arrays, strings, numbers, true/false/null) ---- */
enum jtype { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

typedef struct jnode {
    enum jtype t;
    double num;
    char *str;          /* J_STR value */
    char *key;          /* member name when inside an object */
    struct jnode *kids; /* J_ARR / J_OBJ members */
    struct jnode *next;
} jnode;

typedef struct {
    const char *p, *end;
    const char *err;
    int depth;
} jparser;

static void jfree(jnode *n)
{
    while (n) {
        jnode *next = n->next;
        jfree(n->kids);
        free(n->str);
        free(n->key);
        free(n);
        n = next;
    }
}

static void jskip_ws(jparser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

static char *jparse_string(jparser *ps)
{
    if (ps->p >= ps->end || *ps->p != '"') {
        ps->err = "expected a string";
        return NULL;
    }
    ps->p++;
    size_t cap = 16, n = 0;
    char *s = malloc(cap);
    if (!s) {
        ps->err = "out of memory";
        return NULL;
    }
    while (ps->p < ps->end && *ps->p != '"') {
        char c = *ps->p++;
        if ((unsigned char)c < 0x20) {
            ps->err = "control character in a string";
            free(s);
            return NULL;
        }
        if (c == '\\') {
            if (ps->p >= ps->end)
                break;
            char e = *ps->p++;
            switch (e) {
            case '"': case '\\': case '/': c = e; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'n': c = '\n'; break;
            case 'r': c = '\r'; break;
            case 't': c = '\t'; break;
            case 'u': {
                unsigned v = 0;
                for (int i = 0; i < 4; i++) {
                    if (ps->p >= ps->end) {
                        ps->err = "truncated \\u escape";
                        free(s);
                        return NULL;
                    }
                    char h = *ps->p++;
                    v <<= 4;
                    if (h >= '0' && h <= '9') v |= (unsigned)(h - '0');
                    else if (h >= 'a' && h <= 'f') v |= (unsigned)(h - 'a' + 10);
                    else if (h >= 'A' && h <= 'F') v |= (unsigned)(h - 'A' + 10);
                    else {
                        ps->err = "bad \\u escape";
                        free(s);
                        return NULL;
                    }
                }
                c = (v >= 0x20 && v < 0x7f) ? (char)v : '?'; /* the data is ASCII */
                break;
            }
            default:
                ps->err = "bad escape in a string";
                free(s);
                return NULL;
            }
        }
        if (n + 1 >= cap) {
            cap *= 2;
            char *t = realloc(s, cap);
            if (!t) {
                free(s);
                ps->err = "out of memory";
                return NULL;
            }
            s = t;
        }
        s[n++] = c;
    }
    if (ps->p >= ps->end) {
        ps->err = "unterminated string";
        free(s);
        return NULL;
    }
    ps->p++; /* closing quote */
    s[n] = '\0';
    return s;
}

static jnode *jparse_value(jparser *ps);

static jnode *jparse_members(jparser *ps, jnode *n, char close, int with_keys)
{
    jnode **tail = &n->kids;
    ps->p++; /* opening bracket */
    jskip_ws(ps);
    if (ps->p < ps->end && *ps->p == close) {
        ps->p++;
        return n;
    }
    for (;;) {
        char *key = NULL;
        jskip_ws(ps);
        if (with_keys) {
            key = jparse_string(ps);
            if (!key)
                goto fail;
            jskip_ws(ps);
            if (ps->p >= ps->end || *ps->p != ':') {
                free(key);
                ps->err = "expected ':'";
                goto fail;
            }
            ps->p++;
        }
        jnode *v = jparse_value(ps);
        if (!v) {
            free(key);
            goto fail;
        }
        v->key = key;
        *tail = v;
        tail = &v->next;
        jskip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == close) {
            ps->p++;
            return n;
        }
        ps->err = with_keys ? "expected ',' or '}'" : "expected ',' or ']'";
        goto fail;
    }
fail:
    jfree(n);
    return NULL;
}

static jnode *jparse_value(jparser *ps)
{
    jskip_ws(ps);
    if (ps->p >= ps->end) {
        ps->err = "unexpected end of data";
        return NULL;
    }
    if (++ps->depth > 32) {
        ps->err = "nested too deeply";
        return NULL;
    }
    jnode *n = calloc(1, sizeof *n);
    if (!n) {
        ps->err = "out of memory";
        return NULL;
    }
    char c = *ps->p;
    size_t left = (size_t)(ps->end - ps->p);
    if (c == '{') {
        n->t = J_OBJ;
        n = jparse_members(ps, n, '}', 1);
    } else if (c == '[') {
        n->t = J_ARR;
        n = jparse_members(ps, n, ']', 0);
    } else if (c == '"') {
        n->t = J_STR;
        n->str = jparse_string(ps);
        if (!n->str) {
            free(n);
            n = NULL;
        }
    } else if (left >= 4 && memcmp(ps->p, "true", 4) == 0) {
        n->t = J_BOOL;
        n->num = 1;
        ps->p += 4;
    } else if (left >= 5 && memcmp(ps->p, "false", 5) == 0) {
        n->t = J_BOOL;
        ps->p += 5;
    } else if (left >= 4 && memcmp(ps->p, "null", 4) == 0) {
        n->t = J_NULL;
        ps->p += 4;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
        char buf[64];
        size_t k = 0;
        while (ps->p < ps->end && k + 1 < sizeof buf && *ps->p && strchr("+-.eE0123456789", *ps->p))
            buf[k++] = *ps->p++;
        buf[k] = '\0';
        char *endp;
        errno = 0;
        n->t = J_NUM;
        n->num = strtod(buf, &endp);
        if (*endp != '\0' || errno) {
            ps->err = "bad number";
            free(n);
            n = NULL;
        }
    } else {
        ps->err = "unexpected character";
        free(n);
        n = NULL;
    }
    ps->depth--;
    return n;
}

static const jnode *jget(const jnode *obj, const char *key)
{
    if (!obj || obj->t != J_OBJ)
        return NULL;
    for (const jnode *k = obj->kids; k; k = k->next)
        if (k->key && strcmp(k->key, key) == 0)
            return k;
    return NULL;
}

/* ---- loading the data ---- */
typedef struct {
    char msg[256];
} loaderr;

static int fail(loaderr *e, const char *where, const char *why)
{
    snprintf(e->msg, sizeof e->msg, "%.150s: %.100s", where, why);
    return -1;
}

static int get_str(const jnode *obj, const char *key, char *out, size_t size, int required, loaderr *e)
{
    const jnode *v = jget(obj, key);
    if (!v || v->t == J_NULL)
        return required ? fail(e, key, "missing") : 0;
    if (v->t != J_STR)
        return fail(e, key, "not a string");
    if (strlen(v->str) >= size)
        return fail(e, key, "too long");
    memcpy(out, v->str, strlen(v->str) + 1);
    return 1;
}

static int get_num(const jnode *obj, const char *key, double lo, double hi, double *out, int required, loaderr *e)
{
    const jnode *v = jget(obj, key);
    if (!v || v->t == J_NULL)
        return required ? fail(e, key, "missing") : 0;
    if (v->t != J_NUM && v->t != J_BOOL)
        return fail(e, key, "not a number");
    if (!(v->num >= lo && v->num <= hi) || v->num != (double)(long long)v->num)
        return fail(e, key, "out of range or not an integer");
    *out = v->num;
    return 1;
}

static int parse_bus_id(const char *s, unsigned *dom, unsigned *bus, unsigned *dev, unsigned *fn)
{
    unsigned a, b, c, d;
    int used = 0;
    if (sscanf(s, "%x:%x:%x.%x%n", &a, &b, &c, &d, &used) == 4 && s[used] == '\0') {
        *dom = a, *bus = b, *dev = c, *fn = d;
    } else if (sscanf(s, "%x:%x.%x%n", &b, &c, &d, &used) == 3 && s[used] == '\0') {
        *dom = 0, *bus = b, *dev = c, *fn = d;
    } else {
        return -1;
    }
    return (*bus <= 0xff && *dev <= 0x1f && *fn <= 7) ? 0 : -1;
}

static int parse_brand(const jnode *g, int *out, loaderr *e)
{
    static const struct {
        const char *name;
        int value;
    } names[] = {{"quadro", 1}, {"tesla", 2}, {"nvs", 3}, {"grid", 4}, {"geforce", 5}, {"titan", 6},
                 {"quadro_rtx", 12}, {"nvidia_rtx", 13}, {"nvidia", 14}, {"geforce_rtx", 15}, {"titan_rtx", 16}};
    const jnode *v = jget(g, "brand");
    *out = NVML_BRAND_UNKNOWN;
    if (!v || v->t == J_NULL)
        return 0;
    if (v->t == J_STR) {
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
            if (strcasecmp(v->str, names[i].name) == 0) {
                *out = names[i].value;
                return 0;
            }
        return fail(e, "brand", "unknown brand name");
    }
    double d;
    if (get_num(g, "brand", 0, NVML_BRAND_COUNT - 1, &d, 1, e) < 0)
        return -1;
    *out = (int)d;
    return 0;
}

static int load_mig(struct nvmlDevice_st *gpu, const jnode *m, unsigned pos, struct nvmlDevice_st *out, loaderr *e)
{
    double d;
    memset(out, 0, sizeof *out);
    out->is_mig = 1;
    out->parent = gpu;
    out->mig_mode = -1;
    out->index = pos;
    if (m->t != J_OBJ)
        return fail(e, "migs[]", "not an object");
    if (get_str(m, "uuid", out->uuid, sizeof out->uuid, 1, e) < 0)
        return -1;
    if (get_str(m, "name", out->name, sizeof out->name, 0, e) == 0)
        memcpy(out->name, gpu->name, sizeof out->name);
    if (get_num(m, "gi", 0, 64, &d, 1, e) < 0)
        return -1;
    out->gi = (unsigned)d;
    if (get_num(m, "ci", 0, 64, &d, 1, e) < 0)
        return -1;
    out->ci = (unsigned)d;
    if (get_num(m, "memory_mib", 0, 1 << 30, &d, 1, e) < 0)
        return -1;
    out->memory_mib = (unsigned long long)d;
    if (get_num(m, "index", 0, MAX_MIGS - 1, &d, 0, e) < 0)
        return -1;
    else if (jget(m, "index"))
        out->index = (unsigned)d;
    return 0;
}

static int load_nvlinks(const jnode *g, struct nvmlDevice_st *out, loaderr *e);

static int load_gpu(const jnode *g, struct nvmlDevice_st *out, struct nvmlDevice_st *migs, loaderr *e)
{
    double d;
    char bus_id[64];
    memset(out, 0, sizeof *out);
    if (g->t != J_OBJ)
        return fail(e, "gpus[]", "not an object");
    if (get_str(g, "uuid", out->uuid, sizeof out->uuid, 1, e) < 0 ||
        get_str(g, "name", out->name, sizeof out->name, 1, e) < 0 ||
        get_str(g, "pci_bus_id", bus_id, sizeof bus_id, 1, e) < 0)
        return -1;
    if (parse_bus_id(bus_id, &out->domain, &out->bus, &out->dev, &out->fn) < 0)
        return fail(e, "pci_bus_id", "not a PCI address like 0000:01:00.0");
    if (get_num(g, "minor", 0, 254, &d, 1, e) < 0)
        return -1;
    out->minor = (unsigned)d;
    if (get_num(g, "memory_mib", 0, 1 << 30, &d, 1, e) < 0)
        return -1;
    out->memory_mib = (unsigned long long)d;
    out->cc_major = out->cc_minor = -1;
    const jnode *cc = jget(g, "cc");
    if (cc && cc->t != J_NULL) {
        if (cc->t != J_ARR || !cc->kids || !cc->kids->next || cc->kids->next->next || cc->kids->t != J_NUM ||
            cc->kids->next->t != J_NUM || cc->kids->num < 0 || cc->kids->num > 99 || cc->kids->next->num < 0 ||
            cc->kids->next->num > 99)
            return fail(e, "cc", "not [major, minor]");
        out->cc_major = (int)cc->kids->num;
        out->cc_minor = (int)cc->kids->next->num;
    }
    if (parse_brand(g, &out->brand, e) < 0)
        return -1;
    if (get_num(g, "pci_device_id", 0, 4294967295.0, &d, 0, e) < 0)
        return -1;
    out->pci_device_id = jget(g, "pci_device_id") ? (unsigned)d : 0x10de;
    if (get_num(g, "pci_subsystem_id", 0, 4294967295.0, &d, 0, e) < 0)
        return -1;
    out->pci_subsystem_id = jget(g, "pci_subsystem_id") ? (unsigned)d : 0;
    out->mig_mode = -1;
    int r = get_num(g, "mig_mode", 0, 1, &d, 0, e);
    if (r < 0)
        return -1;
    if (r > 0) {
        out->mig_mode = (int)d;
        out->max_migs = 7;
        r = get_num(g, "max_mig_devices", 0, MAX_MIGS, &d, 0, e);
        if (r < 0)
            return -1;
        if (r > 0)
            out->max_migs = (unsigned)d;
    }
    const jnode *ml = jget(g, "migs");
    if (ml && ml->t != J_NULL) {
        if (ml->t != J_ARR)
            return fail(e, "migs", "not an array");
        for (const jnode *m = ml->kids; m; m = m->next) {
            if (out->n_migs >= MAX_MIGS)
                return fail(e, "migs", "too many MIG devices");
            if (load_mig(out, m, out->n_migs, &migs[out->n_migs], e) < 0)
                return -1;
            out->n_migs++;
        }
        if (out->n_migs && out->mig_mode != NVML_DEVICE_MIG_ENABLE)
            return fail(e, "migs", "MIG devices on a GPU whose mig_mode is not 1");
    }
    return load_nvlinks(g, out, e);
}

static int bus_order(const struct nvmlDevice_st *a, const struct nvmlDevice_st *b)
{
    unsigned ka[4] = {a->domain, a->bus, a->dev, a->fn}, kb[4] = {b->domain, b->bus, b->dev, b->fn};
    for (int i = 0; i < 4; i++)
        if (ka[i] != kb[i])
            return ka[i] < kb[i] ? -1 : 1;
    return 0;
}

static int data_path(char *out, size_t size, loaderr *e)
{
    const char *env = getenv("NVBIND_FAKE_NVML_DATA");
    if (env && *env) {
        if (strlen(env) >= size)
            return fail(e, "NVBIND_FAKE_NVML_DATA", "path too long");
        memcpy(out, env, strlen(env) + 1);
        return 0;
    }
    Dl_info info;
    if (!dladdr((void *)nvmlInit_v2, &info) || !info.dli_fname)
        return fail(e, "dladdr", "cannot tell where this library was loaded from");
    const char *slash = strrchr(info.dli_fname, '/');
    if (!slash)
        return fail(e, info.dli_fname, "loaded without a folder; set NVBIND_FAKE_NVML_DATA");
    int n = snprintf(out, size, "%.*s/fakenvml.json", (int)(slash - info.dli_fname), info.dli_fname);
    if (n < 0 || (size_t)n >= size)
        return fail(e, info.dli_fname, "path too long");
    return 0;
}

static char *read_data(const char *path, size_t *len, loaderr *e)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fail(e, path, strerror(errno));
        return NULL;
    }
    struct stat st;
    char *buf = NULL;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > (off_t)MAX_DATA_BYTES) {
        fail(e, path, "not a regular file of at most 1 MiB");
        goto out;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        fail(e, path, "out of memory");
        goto out;
    }
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            fail(e, path, r < 0 ? strerror(errno) : "file shrank while reading");
            free(buf);
            buf = NULL;
            goto out;
        }
        got += (size_t)r;
    }
    buf[got] = '\0';
    *len = got;
out:
    close(fd);
    return buf;
}

/* Parse the data into `fake`; on failure say why in e. `delay_ms`/`init_error` come back. */
static nvmlReturn_t load(loaderr *e, long *delay_ms, int *init_error)
{
    char path[4096];
    size_t len = 0;
    if (data_path(path, sizeof path, e) < 0)
        return NVML_ERROR_UNKNOWN;
    char *text = read_data(path, &len, e);
    if (!text)
        return NVML_ERROR_DRIVER_NOT_LOADED; /* no data: like a host without the driver */
    jparser ps = {.p = text, .end = text + len};
    jnode *root = jparse_value(&ps);
    nvmlReturn_t ret = NVML_ERROR_UNKNOWN;
    double d;
    if (root) {
        jskip_ws(&ps);
        if (ps.p != ps.end) {
            ps.err = "trailing characters";
            jfree(root);
            root = NULL;
        }
    }
    if (!root) {
        snprintf(e->msg, sizeof e->msg, "%.150s: offset %ld: %.80s", path, (long)(ps.p - text), ps.err ? ps.err : "bad JSON");
        goto out;
    }
    if (root->t != J_OBJ) {
        fail(e, path, "not a JSON object");
        goto out;
    }
    if (get_str(root, "driver_version", fake.driver_version, sizeof fake.driver_version, 1, e) < 0)
        goto out;
    if (get_str(root, "nvml_version", fake.nvml_version, sizeof fake.nvml_version, 0, e) < 0)
        goto out;
    if (!fake.nvml_version[0])
        snprintf(fake.nvml_version, sizeof fake.nvml_version, "12.%.60s", fake.driver_version);
    if (get_num(root, "cuda_version", 1000, 99990, &d, 1, e) < 0)
        goto out;
    fake.cuda_version = (int)d;
    *delay_ms = 0;
    if (get_num(root, "init_delay_ms", 0, 3600000, &d, 0, e) < 0)
        goto out;
    if (jget(root, "init_delay_ms"))
        *delay_ms = (long)d;
    *init_error = 0;
    if (get_num(root, "init_error", 0, 999, &d, 0, e) < 0)
        goto out;
    if (jget(root, "init_error"))
        *init_error = (int)d;
    const jnode *gl = jget(root, "gpus");
    if (!gl || gl->t != J_ARR) {
        fail(e, "gpus", "missing or not an array");
        goto out;
    }
    fake.n_gpus = 0;
    for (const jnode *g = gl->kids; g; g = g->next) {
        if (fake.n_gpus >= MAX_GPUS) {
            fail(e, "gpus", "too many GPUs");
            goto out;
        }
        if (load_gpu(g, &fake.gpus[fake.n_gpus], fake.migs[fake.n_gpus], e) < 0)
            goto out;
        fake.n_gpus++;
    }
    /* NVML enumerates GPUs in PCI bus order; sort (insertion sort keeps MIG rows in step). */
    for (unsigned i = 1; i < fake.n_gpus; i++) {
        for (unsigned j = i; j > 0 && bus_order(&fake.gpus[j - 1], &fake.gpus[j]) > 0; j--) {
            struct nvmlDevice_st t = fake.gpus[j];
            fake.gpus[j] = fake.gpus[j - 1];
            fake.gpus[j - 1] = t;
            struct nvmlDevice_st tm[MAX_MIGS];
            memcpy(tm, fake.migs[j], sizeof tm);
            memcpy(fake.migs[j], fake.migs[j - 1], sizeof tm);
            memcpy(fake.migs[j - 1], tm, sizeof tm);
        }
    }
    for (unsigned i = 0; i < fake.n_gpus; i++) {
        fake.gpus[i].index = i;
        for (unsigned m = 0; m < fake.gpus[i].n_migs; m++)
            fake.migs[i][m].parent = &fake.gpus[i];
    }
    ret = NVML_SUCCESS;
out:
    jfree(root);
    free(text);
    if (ret != NVML_SUCCESS)
        fake.n_gpus = 0;
    return ret;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* ---- handles ---- */
static int initialized(void)
{
    pthread_mutex_lock(&fake.lock);
    int r = fake.refs > 0;
    pthread_mutex_unlock(&fake.lock);
    return r;
}

/* The device behind a handle, or NULL when the handle is not one we gave out. */
static struct nvmlDevice_st *dev_of(nvmlDevice_t h)
{
    uintptr_t p = (uintptr_t)h, g0 = (uintptr_t)&fake.gpus[0], m0 = (uintptr_t)&fake.migs[0][0];
    size_t sz = sizeof(struct nvmlDevice_st);
    if (p >= g0 && p < g0 + (uintptr_t)fake.n_gpus * sz && (p - g0) % sz == 0)
        return h;
    if (p >= m0 && p < m0 + (uintptr_t)MAX_GPUS * MAX_MIGS * sz && (p - m0) % sz == 0) {
        size_t k = (p - m0) / sz;
        size_t gi = k / MAX_MIGS, mi = k % MAX_MIGS;
        if (gi < fake.n_gpus && mi < fake.gpus[gi].n_migs)
            return h;
    }
    return NULL;
}

#define CHECK_INIT()                             \
    do {                                         \
        if (!initialized())                      \
            return NVML_ERROR_UNINITIALIZED;     \
    } while (0)

#define GET_DEV(d, h)                            \
    CHECK_INIT();                                \
    struct nvmlDevice_st *d = dev_of(h);         \
    if (!d)                                      \
        return NVML_ERROR_INVALID_ARGUMENT

static nvmlReturn_t copy_out(const char *s, char *out, unsigned int length)
{
    if (!out)
        return NVML_ERROR_INVALID_ARGUMENT;
    size_t n = strlen(s);
    if (length < n + 1)
        return NVML_ERROR_INSUFFICIENT_SIZE;
    memcpy(out, s, n + 1);
    return NVML_SUCCESS;
}

/* ---- the API ---- */
NVML_API nvmlReturn_t nvmlInitWithFlags(unsigned int flags)
{
    (void)flags;
    pthread_mutex_lock(&fake.lock);
    if (fake.refs > 0) {
        fake.refs++;
        pthread_mutex_unlock(&fake.lock);
        return NVML_SUCCESS;
    }
    loaderr e = {{0}};
    long delay = 0;
    int init_error = 0;
    nvmlReturn_t r = load(&e, &delay, &init_error);
    if (r != NVML_SUCCESS) {
        debug("nvmlInit failed", e.msg);
        pthread_mutex_unlock(&fake.lock);
        return r;
    }
    if (delay > 0) {
        /* A hung driver: sleep without the lock, so that a caller that gave up on us is
         * never blocked by it in another call. */
        pthread_mutex_unlock(&fake.lock);
        sleep_ms(delay);
        pthread_mutex_lock(&fake.lock);
    }
    if (init_error) {
        if (fake.refs == 0)
            fake.n_gpus = 0;
        pthread_mutex_unlock(&fake.lock);
        return init_error;
    }
    fake.refs++;
    pthread_mutex_unlock(&fake.lock);
    return NVML_SUCCESS;
}

NVML_API nvmlReturn_t nvmlInit_v2(void)
{
    return nvmlInitWithFlags(0);
}

NVML_API nvmlReturn_t nvmlInit(void)
{
    return nvmlInitWithFlags(0);
}

NVML_API nvmlReturn_t nvmlShutdown(void)
{
    pthread_mutex_lock(&fake.lock);
    if (fake.refs == 0) {
        pthread_mutex_unlock(&fake.lock);
        return NVML_ERROR_UNINITIALIZED;
    }
    if (--fake.refs == 0)
        fake.n_gpus = 0;
    pthread_mutex_unlock(&fake.lock);
    return NVML_SUCCESS;
}

NVML_API const char *nvmlErrorString(nvmlReturn_t result)
{
    switch (result) {
    case NVML_SUCCESS: return "Success";
    case NVML_ERROR_UNINITIALIZED: return "Uninitialized";
    case NVML_ERROR_INVALID_ARGUMENT: return "Invalid Argument";
    case NVML_ERROR_NOT_SUPPORTED: return "Not Supported";
    case NVML_ERROR_NO_PERMISSION: return "Insufficient Permissions";
    case NVML_ERROR_ALREADY_INITIALIZED: return "Already Initialized";
    case NVML_ERROR_NOT_FOUND: return "Not Found";
    case NVML_ERROR_INSUFFICIENT_SIZE: return "Insufficient Size";
    case NVML_ERROR_INSUFFICIENT_POWER: return "Insufficient External Power";
    case NVML_ERROR_DRIVER_NOT_LOADED: return "Driver Not Loaded";
    case NVML_ERROR_TIMEOUT: return "Timeout";
    case NVML_ERROR_IRQ_ISSUE: return "Interrupt request issue";
    case NVML_ERROR_LIBRARY_NOT_FOUND: return "NVML Shared Library Not Found";
    case NVML_ERROR_FUNCTION_NOT_FOUND: return "Function Not Found";
    case NVML_ERROR_CORRUPTED_INFOROM: return "Corrupted infoROM";
    case NVML_ERROR_GPU_IS_LOST: return "GPU is lost";
    case NVML_ERROR_RESET_REQUIRED: return "GPU requires restart";
    case NVML_ERROR_OPERATING_SYSTEM: return "The operating system has blocked the request";
    case NVML_ERROR_LIB_RM_VERSION_MISMATCH: return "RM has detected an NVML/RM version mismatch";
    case NVML_ERROR_IN_USE: return "In use by another client";
    case NVML_ERROR_MEMORY: return "Insufficient Memory";
    case NVML_ERROR_NO_DATA: return "No data";
    case NVML_ERROR_VGPU_ECC_NOT_SUPPORTED: return "ECC is enabled";
    case NVML_ERROR_INSUFFICIENT_RESOURCES: return "Insufficient resources";
    case NVML_ERROR_FREQ_NOT_SUPPORTED: return "Frequency not supported";
    case NVML_ERROR_ARGUMENT_VERSION_MISMATCH: return "Argument version mismatch";
    case NVML_ERROR_DEPRECATED: return "Deprecated";
    case NVML_ERROR_NOT_READY: return "Not ready";
    case NVML_ERROR_GPU_NOT_FOUND: return "GPU not found";
    case NVML_ERROR_INVALID_STATE: return "Invalid state";
    default: return "Unknown Error";
    }
}

NVML_API nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length)
{
    CHECK_INIT();
    return copy_out(fake.driver_version, version, length);
}

NVML_API nvmlReturn_t nvmlSystemGetNVMLVersion(char *version, unsigned int length)
{
    CHECK_INIT();
    return copy_out(fake.nvml_version, version, length);
}

NVML_API nvmlReturn_t nvmlSystemGetCudaDriverVersion(int *cudaDriverVersion)
{
    CHECK_INIT();
    if (!cudaDriverVersion)
        return NVML_ERROR_INVALID_ARGUMENT;
    *cudaDriverVersion = fake.cuda_version;
    return NVML_SUCCESS;
}

NVML_API nvmlReturn_t nvmlSystemGetCudaDriverVersion_v2(int *cudaDriverVersion)
{
    return nvmlSystemGetCudaDriverVersion(cudaDriverVersion);
}

NVML_API nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *deviceCount)
{
    CHECK_INIT();
    if (!deviceCount)
        return NVML_ERROR_INVALID_ARGUMENT;
    *deviceCount = fake.n_gpus;
    return NVML_SUCCESS;
}

NVML_API nvmlReturn_t nvmlDeviceGetCount(unsigned int *deviceCount)
{
    return nvmlDeviceGetCount_v2(deviceCount);
}

NVML_API nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device)
{
    CHECK_INIT();
    if (!device || index >= fake.n_gpus)
        return NVML_ERROR_INVALID_ARGUMENT;
    *device = &fake.gpus[index];
    return NVML_SUCCESS;
}

NVML_API nvmlReturn_t nvmlDeviceGetHandleByIndex(unsigned int index, nvmlDevice_t *device)
{
    return nvmlDeviceGetHandleByIndex_v2(index, device);
}

NVML_API nvmlReturn_t nvmlDeviceGetHandleByUUID(const char *uuid, nvmlDevice_t *device)
{
    CHECK_INIT();
    if (!uuid || !device)
        return NVML_ERROR_INVALID_ARGUMENT;
    for (unsigned i = 0; i < fake.n_gpus; i++) {
        if (strcmp(fake.gpus[i].uuid, uuid) == 0) {
            *device = &fake.gpus[i];
            return NVML_SUCCESS;
        }
        for (unsigned m = 0; m < fake.gpus[i].n_migs; m++)
            if (strcmp(fake.migs[i][m].uuid, uuid) == 0) {
                *device = &fake.migs[i][m];
                return NVML_SUCCESS;
            }
    }
    return NVML_ERROR_NOT_FOUND;
}

NVML_API nvmlReturn_t nvmlDeviceGetHandleByPciBusId_v2(const char *pciBusId, nvmlDevice_t *device)
{
    CHECK_INIT();
    unsigned dom, bus, dev, fn;
    if (!pciBusId || !device || parse_bus_id(pciBusId, &dom, &bus, &dev, &fn) < 0)
        return NVML_ERROR_INVALID_ARGUMENT;
    for (unsigned i = 0; i < fake.n_gpus; i++) {
        const struct nvmlDevice_st *g = &fake.gpus[i];
        if (g->domain == dom && g->bus == bus && g->dev == dev && g->fn == fn) {
            *device = &fake.gpus[i];
            return NVML_SUCCESS;
        }
    }
    return NVML_ERROR_NOT_FOUND;
}

NVML_API nvmlReturn_t nvmlDeviceGetHandleByPciBusId(const char *pciBusId, nvmlDevice_t *device)
{
    return nvmlDeviceGetHandleByPciBusId_v2(pciBusId, device);
}

NVML_API nvmlReturn_t nvmlDeviceGetIndex(nvmlDevice_t device, unsigned int *index)
{
    GET_DEV(d, device);
    if (!index || d->is_mig)
        return NVML_ERROR_INVALID_ARGUMENT;
    *index = d->index;
    return NVML_SUCCESS;
}

NVML_API nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length)
{
    GET_DEV(d, device);
    return copy_out(d->uuid, uuid, length);
}

NVML_API nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length)
{
    GET_DEV(d, device);
    return copy_out(d->name, name, length);
}

NVML_API nvmlReturn_t nvmlDeviceGetBrand(nvmlDevice_t device, nvmlBrandType_t *type)
{
    GET_DEV(d, device);
    if (!type)
        return NVML_ERROR_INVALID_ARGUMENT;
    *type = d->is_mig ? d->parent->brand : d->brand;
    return NVML_SUCCESS;
}

static nvmlReturn_t memory_of(const struct nvmlDevice_st *d, unsigned long long *total, unsigned long long *used)
{
    *total = d->memory_mib * 1024ull * 1024ull;
    *used = 0;
    return NVML_SUCCESS;
}

NVML_API nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *memory)
{
    GET_DEV(d, device);
    if (!memory)
        return NVML_ERROR_INVALID_ARGUMENT;
    memory_of(d, &memory->total, &memory->used);
    memory->free = memory->total - memory->used;
    return NVML_SUCCESS;
}

NVML_API nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t device, nvmlMemory_v2_t *memory)
{
    GET_DEV(d, device);
    if (!memory)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (memory->version != NVML_MEMORY_V2_VERSION)
        return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
    memory_of(d, &memory->total, &memory->used);
    memory->reserved = 0;
    memory->free = memory->total - memory->used;
    return NVML_SUCCESS;
}

NVML_API nvmlReturn_t nvmlDeviceGetCudaComputeCapability(nvmlDevice_t device, int *major, int *minor)
{
    GET_DEV(d, device);
    const struct nvmlDevice_st *g = d->is_mig ? d->parent : d;
    if (!major || !minor)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (g->cc_major < 0)
        return NVML_ERROR_NOT_SUPPORTED;
    *major = g->cc_major;
    *minor = g->cc_minor;
    return NVML_SUCCESS;
}

NVML_API nvmlReturn_t nvmlDeviceGetMinorNumber(nvmlDevice_t device, unsigned int *minorNumber)
{
    GET_DEV(d, device);
    if (!minorNumber)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (d->is_mig)
        return NVML_ERROR_NOT_SUPPORTED; /* a MIG device's node is its parent's */
    *minorNumber = d->minor;
    return NVML_SUCCESS;
}

NVML_API nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t device, nvmlPciInfo_t *pci)
{
    GET_DEV(d, device);
    const struct nvmlDevice_st *g = d->is_mig ? d->parent : d;
    if (!pci)
        return NVML_ERROR_INVALID_ARGUMENT;
    memset(pci, 0, sizeof *pci);
    snprintf(pci->busIdLegacy, sizeof pci->busIdLegacy, "%04X:%02X:%02X.%X", g->domain & 0xffff, g->bus, g->dev,
             g->fn);
    snprintf(pci->busId, sizeof pci->busId, "%08X:%02X:%02X.%X", g->domain, g->bus, g->dev, g->fn);
    pci->domain = g->domain;
    pci->bus = g->bus;
    pci->device = g->dev;
    pci->pciDeviceId = g->pci_device_id;
    pci->pciSubSystemId = g->pci_subsystem_id;
    return NVML_SUCCESS;
}

NVML_API nvmlReturn_t nvmlDeviceGetPciInfo_v2(nvmlDevice_t device, nvmlPciInfo_t *pci)
{
    return nvmlDeviceGetPciInfo_v3(device, pci);
}

NVML_API nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t device, unsigned int *currentMode, unsigned int *pendingMode)
{
    GET_DEV(d, device);
    if (!currentMode || !pendingMode || d->is_mig)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (d->mig_mode < 0)
        return NVML_ERROR_NOT_SUPPORTED;
    *currentMode = *pendingMode = (unsigned)d->mig_mode;
    return NVML_SUCCESS;
}

NVML_API nvmlReturn_t nvmlDeviceGetMaxMigDeviceCount(nvmlDevice_t device, unsigned int *count)
{
    GET_DEV(d, device);
    if (!count || d->is_mig)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (d->mig_mode < 0)
        return NVML_ERROR_NOT_SUPPORTED;
    *count = d->max_migs;
    return NVML_SUCCESS;
}

NVML_API nvmlReturn_t nvmlDeviceGetMigDeviceHandleByIndex(nvmlDevice_t device, unsigned int index,
                                                          nvmlDevice_t *migDevice)
{
    GET_DEV(d, device);
    if (!migDevice || d->is_mig)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (d->mig_mode < 0)
        return NVML_ERROR_NOT_SUPPORTED;
    if (index >= d->max_migs)
        return NVML_ERROR_INVALID_ARGUMENT;
    for (unsigned m = 0; m < d->n_migs; m++) {
        struct nvmlDevice_st *mig = &fake.migs[d->index][m];
        if (mig->index == index) {
            *migDevice = mig;
            return NVML_SUCCESS;
        }
    }
    return NVML_ERROR_NOT_FOUND;
}

NVML_API nvmlReturn_t nvmlDeviceIsMigDeviceHandle(nvmlDevice_t device, unsigned int *isMigDevice)
{
    GET_DEV(d, device);
    if (!isMigDevice)
        return NVML_ERROR_INVALID_ARGUMENT;
    *isMigDevice = (unsigned)d->is_mig;
    return NVML_SUCCESS;
}

NVML_API nvmlReturn_t nvmlDeviceGetGpuInstanceId(nvmlDevice_t device, unsigned int *id)
{
    GET_DEV(d, device);
    if (!id)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (!d->is_mig)
        return NVML_ERROR_NOT_SUPPORTED;
    *id = d->gi;
    return NVML_SUCCESS;
}

NVML_API nvmlReturn_t nvmlDeviceGetComputeInstanceId(nvmlDevice_t device, unsigned int *id)
{
    GET_DEV(d, device);
    if (!id)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (!d->is_mig)
        return NVML_ERROR_NOT_SUPPORTED;
    *id = d->ci;
    return NVML_SUCCESS;
}

NVML_API nvmlReturn_t nvmlDeviceGetDeviceHandleFromMigDeviceHandle(nvmlDevice_t migDevice, nvmlDevice_t *device)
{
    GET_DEV(d, migDevice);
    if (!device || !d->is_mig)
        return NVML_ERROR_INVALID_ARGUMENT;
    *device = d->parent;
    return NVML_SUCCESS;
}

/* ---- XID events (nvbind device-plugin's health) ----
 * A test raises an XID by appending a line "<GPU UUID> <XID>" to "fakenvml-events" next to
 * the data file; nvmlEventSetWait_v2 hands each new line out once, as an
 * nvmlEventTypeXidCriticalError event of that GPU, to sets the GPU is registered in. */
#define FAKE_EVENT_XID 0x8ull /* nvmlEventTypeXidCriticalError */
#define FAKE_MAX_SETS 8

typedef struct {
    nvmlDevice_t device;
    unsigned long long eventType;
    unsigned long long eventData;
    unsigned int gpuInstanceId;
    unsigned int computeInstanceId;
} nvmlEventData_t;

typedef struct fake_event_set {
    unsigned long long types[MAX_GPUS]; /* per GPU: the event types registered */
    long offset;                        /* how far the events file has been read */
} *nvmlEventSet_t;

NVML_API nvmlReturn_t nvmlEventSetCreate(nvmlEventSet_t *set);
NVML_API nvmlReturn_t nvmlDeviceRegisterEvents(nvmlDevice_t device, unsigned long long eventTypes, nvmlEventSet_t set);
NVML_API nvmlReturn_t nvmlDeviceGetSupportedEventTypes(nvmlDevice_t device, unsigned long long *eventTypes);
NVML_API nvmlReturn_t nvmlEventSetWait_v2(nvmlEventSet_t set, nvmlEventData_t *data, unsigned int timeoutms);
NVML_API nvmlReturn_t nvmlEventSetFree(nvmlEventSet_t set);

static int events_path(char *out, size_t size)
{
    loaderr e = {{0}};
    char data[4096];
    if (data_path(data, sizeof data, &e) < 0)
        return -1;
    const char *slash = strrchr(data, '/');
    int n = snprintf(out, size, "%.*s/fakenvml-events", slash ? (int)(slash - data) : 1, slash ? data : ".");
    return n < 0 || (size_t)n >= size ? -1 : 0;
}

NVML_API nvmlReturn_t nvmlEventSetCreate(nvmlEventSet_t *set)
{
    CHECK_INIT();
    if (!set)
        return NVML_ERROR_INVALID_ARGUMENT;
    *set = calloc(1, sizeof **set);
    if (!*set)
        return NVML_ERROR_UNKNOWN;
    /* Only lines written after the set exists are events for it. */
    char path[4096];
    struct stat st;
    if (events_path(path, sizeof path) == 0 && stat(path, &st) == 0)
        (*set)->offset = (long)st.st_size;
    return NVML_SUCCESS;
}

NVML_API nvmlReturn_t nvmlDeviceGetSupportedEventTypes(nvmlDevice_t device, unsigned long long *eventTypes)
{
    GET_DEV(d, device);
    if (!eventTypes)
        return NVML_ERROR_INVALID_ARGUMENT;
    *eventTypes = d->is_mig ? 0 : FAKE_EVENT_XID;
    return NVML_SUCCESS;
}

NVML_API nvmlReturn_t nvmlDeviceRegisterEvents(nvmlDevice_t device, unsigned long long eventTypes, nvmlEventSet_t set)
{
    GET_DEV(d, device);
    if (!set || d->is_mig)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (eventTypes & ~FAKE_EVENT_XID)
        return NVML_ERROR_NOT_SUPPORTED;
    set->types[d - fake.gpus] |= eventTypes;
    return NVML_SUCCESS;
}

/* The next line of the events file for a GPU registered in set; 1 when one was found. */
static int next_event(nvmlEventSet_t set, nvmlEventData_t *data)
{
    char path[4096], line[256];
    if (events_path(path, sizeof path) < 0)
        return 0;
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    int found = 0;
    if (fseek(f, set->offset, SEEK_SET) == 0) {
        while (!found && fgets(line, sizeof line, f) && strchr(line, '\n')) {
            set->offset = ftell(f);
            char uuid[NVML_DEVICE_UUID_V2_BUFFER_SIZE];
            unsigned long long xid;
            if (sscanf(line, "%95s %llu", uuid, &xid) != 2)
                continue;
            for (unsigned i = 0; i < fake.n_gpus && !found; i++) {
                if (strcmp(fake.gpus[i].uuid, uuid) != 0 || !(set->types[i] & FAKE_EVENT_XID))
                    continue;
                *data = (nvmlEventData_t){.device = &fake.gpus[i], .eventType = FAKE_EVENT_XID, .eventData = xid,
                                          .gpuInstanceId = 0xFFFFFFFFu, .computeInstanceId = 0xFFFFFFFFu};
                found = 1;
            }
        }
    }
    fclose(f);
    return found;
}

NVML_API nvmlReturn_t nvmlEventSetWait_v2(nvmlEventSet_t set, nvmlEventData_t *data, unsigned int timeoutms)
{
    CHECK_INIT();
    if (!set || !data)
        return NVML_ERROR_INVALID_ARGUMENT;
    for (unsigned waited = 0;; waited += 20) {
        if (next_event(set, data))
            return NVML_SUCCESS;
        if (waited >= timeoutms)
            return NVML_ERROR_TIMEOUT;
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

NVML_API nvmlReturn_t nvmlEventSetFree(nvmlEventSet_t set)
{
    free(set);
    return NVML_SUCCESS;
}

/* ---- NVLink (nvbind device-plugin's preferred allocation) ----
 * A GPU's "nvlink_peers" are the PCI bus ids its links 0, 1, ... reach; its other links are
 * inactive. */
#define FAKE_NVLINK_MAX_LINKS 18

typedef int nvmlEnableState_t; /* NVML_FEATURE_DISABLED 0, NVML_FEATURE_ENABLED 1 */

NVML_API nvmlReturn_t nvmlDeviceGetNvLinkState(nvmlDevice_t device, unsigned int link, nvmlEnableState_t *isActive);
NVML_API nvmlReturn_t nvmlDeviceGetNvLinkRemotePciInfo_v2(nvmlDevice_t device, unsigned int link, nvmlPciInfo_t *pci);

static int load_nvlinks(const jnode *g, struct nvmlDevice_st *out, loaderr *e)
{
    const jnode *l = jget(g, "nvlink_peers");
    if (!l || l->t == J_NULL)
        return 0;
    if (l->t != J_ARR)
        return fail(e, "nvlink_peers", "not an array");
    for (const jnode *p = l->kids; p; p = p->next) {
        unsigned dom, bus, dev, fn;
        if (p->t != J_STR || parse_bus_id(p->str, &dom, &bus, &dev, &fn) < 0)
            return fail(e, "nvlink_peers", "not a PCI address like 0000:01:00.0");
        if (out->n_nvlinks >= FAKE_NVLINK_MAX_LINKS)
            return fail(e, "nvlink_peers", "more links than NVML has");
        snprintf(out->nvlink_peers[out->n_nvlinks++], sizeof out->nvlink_peers[0], "%08X:%02X:%02X.%X", dom, bus,
                 dev, fn);
    }
    return 0;
}

NVML_API nvmlReturn_t nvmlDeviceGetNvLinkState(nvmlDevice_t device, unsigned int link, nvmlEnableState_t *isActive)
{
    GET_DEV(d, device);
    if (!isActive || link >= FAKE_NVLINK_MAX_LINKS || d->is_mig)
        return NVML_ERROR_INVALID_ARGUMENT;
    *isActive = link < d->n_nvlinks;
    return NVML_SUCCESS;
}

NVML_API nvmlReturn_t nvmlDeviceGetNvLinkRemotePciInfo_v2(nvmlDevice_t device, unsigned int link, nvmlPciInfo_t *pci)
{
    GET_DEV(d, device);
    if (!pci || link >= FAKE_NVLINK_MAX_LINKS || d->is_mig)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (link >= d->n_nvlinks)
        return NVML_ERROR_NOT_SUPPORTED;
    memset(pci, 0, sizeof *pci);
    snprintf(pci->busId, sizeof pci->busId, "%s", d->nvlink_peers[link]);
    unsigned fn;
    sscanf(pci->busId, "%x:%x:%x.%x", &pci->domain, &pci->bus, &pci->device, &fn);
    return NVML_SUCCESS;
}
