#include "policy/cdi_generate.h"
#include "policy/vendor_spec.h"
#include "cdi/cdi.h"
#include "util/cleanup.h"
#include "util/jsonw.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int nvb_naming_parse(const char *list, unsigned *out, nvb_err *err)
{
    static const struct {
        const char *name;
        unsigned bit;
    } names[] = {{"index", NVB_NAMING_INDEX}, {"uuid", NVB_NAMING_UUID}, {"type-index", NVB_NAMING_TYPE_INDEX}};
    *out = 0;
    if (!*list)
        return nvb_errf(err, NVB_EXIT_USAGE, "--device-name-strategy: empty list (expected index, uuid or type-index)");
    /* Walk the entries by hand: strtok would skip empty ones and accept "index,,uuid". */
    for (const char *tok = list;;) {
        const char *end = strchr(tok, ',');
        size_t len = end ? (size_t)(end - tok) : strlen(tok);
        if (len == 0)
            return nvb_errf(err, NVB_EXIT_USAGE, "--device-name-strategy '%s': empty entry", list);
        size_t i;
        for (i = 0; i < sizeof names / sizeof names[0]; i++)
            if (strlen(names[i].name) == len && memcmp(tok, names[i].name, len) == 0)
                break;
        if (i == sizeof names / sizeof names[0])
            return nvb_errf(err, NVB_EXIT_USAGE,
                            "--device-name-strategy: unknown strategy '%.*s' (expected index, uuid or type-index)",
                            (int)(len > 200 ? 200 : len), tok);
        *out |= names[i].bit;
        if (!end)
            return 0;
        tok = end + 1;
    }
}

char *nvb_cdi_spec_file_name(const char *kind, bool yaml)
{
    char *name = NULL;
    if (asprintf(&name, "%s.%s", kind, yaml ? "yaml" : "json") < 0)
        return NULL;
    for (char *p = name; *p; p++)
        if (*p == '/')
            *p = '-';
    return name;
}

/* ---- the devices of a spec, in spec order ----
 * One walk serves both writers (the jansson tree and the direct JSON text), so the two
 * cannot disagree on which devices a spec holds, in which order, with which edits. */

typedef int (*device_fn)(void *ctx, const char *name, const nvb_edits *e);

/* One device entry per naming strategy for the same edits. */
static int each_name(device_fn fn, void *ctx, unsigned naming, const char *index_name, const char *uuid,
                     const char *type_index_name, const nvb_edits *e)
{
    if ((naming & NVB_NAMING_INDEX) && fn(ctx, index_name, e) < 0)
        return -1;
    if ((naming & NVB_NAMING_UUID) && fn(ctx, uuid, e) < 0)
        return -1;
    if ((naming & NVB_NAMING_TYPE_INDEX) && fn(ctx, type_index_name, e) < 0)
        return -1;
    return 0;
}

/* Every GPU (and its MIG devices) under each naming strategy, then "all". */
static int each_device(const nvb_host *h, unsigned naming, device_fn fn, void *ctx)
{
    nvb_edits all = {0};
    int r = 0;
    for (size_t i = 0; r == 0 && i < h->n_gpus; i++) {
        const nvb_gpu *g = &h->gpus[i];
        nvb_edits e = {0};
        char idx[32], tidx[40];
        snprintf(idx, sizeof idx, "%u", g->index);
        snprintf(tidx, sizeof tidx, "gpu%u", g->index);
        r = nvb_edits_for_gpu(&e, g);
        if (r == 0)
            r = nvb_edits_merge(&all, &e);
        /* WSL2: /dev/dxg reaches every GPU, so a single GPU is one to CUDA only (not "all"). */
        if (r == 0 && h->wsl2)
            r = nvb_edits_setenv(&e, "CUDA_VISIBLE_DEVICES", g->uuid);
        if (r == 0)
            r = each_name(fn, ctx, naming, idx, g->uuid, tidx, &e);
        nvb_edits_clear(&e);
        for (size_t m = 0; r == 0 && m < g->n_migs; m++) {
            nvb_edits me = {0};
            snprintf(idx, sizeof idx, "%u:%u", g->index, g->migs[m].mig_index);
            snprintf(tidx, sizeof tidx, "mig%u:%u", g->index, g->migs[m].mig_index);
            r = nvb_edits_for_mig(&me, g, &g->migs[m]);
            if (r == 0)
                r = each_name(fn, ctx, naming, idx, g->migs[m].uuid, tidx, &me);
            nvb_edits_clear(&me);
        }
    }
    /* WSL2 without NVML's list: every GPU behind /dev/dxg, as one device. */
    for (size_t i = 0; r == 0 && !h->n_gpus && i < h->wsl2_nodes.n; i++)
        r = nvb_edits_add_node(&all, &h->wsl2_nodes.v[i]);
    if (r == 0 && (h->n_gpus || all.nodes.n))
        r = fn(ctx, "all", &all);
    nvb_edits_clear(&all);
    return r;
}

/* The spec-wide edits: control nodes, driver files, hooks, then the caller's extras. */
static int spec_edits(nvb_edits *shared, const nvb_host *h, const nvb_cdi_gen_opts *o)
{
    unsigned caps = o->caps ? o->caps : NVB_CAP_ALL;
    if (nvb_edits_shared(shared, h, caps, o->hook_path) < 0)
        return -1;
    return o->extra ? nvb_edits_merge(shared, o->extra) : 0;
}

static const char *kind_of(const nvb_cdi_gen_opts *o, nvb_err *err)
{
    const char *kind = o->kind ? o->kind : "nvidia.com/gpu";
    char why[256];
    if (!nvb_cdi_kind_valid(kind, why, sizeof why)) {
        nvb_errf(err, NVB_EXIT_USAGE, "--kind '%s': %s", kind, why);
        return NULL;
    }
    return kind;
}

/* ---- as a jansson tree ---- */

static int add_device(void *ctx, const char *name, const nvb_edits *e)
{
    json_t *d = json_pack("{s:s, s:o}", "name", name, "containerEdits", nvb_edits_to_cdi_json(e));
    return d ? json_array_append_new(ctx, d) : -1;
}

json_t *nvb_cdi_generate(const nvb_host *h, const nvb_cdi_gen_opts *o, nvb_err *err)
{
    const char *kind = kind_of(o, err);
    if (!kind)
        return NULL;
    /* Every vendor: another driver's kind gets its own spec, an NVIDIA one needs the driver. */
    if (nvb_vendor_kind_present(h, kind))
        return nvb_vendor_spec(h, kind, err);
    if (nvb_vendor_kind_reserved(kind))
        return nvb_vendor_kind_absent(h, kind, err), NULL;
    if (!nvb_host_has_nvidia(h))
        return nvb_vendor_no_nvidia(h, err), NULL;
    unsigned naming = o->naming ? o->naming : NVB_NAMING_INDEX | NVB_NAMING_UUID;
    json_t *spec = json_pack("{s:s, s:s, s:[]}", "cdiVersion", "0.3.0", "kind", kind, "devices");
    nvb_edits shared = {0};
    int r = spec ? each_device(h, naming, add_device, json_object_get(spec, "devices")) : -1;
    if (r == 0)
        r = spec_edits(&shared, h, o);
    if (r == 0)
        r = json_object_set_new(spec, "containerEdits", nvb_edits_to_cdi_json(&shared));
    nvb_edits_clear(&shared);
    if (r < 0) {
        json_decref(spec);
        nvb_errf(err, NVB_EXIT_IO, "out of memory while building the CDI spec");
        return NULL;
    }
    if (nvb_cdi_set_min_version(spec, err) < 0) {
        json_decref(spec);
        return NULL;
    }
    return spec;
}

/* ---- as JSON text, written directly ---- */

static void write_strings(nvb_jsonw *w, const char *key, const char *const *v, size_t n)
{
    nvb_jsonw_key(w, key);
    nvb_jsonw_array_begin(w);
    for (size_t i = 0; i < n; i++)
        nvb_jsonw_string(w, v[i]);
    nvb_jsonw_array_end(w);
}

/* nvb_edits_to_cdi_json(e), written: same members, same order. */
static void write_edits(nvb_jsonw *w, const nvb_edits *e)
{
    nvb_jsonw_object_begin(w);
    if (e->env.n)
        write_strings(w, "env", (const char *const *)e->env.v, e->env.n);
    if (e->nodes.n) {
        nvb_jsonw_key(w, "deviceNodes");
        nvb_jsonw_array_begin(w);
        for (size_t i = 0; i < e->nodes.n; i++) {
            const nvb_devnode *n = &e->nodes.v[i];
            nvb_jsonw_object_begin(w);
            nvb_jsonw_kstring(w, "path", n->path);
            nvb_jsonw_kstring(w, "hostPath", n->host_path);
            nvb_jsonw_key(w, "type");
            nvb_jsonw_stringn(w, &n->type, 1);
            nvb_jsonw_kint(w, "major", n->major);
            nvb_jsonw_kint(w, "minor", n->minor);
            nvb_jsonw_kint(w, "fileMode", n->mode);
            nvb_jsonw_object_end(w);
        }
        nvb_jsonw_array_end(w);
    }
    if (e->n_mounts) {
        nvb_jsonw_key(w, "mounts");
        nvb_jsonw_array_begin(w);
        for (size_t i = 0; i < e->n_mounts; i++) {
            const nvb_mount *m = &e->mounts[i];
            const char *const *opts = m->writable ? nvb_mount_options_ipc : nvb_mount_options_ro;
            size_t n = 0;
            while (opts[n])
                n++;
            nvb_jsonw_object_begin(w);
            nvb_jsonw_kstring(w, "hostPath", m->host_path);
            nvb_jsonw_kstring(w, "containerPath", m->container_path);
            write_strings(w, "options", opts, n);
            nvb_jsonw_object_end(w);
        }
        nvb_jsonw_array_end(w);
    }
    if (e->n_hooks) {
        nvb_jsonw_key(w, "hooks");
        nvb_jsonw_array_begin(w);
        for (size_t i = 0; i < e->n_hooks; i++) {
            nvb_jsonw_object_begin(w);
            nvb_jsonw_kstring(w, "hookName", e->hooks[i].hook_name);
            nvb_jsonw_kstring(w, "path", e->hooks[i].path);
            write_strings(w, "args", (const char *const *)e->hooks[i].args.v, e->hooks[i].args.n);
            nvb_jsonw_object_end(w);
        }
        nvb_jsonw_array_end(w);
    }
    nvb_jsonw_object_end(w);
}

/* What the written spec uses that raises its minimum version (see lib/cdi/version.c): a
 * device name that does not start with a letter, device nodes (they carry hostPath). */
struct text_gen {
    nvb_jsonw *w;
    bool odd_name;    /* a device name does not start with a letter */
    bool has_nodes;
};

static int write_device(void *ctx, const char *name, const nvb_edits *e)
{
    struct text_gen *t = ctx;
    bool letter = (name[0] >= 'A' && name[0] <= 'Z') || (name[0] >= 'a' && name[0] <= 'z');
    if (!letter && name[0])
        t->odd_name = true;
    if (e->nodes.n)
        t->has_nodes = true;
    nvb_jsonw_object_begin(t->w);
    nvb_jsonw_kstring(t->w, "name", name);
    nvb_jsonw_key(t->w, "containerEdits");
    write_edits(t->w, e);
    nvb_jsonw_object_end(t->w);
    return t->w->failed ? -1 : 0;
}

/* The minimum version of the written spec, by lib/cdi/version.c's table for the features
 * this generator can produce: '.' in the kind's class 0.6.0; device nodes (they carry
 * hostPath) and device names that do not start with a letter 0.5.0; else 0.3.0. Without
 * a jansson tree there is nothing to hand nvb_cdi_min_version(); test_cdi_text checks
 * that both always agree. */
static const char *min_version(const char *kind, const struct text_gen *t)
{
    const char *slash = strchr(kind, '/');
    if (slash && strchr(slash + 1, '.'))
        return "0.6.0";
    return t->odd_name || t->has_nodes ? "0.5.0" : "0.3.0";
}

char *nvb_cdi_generate_json(const nvb_host *h, const nvb_cdi_gen_opts *o, size_t *len, nvb_err *err)
{
    const char *kind = kind_of(o, err);
    if (!kind)
        return NULL;
    if (nvb_vendor_kind_present(h, kind) || nvb_vendor_kind_reserved(kind) || !nvb_host_has_nvidia(h)) { /* every vendor: the tree's path */
        json_t *spec = nvb_cdi_generate(h, o, err);
        char *text = spec ? nvb_cdi_to_json(spec) : NULL;
        json_decref(spec);
        if (spec && !text)
            nvb_errf(err, NVB_EXIT_IO, "out of memory while writing the CDI spec");
        if (text && len)
            *len = strlen(text);
        return text;
    }
    unsigned naming = o->naming ? o->naming : NVB_NAMING_INDEX | NVB_NAMING_UUID;
    nvb_jsonw w;
    /* About 2.3 KiB per GPU and 420 bytes per driver file (its mount, its links in the
     * hook's arguments), with room to spare: the buffer never grows (a realloc would touch
     * the pages twice, and each first touch is a page fault), and its untouched end costs
     * nothing. */
    nvb_jsonw_init(&w, 2, 8192 + 3072 * h->n_gpus + 512 * h->n_comps);
    struct text_gen t = {.w = &w};
    nvb_edits shared = {0};
    nvb_jsonw_object_begin(&w);
    /* The version depends on what follows: written as "0.3.0" now, put right at the end
     * (every version min_version() answers is five characters long). */
    nvb_jsonw_kstring(&w, "cdiVersion", "0.3.0");
    size_t version_at = w.len - 6;
    nvb_jsonw_kstring(&w, "kind", kind);
    nvb_jsonw_key(&w, "devices");
    nvb_jsonw_array_begin(&w);
    int r = each_device(h, naming, write_device, &t);
    nvb_jsonw_array_end(&w);
    if (r == 0)
        r = spec_edits(&shared, h, o);
    if (r == 0) {
        if (shared.nodes.n)
            t.has_nodes = true;
        nvb_jsonw_key(&w, "containerEdits");
        write_edits(&w, &shared);
    }
    nvb_edits_clear(&shared);
    nvb_jsonw_object_end(&w);
    if (r < 0 || w.failed) {
        nvb_jsonw_free(&w);
        nvb_errf(err, NVB_EXIT_IO, "out of memory while building the CDI spec");
        return NULL;
    }
    if (w.bad_utf8) {
        nvb_jsonw_free(&w);
        nvb_errf(err, NVB_EXIT_HOST_DATA, "CDI spec: a host path or device name is not valid UTF-8");
        return NULL;
    }
    memcpy(w.buf + version_at, min_version(kind, &t), 5);
    return nvb_jsonw_finish(&w, len);
}
