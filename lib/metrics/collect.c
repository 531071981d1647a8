/* One collection for the exporter and `nvbind top` (collect.h): discovery when due, NVML's
 * sample, the containers behind NVML's processes, claims, audit counts. */
#include "metrics/collect.h"
#include "cdi/cdi.h"
#include "isolation/audit.h"
#include "metrics/attribute.h"
#include "policy/cdi_check.h"
#include "util/clock.h"
#include "util/grow.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Seconds on the monotonic clock, finer than nvb_mono_ms: a scrape takes about a millisecond. */
static double mono_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct nvb_collector {
    nvb_collector_opts o;
    nvb_host *host;
    char host_why[1024];
    int64_t discovered_ms;       /* nvb_mono_ms of the last discovery; 0 = never */
    double discovery_seconds;
    nvb_spec_state *specs;
    size_t n_specs;
    nvb_nvml_sampler *sampler;
    char sampler_lib[4096];
    nvb_audit_counts audit;
};

nvb_collector *nvb_collector_new(const nvb_collector_opts *o)
{
    nvb_collector *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->o = *o;
    if (!c->o.proc_root)
        c->o.proc_root = "/proc";
    if (!c->o.nvml_timeout_ms)
        c->o.nvml_timeout_ms = 2000;
    if (!c->o.rediscover_s)
        c->o.rediscover_s = 30;
    c->o.discover.with_nvml = false; /* the sampler asks NVML itself, bounded */
    c->o.discover.nvml_for_mig = false;
    return c;
}

static void specs_clear(nvb_collector *c)
{
    for (size_t i = 0; i < c->n_specs; i++)
        free(c->specs[i].path);
    free(c->specs);
    c->specs = NULL;
    c->n_specs = 0;
}

void nvb_collector_free(nvb_collector *c)
{
    if (!c)
        return;
    nvb_host_free(c->host);
    specs_clear(c);
    nvb_nvml_sampler_free(c->sampler);
    free(c);
}

/* `cdi check` for every nvbind spec in the spec folders, against the host just found. */
static void check_specs(nvb_collector *c)
{
    specs_clear(c);
    nvb_cdi_listing l = {0};
    nvb_err err = {0};
    if (!c->host || nvb_cdi_list(c->o.spec_dirs, c->o.n_spec_dirs, &l, &err) < 0)
        return;
    size_t cap = 0;
    for (size_t i = 0; i < l.n; i++) {
        json_t *spec = nvb_cdi_load_file(l.files[i].path, &err);
        if (spec && nvb_cdi_is_nvbind_spec(spec)) {
            nvb_strv reasons = {0};
            nvb_spec_state *v = nvb_grow(c->specs, &cap, c->n_specs, sizeof *v, 4);
            int n = nvb_cdi_stale_reasons(spec, c->host, &reasons);
            if (v && n >= 0) {
                c->specs = v;
                v[c->n_specs++] = (nvb_spec_state){.path = strdup(l.files[i].path), .fresh = n == 0,
                                                   .n_reasons = (size_t)n};
            }
            nvb_strv_free(&reasons);
        }
        json_decref(spec);
    }
    nvb_cdi_listing_free(&l);
}

static void use_sampler_for(nvb_collector *c)
{
    const nvb_component *lib = c->host ? nvb_host_nvml_library(c->host) : NULL;
    const char *path = lib ? lib->host_path : "";
    if (c->sampler && strcmp(path, c->sampler_lib) == 0)
        return;
    nvb_nvml_sampler_free(c->sampler);
    c->sampler = nvb_nvml_sampler_new(path, c->o.keep_nvml_open);
    snprintf(c->sampler_lib, sizeof c->sampler_lib, "%s", path);
}

static void discover_if_due(nvb_collector *c)
{
    int64_t now = nvb_mono_ms();
    if (c->discovered_ms && now - c->discovered_ms < (int64_t)c->o.rediscover_s * 1000)
        return;
    nvb_err err = {0};
    double start = mono_seconds();
    nvb_host *h = nvb_host_discover(&c->o.discover, &err);
    c->discovery_seconds = mono_seconds() - start;
    c->discovered_ms = nvb_mono_ms();
    if (!c->discovered_ms)
        c->discovered_ms = 1;
    if (h) {
        nvb_host_free(c->host);
        c->host = h;
        c->host_why[0] = '\0';
    } else {
        /* Keep serving what was found last; say why it is old. */
        snprintf(c->host_why, sizeof c->host_why, "%s", err.msg);
    }
    check_specs(c);
    use_sampler_for(c);
}

static void attribute(const nvb_collector *c, nvb_snapshot *s)
{
    if (s->host)
        nvb_attribute(c->o.proc_root, s->claims_ok ? &s->claims : NULL, s->gpus, s->host->n_gpus, &s->uses,
                      &s->n_uses, &s->cap_uses);
}

static void sample_gpus(nvb_collector *c, nvb_snapshot *s)
{
    size_t n = s->host ? s->host->n_gpus : 0;
    s->gpus = calloc(n + 1, sizeof *s->gpus);
    const char **uuids = calloc(n + 1, sizeof *uuids);
    if (!s->gpus || !uuids || !c->sampler) {
        snprintf(s->nvml_why, sizeof s->nvml_why, "NVML: out of memory");
        free(uuids);
        return;
    }
    for (size_t i = 0; i < n; i++)
        uuids[i] = s->host->gpus[i].uuid;
    s->nvml_up = nvb_nvml_sample(c->sampler, uuids, n, c->o.nvml_timeout_ms, s->gpus, s->nvml_why,
                                 sizeof s->nvml_why) == 0;
    free(uuids);
}

void nvb_collect(nvb_collector *c, nvb_snapshot *s)
{
    double start = mono_seconds();
    memset(s, 0, sizeof *s);
    if (gethostname(s->hostname, sizeof s->hostname - 1) < 0)
        snprintf(s->hostname, sizeof s->hostname, "localhost");
    discover_if_due(c);
    s->host = c->host;
    snprintf(s->host_why, sizeof s->host_why, "%s", c->host_why);
    s->specs = c->specs;
    s->n_specs = c->n_specs;
    s->discovery_seconds = c->discovery_seconds;
    sample_gpus(c, s);
    nvb_err err = {0};
    s->claims_ok = nvb_claims_peek(c->o.state_dir, &s->claims, &err) == 0;
    attribute(c, s);
    s->audit_ok = nvb_audit_counts_update(&c->audit, c->o.audit_log ? c->o.audit_log : NVB_AUDIT_DEFAULT_LOG, &err) == 0;
    s->audit = c->audit;
    s->collect_seconds = mono_seconds() - start;
}

void nvb_snapshot_clear(nvb_snapshot *s)
{
    if (s->gpus && s->host)
        nvb_gpu_samples_clear(s->gpus, s->host->n_gpus);
    free(s->gpus);
    free(s->uses);
    nvb_claim_list_free(&s->claims);
    memset(s, 0, sizeof *s);
}
