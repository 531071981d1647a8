/* The request side of other vendors' GPUs: a --gpu list of CDI names, one kind per run. */
#include "runtime/run_vendor.h"
#include "cdi/cdi.h"
#include "policy/vendor_spec.h"

#include <stdio.h>
#include <string.h>

bool nvb_vendor_request(const char *req)
{
    const char *s = req + strspn(req, " \t");
    size_t first = strcspn(s, ",");
    const char *eq = memchr(s, '=', first), *slash = memchr(s, '/', first);
    return eq && slash && slash < eq;
}

/* Add the GPUs of kind that NAME names; false when none. */
static bool select_named(const nvb_host *h, const char *kind, const char *name, nvb_edits *nodes, int *r)
{
    bool any = false;
    for (size_t i = 0; *r == 0 && i < h->n_drm_gpus; i++) {
        const nvb_drm_gpu *g = &h->drm_gpus[i];
        if (strcmp(g->kind, kind) != 0 || !nvb_vendor_gpu_named(g, name))
            continue;
        any = true;
        for (size_t j = 0; *r == 0 && j < g->nodes.n; j++)
            *r = nvb_edits_add_node(nodes, &g->nodes.v[j]);
    }
    return any;
}

static int one_entry(const nvb_host *h, const char *entry, const char **kind, nvb_strv *names, nvb_edits *nodes,
                     nvb_err *err)
{
    nvb_cdi_qname q;
    char why[256];
    if (!nvb_cdi_parse_qualified_name(entry, &q, why, sizeof why))
        return nvb_errf(err, NVB_EXIT_USAGE, "--gpu '%s': %s (expected KIND=NAME, e.g. amd.com/gpu=0)", entry, why);
    char k[600];
    snprintf(k, sizeof k, "%s/%s", q.vendor, q.cls);
    int r = 0;
    if (!nvb_vendor_kind_present(h, k)) {
        r = nvb_vendor_kind_reserved(k) || strcmp(k, "nvidia.com/gpu") != 0
                ? nvb_vendor_kind_absent(h, k, err)
                : nvb_errf(err, NVB_EXIT_USAGE,
                           "--gpu '%s': NVIDIA GPUs are named without their kind (0, GPU-..., 0:1, all)", entry);
    } else if (*kind && strcmp(*kind, k) != 0) {
        r = nvb_errf(err, NVB_EXIT_USAGE, "--gpu '%s': one kind of GPU per run (this one asks for %s and %s)", entry,
                     *kind, k);
    } else {
        for (size_t i = 0; i < h->n_drm_gpus; i++)
            if (strcmp(h->drm_gpus[i].kind, k) == 0)
                *kind = h->drm_gpus[i].kind;
        if (!select_named(h, *kind, q.name, nodes, &r) && r == 0)
            r = nvb_errf(err, NVB_EXIT_USAGE,
                         "--gpu '%s': %s has no GPU named '%s' (names: an index, a bus id, or all; see nvbind info)",
                         entry, k, q.name);
        if (r == 0 && !nvb_strv_contains(names, entry) && nvb_strv_push(names, entry) < 0)
            r = -1;
        if (r < 0 && !err->msg[0])
            nvb_errf(err, NVB_EXIT_IO, "out of memory");
    }
    nvb_cdi_qname_free(&q);
    return r;
}

int nvb_vendor_select(const nvb_host *h, const char *req, const char **kind, nvb_strv *names, nvb_edits *nodes,
                      nvb_err *err)
{
    *kind = NULL;
    /* Entries are split by commas and trimmed like every --gpu list; each is then KIND=NAME. */
    int r = 0;
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", req) >= (int)sizeof buf)
        return nvb_errf(err, NVB_EXIT_USAGE, "--gpu: request list too long");
    for (char *save = NULL, *e = strtok_r(buf, ",", &save); r == 0 && e; e = strtok_r(NULL, ",", &save)) {
        e += strspn(e, " \t");
        size_t n = strlen(e);
        while (n && (e[n - 1] == ' ' || e[n - 1] == '\t'))
            e[--n] = '\0';
        if (!*e)
            r = nvb_errf(err, NVB_EXIT_USAGE, "--gpu '%s': empty entry", req);
        else
            r = one_entry(h, e, kind, names, nodes, err);
    }
    return r;
}
