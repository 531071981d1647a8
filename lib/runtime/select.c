#include "runtime/select.h"
#include "util/cleanup.h"
#include "util/grow.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The request as written, quoted when it holds more than a name: "7", "'0,,1'". */
static void quote_list(const char *list, char *out, size_t len)
{
    bool plain = *list != '\0';
    for (const char *p = list; *p && plain; p++)
        plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr("-_.:/", *p);
    if (plain)
        snprintf(out, len, "%.200s", list);
    else
        snprintf(out, len, "'%.200s%s'", list, strlen(list) > 200 ? "..." : "");
}

#define REQ_ERR(err, what, list, ...)                                                                       \
    ({                                                                                                       \
        char q_[256];                                                                                        \
        quote_list(list, q_, sizeof q_);                                                                     \
        char m_[512];                                                                                        \
        snprintf(m_, sizeof m_, __VA_ARGS__);                                                                \
        nvb_errf(err, NVB_EXIT_USAGE, "%s %s: %s", what, q_, m_);                                            \
    })

/* Decimal without sign or leading '+', at most 6 digits: device numbers are small. */
static bool parse_small_uint(const char *s, size_t n, unsigned *out)
{
    if (n == 0 || n > 6)
        return false;
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    *out = v;
    return true;
}

/* "G:M" -> gpu, mig. */
static bool parse_mig_pair(const char *s, unsigned *gpu, unsigned *mig)
{
    const char *colon = strchr(s, ':');
    return colon && parse_small_uint(s, (size_t)(colon - s), gpu) && parse_small_uint(colon + 1, strlen(colon + 1), mig);
}

static bool uuid_chars(const char *s, bool allow_slash)
{
    if (!*s)
        return false;
    for (; *s; s++) {
        char c = *s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
              (allow_slash && c == '/')))
            return false;
    }
    return true;
}

enum entry_kind { E_ALL, E_NONE, E_INDEX, E_UUID, E_MIG_PAIR, E_MIG_UUID, E_BAD };

static enum entry_kind classify(const char *e, bool env_words, unsigned *a, unsigned *b)
{
    if (strcmp(e, "all") == 0)
        return E_ALL;
    if (strcmp(e, "none") == 0 || (env_words && strcmp(e, "void") == 0))
        return E_NONE;
    if (parse_small_uint(e, strlen(e), a))
        return E_INDEX;
    if (strncmp(e, "gpu", 3) == 0 && parse_small_uint(e + 3, strlen(e + 3), a))
        return E_INDEX;
    if (parse_mig_pair(e, a, b) || (strncmp(e, "mig", 3) == 0 && parse_mig_pair(e + 3, a, b)))
        return E_MIG_PAIR;
    if (strncasecmp(e, "GPU-", 4) == 0 && uuid_chars(e + 4, false))
        return E_UUID;
    if (strncasecmp(e, "MIG-", 4) == 0 && uuid_chars(e + 4, true))
        return E_MIG_UUID;
    return E_BAD;
}

static int split_entries(const char *list, const char *what, bool env_words, nvb_strv *entries, size_t start,
                         nvb_err *err)
{
    bool special = false;
    unsigned a, b;
    for (const char *p = list;;) {
        const char *end = strchrnul(p, ',');
        const char *lo = p, *hi = end;
        while (lo < hi && (*lo == ' ' || *lo == '\t'))
            lo++;
        while (hi > lo && (hi[-1] == ' ' || hi[-1] == '\t'))
            hi--;
        if (lo == hi)
            return REQ_ERR(err, what, list, "empty entry");
        _cleanup_free_ char *e = strndup(lo, (size_t)(hi - lo));
        if (!e)
            return nvb_errf(err, NVB_EXIT_IO, "out of memory");
        enum entry_kind k = classify(e, env_words, &a, &b);
        if (k == E_BAD)
            return REQ_ERR(err, what, list, "'%.100s' is not a GPU index, UUID (GPU-...) or MIG device (0:1, MIG-...)", e);
        if (k == E_ALL || k == E_NONE)
            special = true;
        if (special && (entries->n > start || *end == ',' || (k != E_ALL && k != E_NONE)))
            return REQ_ERR(err, what, list, "'all' and 'none' cannot be combined with other entries");
        if (k != E_NONE && nvb_strv_push_take(entries, NVB_TAKE(e)) < 0)
            return nvb_errf(err, NVB_EXIT_IO, "out of memory");
        if (*end == '\0')
            return 0;
        p = end + 1;
    }
}

int nvb_devreq_split(const char *list, const char *what, bool env_words, nvb_strv *entries, nvb_err *err)
{
    size_t len = strnlen(list, NVB_DEVREQ_MAX_LEN + 1);
    if (len > NVB_DEVREQ_MAX_LEN)
        return nvb_errf(err, NVB_EXIT_USAGE, "%s: request list longer than %u bytes", what, NVB_DEVREQ_MAX_LEN);
    const char *s = list + strspn(list, " \t");
    if (*s == '\0') {
        if (env_words)
            return 0;
        return REQ_ERR(err, what, list, "empty list (expected all, none, or GPU indices, UUIDs or MIG devices)");
    }
    size_t start = entries->n;
    if (split_entries(list, what, env_words, entries, start, err) < 0) {
        while (entries->n > start) /* the caller sees no partial result */
            free(entries->v[--entries->n]);
        if (entries->v)
            entries->v[start] = NULL;
        return -1;
    }
    return (int)(entries->n - start);
}

/* "(GPUs 0-1)", "(GPU 0 only)", "(it has no GPU)". */
static void host_gpus_text(const nvb_host *h, char *out, size_t len)
{
    if (h->n_gpus == 0) {
        snprintf(out, len, "it has no GPU");
        return;
    }
    unsigned lo = h->gpus[0].index, hi = lo;
    for (size_t i = 1; i < h->n_gpus; i++) {
        lo = h->gpus[i].index < lo ? h->gpus[i].index : lo;
        hi = h->gpus[i].index > hi ? h->gpus[i].index : hi;
    }
    if (h->n_gpus == 1)
        snprintf(out, len, "GPU %u only", lo);
    else
        snprintf(out, len, "GPUs %u-%u", lo, hi);
}

static const nvb_gpu *gpu_by_index(const nvb_host *h, unsigned idx)
{
    for (size_t i = 0; i < h->n_gpus; i++)
        if (h->gpus[i].index == idx)
            return &h->gpus[i];
    return NULL;
}

static int sel_push(nvb_selection *sel, const nvb_gpu *g, const nvb_mig_device *m)
{
    nvb_selected *nv = nvb_grow(sel->v, &sel->cap, sel->n, sizeof *nv, 8);
    if (!nv)
        return -1;
    sel->v = nv;
    nvb_selected *s = &sel->v[sel->n++];
    s->gpu = g;
    s->mig = m;
    if (m)
        snprintf(s->name, sizeof s->name, "%u:%u", g->index, m->mig_index);
    else
        snprintf(s->name, sizeof s->name, "%u", g->index);
    return 0;
}

static ssize_t sel_find(const nvb_selection *sel, size_t from, const nvb_gpu *g, const nvb_mig_device *m)
{
    for (size_t i = from; i < sel->n; i++)
        if (sel->v[i].gpu == g && sel->v[i].mig == m)
            return (ssize_t)i;
    return -1;
}

static void describe(const nvb_gpu *g, const nvb_mig_device *m, char *out, size_t len)
{
    if (m)
        snprintf(out, len, "MIG device %u:%u (%s)", g->index, m->mig_index, m->uuid ? m->uuid : "?");
    else
        snprintf(out, len, "GPU %u (%s)", g->index, g->uuid ? g->uuid : "?");
}

/* Add one resolved device; duplicates inside this call (index >= from) are errors. */
static int add_device(nvb_selection *sel, size_t from, const nvb_gpu *g, const nvb_mig_device *m, const char *what,
                      const char *list, nvb_err *err)
{
    char d[160];
    if (sel_find(sel, from, g, m) >= 0) {
        describe(g, m, d, sizeof d);
        return REQ_ERR(err, what, list, "%s is listed twice", d);
    }
    /* A MIG device and its whole parent GPU in the same request overlap. */
    for (size_t i = from; i < sel->n; i++) {
        if (sel->v[i].gpu != g || !!sel->v[i].mig == !!m)
            continue;
        const nvb_mig_device *mm = m ? m : sel->v[i].mig;
        return REQ_ERR(err, what, list, "MIG device %u:%u is part of GPU %u, which is also listed", g->index,
                       mm->mig_index, g->index);
    }
    if (sel_find(sel, 0, g, m) >= 0)
        return 0; /* an earlier request source asked for it already */
    return sel_push(sel, g, m) < 0 ? nvb_errf(err, NVB_EXIT_IO, "out of memory") : 0;
}

static int resolve_entry(nvb_selection *sel, size_t from, const nvb_host *h, const char *what, const char *list,
                         const char *e, bool env_words, nvb_err *err)
{
    unsigned a = 0, b = 0;
    char have[64];
    enum entry_kind k = classify(e, env_words, &a, &b);
    switch (k) {
    case E_ALL:
        if (h->n_gpus == 0 && h->wsl2_nodes.n) { /* WSL2, no GPU list: every GPU behind /dev/dxg */
            sel->all = true;
            sel->all_nodes = &h->wsl2_nodes;
            return 0;
        }
        if (h->n_gpus == 0)
            return REQ_ERR(err, what, list, "no GPU on this host");
        sel->all = true;
        for (size_t i = 0; i < h->n_gpus; i++)
            if (sel_find(sel, 0, &h->gpus[i], NULL) < 0 && sel_push(sel, &h->gpus[i], NULL) < 0)
                return nvb_errf(err, NVB_EXIT_IO, "out of memory");
        return 0;
    case E_INDEX: {
        const nvb_gpu *g = gpu_by_index(h, a);
        if (!g) {
            host_gpus_text(h, have, sizeof have);
            return REQ_ERR(err, what, list, "no GPU %u on this host (%s)", a, have);
        }
        return add_device(sel, from, g, NULL, what, list, err);
    }
    case E_UUID:
        for (size_t i = 0; i < h->n_gpus; i++)
            if (h->gpus[i].uuid && strcasecmp(h->gpus[i].uuid, e) == 0)
                return add_device(sel, from, &h->gpus[i], NULL, what, list, err);
        host_gpus_text(h, have, sizeof have);
        return REQ_ERR(err, what, list, "no GPU with UUID %.100s on this host (%s)", e, have);
    case E_MIG_PAIR: {
        const nvb_gpu *g = gpu_by_index(h, a);
        if (!g) {
            host_gpus_text(h, have, sizeof have);
            return REQ_ERR(err, what, list, "no GPU %u on this host (%s) for MIG device %u:%u", a, have, a, b);
        }
        for (size_t m = 0; m < g->n_migs; m++)
            if (g->migs[m].mig_index == b)
                return add_device(sel, from, g, &g->migs[m], what, list, err);
        if (g->n_migs == 0)
            return REQ_ERR(err, what, list, "no MIG device %u:%u on this host (GPU %u has no MIG devices)", a, b, a);
        return REQ_ERR(err, what, list, "no MIG device %u:%u on this host (GPU %u has %zu MIG device%s)", a, b, a,
                       g->n_migs, g->n_migs == 1 ? "" : "s");
    }
    case E_MIG_UUID:
        for (size_t i = 0; i < h->n_gpus; i++)
            for (size_t m = 0; m < h->gpus[i].n_migs; m++)
                if (h->gpus[i].migs[m].uuid && strcasecmp(h->gpus[i].migs[m].uuid, e) == 0)
                    return add_device(sel, from, &h->gpus[i], &h->gpus[i].migs[m], what, list, err);
        return REQ_ERR(err, what, list, "no MIG device with UUID %.100s on this host", e);
    case E_NONE:
    case E_BAD:
        break;
    }
    return REQ_ERR(err, what, list, "'%.100s' is not a GPU index, UUID (GPU-...) or MIG device (0:1, MIG-...)", e);
}

int nvb_select_add(nvb_selection *sel, const nvb_host *h, const char *what, const char *list, bool env_words,
                   nvb_err *err)
{
    nvb_strv entries = {0};
    int n = nvb_devreq_split(list, what, env_words, &entries, err);
    size_t from = sel->n;
    bool was_all = sel->all;
    int r = n < 0 ? -1 : 0;
    for (size_t i = 0; r == 0 && i < entries.n; i++)
        r = resolve_entry(sel, from, h, what, list, entries.v[i], env_words, err);
    nvb_strv_free(&entries);
    if (r < 0) {
        sel->n = from; /* a failed request adds nothing */
        sel->all = was_all;
    }
    return r;
}

void nvb_selection_clear(nvb_selection *sel)
{
    free(sel->v);
    memset(sel, 0, sizeof *sel);
}

bool nvb_selection_empty(const nvb_selection *sel)
{
    return sel->n == 0 && !(sel->all && sel->all_nodes);
}

int nvb_selection_edits(const nvb_selection *sel, nvb_edits *e)
{
    for (size_t i = 0; sel->all && sel->all_nodes && i < sel->all_nodes->n; i++)
        if (nvb_edits_add_node(e, &sel->all_nodes->v[i]) < 0)
            return -1;
    for (size_t i = 0; i < sel->n; i++) {
        int r = sel->v[i].mig ? nvb_edits_for_mig(e, sel->v[i].gpu, sel->v[i].mig) : nvb_edits_for_gpu(e, sel->v[i].gpu);
        if (r < 0)
            return -1;
    }
    return 0;
}

int nvb_selection_cdi_names(const nvb_selection *sel, const char *kind, nvb_strv *out)
{
    if (sel->all && nvb_strv_pushf(out, "%s=all", kind) < 0)
        return -1;
    for (size_t i = 0; i < sel->n; i++) {
        /* "all" covers every whole GPU; MIG devices still need their own names. */
        if (sel->all && !sel->v[i].mig)
            continue;
        if (nvb_strv_pushf(out, "%s=%s", kind, sel->v[i].name) < 0)
            return -1;
    }
    return 0;
}

char *nvb_selection_describe(const nvb_selection *sel)
{
    if (sel->n == 0)
        return strdup(sel->all && sel->all_nodes ? "all" : "none");
    if (sel->all) {
        bool migs = false;
        for (size_t i = 0; i < sel->n; i++)
            migs |= sel->v[i].mig != NULL;
        if (!migs)
            return strdup("all");
    }
    size_t len = 1;
    for (size_t i = 0; i < sel->n; i++)
        len += strlen(sel->v[i].name) + 1;
    char *out = malloc(len);
    if (!out)
        return NULL;
    out[0] = '\0';
    for (size_t i = 0; i < sel->n; i++) {
        if (i)
            strcat(out, ",");
        strcat(out, sel->v[i].name);
    }
    return out;
}
