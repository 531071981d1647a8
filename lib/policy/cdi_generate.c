#include "policy/cdi_generate.h"
#include "cdi/cdi.h"
#include "util/cleanup.h"

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
    _cleanup_free_ char *copy = strdup(list);
    if (!copy)
        return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        size_t i;
        for (i = 0; i < sizeof names / sizeof names[0]; i++)
            if (strcmp(tok, names[i].name) == 0)
                break;
        if (i == sizeof names / sizeof names[0])
            return nvb_errf(err, NVB_EXIT_USAGE,
                            "--device-name-strategy: unknown strategy '%s' (expected index, uuid or type-index)", tok);
        *out |= names[i].bit;
    }
    if (!*out)
        return nvb_errf(err, NVB_EXIT_USAGE, "--device-name-strategy: empty list (expected index, uuid or type-index)");
    return 0;
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

static int add_device(json_t *devices, const char *name, const nvb_edits *e)
{
    json_t *d = json_pack("{s:s, s:o}", "name", name, "containerEdits", nvb_edits_to_cdi_json(e));
    return d ? json_array_append_new(devices, d) : -1;
}

/* One device entry per naming strategy for the same edits. */
static int add_named(json_t *devices, unsigned naming, const char *index_name, const char *uuid,
                     const char *type_index_name, const nvb_edits *e)
{
    if ((naming & NVB_NAMING_INDEX) && add_device(devices, index_name, e) < 0)
        return -1;
    if ((naming & NVB_NAMING_UUID) && add_device(devices, uuid, e) < 0)
        return -1;
    if ((naming & NVB_NAMING_TYPE_INDEX) && add_device(devices, type_index_name, e) < 0)
        return -1;
    return 0;
}

json_t *nvb_cdi_generate(const nvb_host *h, const nvb_cdi_gen_opts *o, nvb_err *err)
{
    const char *kind = o->kind ? o->kind : "nvidia.com/gpu";
    char why[256];
    if (!nvb_cdi_kind_valid(kind, why, sizeof why)) {
        nvb_errf(err, NVB_EXIT_USAGE, "--kind '%s': %s", kind, why);
        return NULL;
    }
    unsigned naming = o->naming ? o->naming : NVB_NAMING_INDEX | NVB_NAMING_UUID;
    unsigned caps = o->caps ? o->caps : NVB_CAP_ALL;
    json_t *spec = json_pack("{s:s, s:s, s:[]}", "cdiVersion", "0.3.0", "kind", kind, "devices");
    json_t *devices = json_object_get(spec, "devices");
    nvb_edits all = {0}, shared = {0};
    int r = 0;
    for (size_t i = 0; r == 0 && i < h->n_gpus; i++) {
        const nvb_gpu *g = &h->gpus[i];
        nvb_edits e = {0};
        char idx[32], tidx[40];
        snprintf(idx, sizeof idx, "%u", g->index);
        snprintf(tidx, sizeof tidx, "gpu%u", g->index);
        r = nvb_edits_for_gpu(&e, g);
        if (r == 0)
            r = add_named(devices, naming, idx, g->uuid, tidx, &e);
        if (r == 0)
            r = nvb_edits_merge(&all, &e);
        nvb_edits_clear(&e);
        for (size_t m = 0; r == 0 && m < g->n_migs; m++) {
            nvb_edits me = {0};
            snprintf(idx, sizeof idx, "%u:%u", g->index, g->migs[m].mig_index);
            snprintf(tidx, sizeof tidx, "mig%u:%u", g->index, g->migs[m].mig_index);
            r = nvb_edits_for_mig(&me, g, &g->migs[m]);
            if (r == 0)
                r = add_named(devices, naming, idx, g->migs[m].uuid, tidx, &me);
            nvb_edits_clear(&me);
        }
    }
    if (r == 0 && h->n_gpus)
        r = add_device(devices, "all", &all);
    if (r == 0)
        r = nvb_edits_shared(&shared, h, caps, o->hook_path);
    if (r == 0 && o->extra)
        r = nvb_edits_merge(&shared, o->extra);
    if (r == 0)
        r = json_object_set_new(spec, "containerEdits", nvb_edits_to_cdi_json(&shared));
    nvb_edits_clear(&all);
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
