/* NVIDIA's request variables: parsing and checking them against the host (see nvidia_env.h). */
#include "policy/nvidia_env.h"
#include "util/cleanup.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void nvb_nvidia_env_clear(nvb_nvidia_env *e)
{
    nvb_strv_free(&e->require);
    memset(e, 0, sizeof *e);
}

static const struct {
    const char *name;
    unsigned bit;
} cap_names[] = {
    {"compute", NVB_CAP_COMPUTE}, {"compat32", NVB_CAP_COMPAT32}, {"display", NVB_CAP_DISPLAY},
    {"graphics", NVB_CAP_GRAPHICS}, {"ngx", NVB_CAP_NGX},        {"utility", NVB_CAP_UTILITY},
    {"video", NVB_CAP_VIDEO},       {"all", NVB_CAP_ALL},
};

int nvb_nvidia_caps_parse(const char *value, unsigned *caps, nvb_err *err)
{
    *caps = 0;
    for (const char *p = value;;) {
        const char *end = strchrnul(p, ',');
        const char *lo = p, *hi = end;
        while (lo < hi && isspace((unsigned char)*lo))
            lo++;
        while (hi > lo && isspace((unsigned char)hi[-1]))
            hi--;
        size_t n = (size_t)(hi - lo);
        bool known = n == 0;
        for (size_t i = 0; !known && i < sizeof cap_names / sizeof cap_names[0]; i++) {
            if (strlen(cap_names[i].name) == n && strncmp(cap_names[i].name, lo, n) == 0) {
                *caps |= cap_names[i].bit;
                known = true;
            }
        }
        if (!known)
            return nvb_errf(err, NVB_EXIT_INPUT,
                            "NVIDIA_DRIVER_CAPABILITIES '%.200s': unknown capability '%.*s' (expected compute, "
                            "compat32, display, graphics, ngx, utility, video or all)",
                            value, (int)(n > 100 ? 100 : n), lo);
        if (!*end)
            return 0;
        p = end + 1;
    }
}

static bool truthy(const char *v)
{
    return strcasecmp(v, "1") == 0 || strcasecmp(v, "true") == 0 || strcasecmp(v, "yes") == 0 ||
           strcasecmp(v, "on") == 0;
}

int nvb_nvidia_env_add(nvb_nvidia_env *e, const char *entry, nvb_err *err)
{
    static const char caps_key[] = "NVIDIA_DRIVER_CAPABILITIES=";
    static const char disable_key[] = "NVIDIA_DISABLE_REQUIRE=";
    static const char require_prefix[] = "NVIDIA_REQUIRE_";
    if (strncmp(entry, caps_key, sizeof caps_key - 1) == 0) {
        const char *v = entry + sizeof caps_key - 1;
        /* Empty is unset: nothing narrowed. */
        e->has_caps = v[strspn(v, " \t,")] != '\0';
        return e->has_caps ? nvb_nvidia_caps_parse(v, &e->caps, err) : 0;
    }
    if (strncmp(entry, disable_key, sizeof disable_key - 1) == 0) {
        e->disable_require = truthy(entry + sizeof disable_key - 1);
        return 0;
    }
    if (strncmp(entry, require_prefix, sizeof require_prefix - 1) == 0 && strchr(entry, '=') &&
        nvb_strv_push(&e->require, entry) < 0)
        return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    return 0;
}

int nvb_version_cmp(const char *a, const char *b)
{
    while (*a || *b) {
        unsigned long x = strtoul(a, (char **)&a, 10), y = strtoul(b, (char **)&b, 10);
        if (x != y)
            return x < y ? -1 : 1;
        /* Past the number: the next part starts after a '.', anything else ends the version. */
        a = *a == '.' ? a + 1 : a + strlen(a);
        b = *b == '.' ? b + 1 : b + strlen(b);
    }
    return 0;
}

/* The CUDA version each driver branch reports (NVIDIA's CUDA release notes, "CUDA Toolkit
 * and corresponding driver versions"), newest last. */
static const struct {
    unsigned branch;
    const char *cuda;
} cuda_by_branch[] = {
    {450, "11.0"}, {455, "11.1"}, {460, "11.2"}, {465, "11.3"}, {470, "11.4"}, {495, "11.5"},
    {510, "11.6"}, {515, "11.7"}, {520, "11.8"}, {525, "12.0"}, {530, "12.1"}, {535, "12.2"},
    {545, "12.3"}, {550, "12.4"}, {555, "12.5"}, {560, "12.6"}, {565, "12.7"}, {570, "12.8"},
    {575, "12.9"}, {580, "13.0"},
};

const char *nvb_cuda_version_of_driver(const char *driver_version)
{
    if (!driver_version || !isdigit((unsigned char)driver_version[0]))
        return NULL;
    unsigned long branch = strtoul(driver_version, NULL, 10);
    const char *best = NULL;
    for (size_t i = 0; i < sizeof cuda_by_branch / sizeof cuda_by_branch[0]; i++)
        if (branch >= cuda_by_branch[i].branch)
            best = cuda_by_branch[i].cuda;
    return best;
}

/* ---- the check ------------------------------------------------------------------------------ */

enum op { OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE };

typedef struct constraint {
    char name[16];
    enum op op;
    char value[64];
} constraint;

/* "cuda>=12.2" -> {cuda, >=, 12.2}; -1 when it is no NAME OP VALUE. */
static int parse_constraint(const char *s, size_t len, constraint *c)
{
    size_t n = 0;
    while (n < len && (islower((unsigned char)s[n]) || isdigit((unsigned char)s[n]) || s[n] == '_'))
        n++;
    if (n == 0 || n >= sizeof c->name)
        return -1;
    memcpy(c->name, s, n);
    c->name[n] = '\0';
    static const struct {
        const char *text;
        enum op op;
    } ops[] = {{"==", OP_EQ}, {"!=", OP_NE}, {"<=", OP_LE}, {">=", OP_GE}, {"=", OP_EQ}, {"<", OP_LT}, {">", OP_GT}};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        size_t ol = strlen(ops[i].text);
        if (len - n > ol && strncmp(s + n, ops[i].text, ol) == 0) {
            size_t vl = len - n - ol;
            if (vl >= sizeof c->value)
                return -1;
            c->op = ops[i].op;
            memcpy(c->value, s + n + ol, vl);
            c->value[vl] = '\0';
            return 0;
        }
    }
    return -1;
}

static bool compare(int cmp, enum op op)
{
    switch (op) {
    case OP_EQ:
        return cmp == 0;
    case OP_NE:
        return cmp != 0;
    case OP_LT:
        return cmp < 0;
    case OP_LE:
        return cmp <= 0;
    case OP_GT:
        return cmp > 0;
    case OP_GE:
        return cmp >= 0;
    }
    return false;
}

typedef struct facts {
    const char *driver;
    const char *cuda;
    const nvb_gpu *const *gpus;
    size_t n_gpus;
} facts;

static bool version_holds(const char *have, const constraint *c)
{
    return have && compare(nvb_version_cmp(have, c->value), c->op);
}

/* 1 met, 0 not, -1 malformed (unknown name, an order on brand). */
static int holds(const constraint *c, const facts *f)
{
    if (strcmp(c->name, "cuda") == 0)
        return version_holds(f->cuda, c);
    if (strcmp(c->name, "driver") == 0)
        return version_holds(f->driver, c);
    bool arch = strcmp(c->name, "arch") == 0, brand = strcmp(c->name, "brand") == 0;
    if (!arch && !brand)
        return -1;
    if (brand && c->op != OP_EQ && c->op != OP_NE)
        return -1;
    if (f->n_gpus == 0)
        return 0;
    for (size_t i = 0; i < f->n_gpus; i++) {
        const nvb_gpu *g = f->gpus[i];
        if (arch) {
            if (g->cc_major <= 0)
                return 0; /* unknown without NVML */
            char cc[32];
            snprintf(cc, sizeof cc, "%d.%d", g->cc_major, g->cc_minor < 0 ? 0 : g->cc_minor);
            if (!version_holds(cc, c))
                return 0;
        } else if (!g->brand || (strcasecmp(g->brand, c->value) == 0) != (c->op == OP_EQ)) {
            return 0;
        }
    }
    return 1;
}

/* One alternative "a,b,c": all of them. */
static int alternative_holds(const char *s, size_t len, const facts *f, const char **bad, size_t *bad_len)
{
    int all = 1;
    for (const char *p = s, *end = s + len; p < end;) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *stop = comma ? comma : end;
        if (stop > p) {
            constraint c;
            int r = parse_constraint(p, (size_t)(stop - p), &c) < 0 ? -1 : holds(&c, f);
            if (r < 0) {
                *bad = p;
                *bad_len = (size_t)(stop - p);
                return -1;
            }
            all &= r;
        }
        p = stop + 1;
    }
    return all;
}

/* One variable's expression: any of its blank-separated alternatives. */
static int expression_holds(const char *expr, const facts *f, const char **bad, size_t *bad_len)
{
    bool any_alternative = false;
    int any = 0;
    for (const char *p = expr; *p;) {
        p += strspn(p, " \t");
        size_t n = strcspn(p, " \t");
        if (n == 0)
            break;
        any_alternative = true;
        int r = alternative_holds(p, n, f, bad, bad_len);
        if (r < 0)
            return -1;
        any |= r;
        p += n;
    }
    return any_alternative ? any : 1;
}

int nvb_nvidia_require_check(const nvb_nvidia_env *e, const nvb_host *h, const nvb_gpu *const *gpus, size_t n_gpus,
                             nvb_err *err)
{
    if (e->disable_require)
        return 0;
    facts f = {.driver = h->driver_version,
               .cuda = h->cuda_version ? h->cuda_version : nvb_cuda_version_of_driver(h->driver_version),
               .gpus = gpus,
               .n_gpus = n_gpus};
    for (size_t i = 0; i < e->require.n; i++) {
        const char *entry = e->require.v[i];
        const char *eq = strchr(entry, '=');
        const char *bad = NULL;
        size_t bad_len = 0;
        int r = expression_holds(eq + 1, &f, &bad, &bad_len);
        int klen = (int)(eq - entry);
        if (r < 0)
            return nvb_errf(err, NVB_EXIT_INPUT,
                            "%.*s '%.200s': bad constraint '%.*s' (expected cuda, driver, arch or brand, an operator "
                            "of = == != < <= > >= and a value)",
                            klen > 100 ? 100 : klen, entry, eq + 1, (int)(bad_len > 100 ? 100 : bad_len), bad);
        if (r == 0)
            return nvb_errf(err, NVB_EXIT_INPUT,
                            "%.*s '%.200s': not met by this host (driver %s, CUDA %s); set NVIDIA_DISABLE_REQUIRE=true "
                            "to skip the check",
                            klen > 100 ? 100 : klen, entry, eq + 1, f.driver ? f.driver : "unknown",
                            f.cuda ? f.cuda : "unknown");
    }
    return 0;
}
