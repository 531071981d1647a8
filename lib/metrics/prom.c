/* Prometheus text format 0.0.4 for a snapshot (prom.h): one HELP and TYPE per family, then
 * its samples; label values escaped (\\, \", \n) as the format asks. */
#include "metrics/prom.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct out {
    FILE *f;
    const nvb_snapshot *s;
    const nvb_prom_opts *o;
} out;

static void family(out *w, const char *name, const char *type, const char *help)
{
    fprintf(w->f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void label(out *w, bool first, const char *key, const char *value)
{
    fprintf(w->f, "%s%s=\"", first ? "" : ",", key);
    for (const char *p = value ? value : ""; *p; p++) {
        if (*p == '\\' || *p == '"')
            fputc('\\', w->f), fputc(*p, w->f);
        else if (*p == '\n')
            fputs("\\n", w->f);
        else
            fputc(*p, w->f);
    }
    fputc('"', w->f);
}

/* NVML's bus id form (00000000:01:00.0, upper case), which dcgm-exporter's label carries. */
static void nvml_bus_id(const char *bus, char *buf, size_t len)
{
    unsigned dom = 0, b = 0, d = 0, fn = 0;
    if (!bus || sscanf(bus, "%x:%x:%x.%x", &dom, &b, &d, &fn) != 4)
        snprintf(buf, len, "%s", bus ? bus : "");
    else
        snprintf(buf, len, "%08X:%02X:%02X.%X", dom, b, d, fn);
}

static void gpu_labels(out *w, size_t g)
{
    const nvb_gpu *gpu = &w->s->host->gpus[g];
    char idx[24], dev[32], bus[32];
    snprintf(idx, sizeof idx, "%u", gpu->index);
    snprintf(dev, sizeof dev, "nvidia%u", gpu->minor);
    nvml_bus_id(gpu->pci_bus_id, bus, sizeof bus);
    label(w, true, "gpu", idx);
    label(w, false, "UUID", gpu->uuid);
    label(w, false, "pci_bus_id", bus);
    label(w, false, "device", dev);
    label(w, false, w->o->snake_case_labels ? "model_name" : "modelName", gpu->name);
    label(w, false, "Hostname", w->s->hostname);
}

enum field { F_GPU_UTIL, F_MEM_UTIL, F_FB_FREE, F_FB_USED, F_TEMP, F_POWER, F_SM_CLOCK, F_MEM_CLOCK, F_PCIE_TX,
             F_PCIE_RX, F_XID, F_N };

static const struct {
    const char *name, *help;
} dcgm[F_N] = {
    [F_GPU_UTIL] = {"DCGM_FI_DEV_GPU_UTIL", "GPU utilization (in %)."},
    [F_MEM_UTIL] = {"DCGM_FI_DEV_MEM_COPY_UTIL", "Memory utilization (in %)."},
    [F_FB_FREE] = {"DCGM_FI_DEV_FB_FREE", "Framebuffer memory free (in MiB)."},
    [F_FB_USED] = {"DCGM_FI_DEV_FB_USED", "Framebuffer memory used (in MiB)."},
    [F_TEMP] = {"DCGM_FI_DEV_GPU_TEMP", "GPU temperature (in C)."},
    [F_POWER] = {"DCGM_FI_DEV_POWER_USAGE", "Power draw (in W)."},
    [F_SM_CLOCK] = {"DCGM_FI_DEV_SM_CLOCK", "SM clock frequency (in MHz)."},
    [F_MEM_CLOCK] = {"DCGM_FI_DEV_MEM_CLOCK", "Memory clock frequency (in MHz)."},
    [F_PCIE_TX] = {"DCGM_FI_DEV_PCIE_TX_THROUGHPUT", "PCIe transmit throughput (in KB/s)."},
    [F_PCIE_RX] = {"DCGM_FI_DEV_PCIE_RX_THROUGHPUT", "PCIe receive throughput (in KB/s)."},
    [F_XID] = {"DCGM_FI_DEV_XID_ERRORS", "Value of the last XID error encountered (0: none)."},
};

static int64_t field_of(const nvb_gpu_sample *g, enum field f)
{
    switch (f) {
    case F_GPU_UTIL: return g->gpu_util;
    case F_MEM_UTIL: return g->mem_util;
    case F_FB_FREE: return g->fb_free_mib;
    case F_FB_USED: return g->fb_used_mib;
    case F_TEMP: return g->temp_c;
    case F_POWER: return g->power_mw;
    case F_SM_CLOCK: return g->sm_clock_mhz;
    case F_MEM_CLOCK: return g->mem_clock_mhz;
    case F_PCIE_TX: return g->pcie_tx_kbps;
    case F_PCIE_RX: return g->pcie_rx_kbps;
    case F_XID: return g->xid_last;
    default: return -1;
    }
}

/* Each DCGM family with the GPUs NVML answered for; a family nobody reports is left out. */
static void gpu_families(out *w)
{
    const nvb_snapshot *s = w->s;
    if (!s->host || !s->nvml_up)
        return;
    for (int f = 0; f < F_N; f++) {
        bool any = false;
        for (size_t g = 0; g < s->host->n_gpus; g++) {
            int64_t v = field_of(&s->gpus[g], (enum field)f);
            if (v < 0)
                continue;
            if (!any)
                family(w, dcgm[f].name, "gauge", dcgm[f].help);
            any = true;
            fputs(dcgm[f].name, w->f);
            fputc('{', w->f);
            gpu_labels(w, g);
            if (f == F_POWER)
                fprintf(w->f, "} %" PRId64 ".%03" PRId64 "\n", v / 1000, v % 1000);
            else
                fprintf(w->f, "} %" PRId64 "\n", v);
        }
    }
}

static void xid_counts(out *w)
{
    const nvb_snapshot *s = w->s;
    bool any = false;
    for (size_t g = 0; s->host && s->nvml_up && g < s->host->n_gpus; g++) {
        if (s->gpus[g].xid_count < 0)
            continue;
        if (!any)
            family(w, "nvbind_gpu_xid_errors_total", "counter", "XID errors NVML reported since the exporter started.");
        any = true;
        fputs("nvbind_gpu_xid_errors_total{", w->f);
        gpu_labels(w, g);
        fprintf(w->f, "} %" PRId64 "\n", s->gpus[g].xid_count);
    }
}

static void use_labels(out *w, const nvb_container_use *u)
{
    const nvb_gpu *gpu = &w->s->host->gpus[u->gpu];
    char idx[24];
    snprintf(idx, sizeof idx, "%u", gpu->index);
    label(w, true, "gpu", idx);
    label(w, false, "UUID", gpu->uuid);
    label(w, false, "container", u->container);
    if (u->pod[0])
        label(w, false, "pod", u->pod);
    label(w, false, "Hostname", w->s->hostname);
}

static void container_families(out *w)
{
    const nvb_snapshot *s = w->s;
    if (!s->n_uses)
        return;
    family(w, "nvbind_container_gpu_memory_used_bytes", "gauge",
           "GPU memory used by the processes of a container (container=\"\": processes in no container).");
    for (size_t i = 0; i < s->n_uses; i++) {
        fputs("nvbind_container_gpu_memory_used_bytes{", w->f);
        use_labels(w, &s->uses[i]);
        fprintf(w->f, "} %" PRIu64 "\n", s->uses[i].used_bytes);
    }
    family(w, "nvbind_container_gpu_processes", "gauge", "Processes of a container that NVML reports on a GPU.");
    for (size_t i = 0; i < s->n_uses; i++) {
        fputs("nvbind_container_gpu_processes{", w->f);
        use_labels(w, &s->uses[i]);
        fprintf(w->f, "} %u\n", s->uses[i].n_procs);
    }
}

static void claim_labels(out *w, const nvb_claim_record *r, const char *mode)
{
    char idx[24], mig[24] = "";
    snprintf(idx, sizeof idx, "%u", r->gpu_index);
    if (r->mig_index >= 0)
        snprintf(mig, sizeof mig, "%d", r->mig_index);
    label(w, true, "gpu", idx);
    label(w, false, "UUID", r->uuid);
    if (mig[0])
        label(w, false, "mig", mig);
    label(w, false, "mode", mode);
}

/* Whether a claim is on one of this host's GPUs (or a MIG device of one): a member of the
 * claim group may write records for devices that do not exist, any number of them. */
static bool on_host(const nvb_snapshot *s, const nvb_claim_record *r)
{
    for (size_t g = 0; s->host && g < s->host->n_gpus; g++)
        if (strcmp(r->uuid, s->host->gpus[g].uuid) == 0 ||
            (r->parent_uuid && strcmp(r->parent_uuid, s->host->gpus[g].uuid) == 0))
            return true;
    return false;
}

typedef struct named {
    const char *name;
    size_t k;
} named;

static int cmp_named(const void *a, const void *b)
{
    const named *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : x->k < y->k ? -1 : x->k > y->k;
}

/* Which of r's holders to show: the first of each container name (two writers' files may
 * both name one container, and Prometheus refuses a scrape that repeats a series). Sorted
 * once, not compared pairwise: a member's file may hold thousands of holders. malloc'd;
 * NULL when out of memory (then none is shown). */
static bool *first_of_each_name(const nvb_claim_record *r)
{
    named *v = calloc(r->n_holders + 1, sizeof *v);
    bool *keep = calloc(r->n_holders + 1, sizeof *keep);
    if (!v || !keep) {
        free(v);
        free(keep);
        return NULL;
    }
    for (size_t k = 0; k < r->n_holders; k++)
        v[k] = (named){r->holders[k].container, k};
    qsort(v, r->n_holders, sizeof *v, cmp_named);
    for (size_t i = 0; i < r->n_holders; i++)
        keep[v[i].k] = i == 0 || strcmp(v[i].name, v[i - 1].name) != 0;
    free(v);
    return keep;
}

/* Holders per device and mode: every GPU in both modes (0 when free), MIG devices as claimed. */
static void claim_families(out *w)
{
    const nvb_snapshot *s = w->s;
    if (!s->claims_ok)
        return;
    family(w, "nvbind_claim_records_unreadable", "gauge",
           "Claim records that could not be read (damaged, or not written by nvbind): left out of the claims below.");
    fprintf(w->f, "nvbind_claim_records_unreadable %zu\n", s->claims.damaged.n);
    family(w, "nvbind_gpu_claims", "gauge", "Containers holding a GPU or MIG device through nvbind, per isolation mode.");
    for (size_t g = 0; s->host && g < s->host->n_gpus; g++) {
        const nvb_gpu *gpu = &s->host->gpus[g];
        for (int m = 0; m < 2; m++) {
            nvb_claim_record r = {.gpu_index = gpu->index, .mig_index = -1, .uuid = gpu->uuid};
            size_t held = 0;
            for (size_t i = 0; i < s->claims.n; i++)
                if (s->claims.v[i].mig_index < 0 && strcmp(s->claims.v[i].uuid, gpu->uuid) == 0 &&
                    (int)s->claims.v[i].mode == m)
                    held += s->claims.v[i].n_holders;
            fputs("nvbind_gpu_claims{", w->f);
            claim_labels(w, &r, nvb_claim_mode_name((enum nvb_claim_mode)m));
            fprintf(w->f, "} %zu\n", held);
        }
    }
    for (size_t i = 0; i < s->claims.n; i++) {
        if (s->claims.v[i].mig_index < 0 || !on_host(s, &s->claims.v[i]))
            continue;
        fputs("nvbind_gpu_claims{", w->f);
        claim_labels(w, &s->claims.v[i], nvb_claim_mode_name(s->claims.v[i].mode));
        fprintf(w->f, "} %zu\n", s->claims.v[i].n_holders);
    }
    if (!s->claims.n)
        return;
    family(w, "nvbind_gpu_claim_holder", "gauge", "1 for each container holding a GPU or MIG device (its claim).");
    for (size_t i = 0; i < s->claims.n; i++) {
        bool *keep = on_host(s, &s->claims.v[i]) ? first_of_each_name(&s->claims.v[i]) : NULL;
        for (size_t k = 0; keep && k < s->claims.v[i].n_holders; k++) {
            if (!keep[k])
                continue;
            fputs("nvbind_gpu_claim_holder{", w->f);
            claim_labels(w, &s->claims.v[i], nvb_claim_mode_name(s->claims.v[i].mode));
            label(w, false, "container", s->claims.v[i].holders[k].container);
            fputs("} 1\n", w->f);
        }
        free(keep);
    }
}

static void own_families(out *w)
{
    const nvb_snapshot *s = w->s;
    if (s->audit_ok) {
        family(w, "nvbind_audit_decisions_total", "counter", "GPU grants and denials in the audit log.");
        fprintf(w->f, "nvbind_audit_decisions_total{decision=\"grant\"} %" PRIu64 "\n", s->audit.grants);
        fprintf(w->f, "nvbind_audit_decisions_total{decision=\"deny\"} %" PRIu64 "\n", s->audit.denials);
    }
    if (s->n_specs) {
        family(w, "nvbind_cdi_spec_fresh", "gauge",
               "1 when an installed nvbind CDI spec is still true of the host (nvbind cdi check), else 0.");
        for (size_t i = 0; i < s->n_specs; i++) {
            fputs("nvbind_cdi_spec_fresh{", w->f);
            label(w, true, "path", s->specs[i].path);
            fprintf(w->f, "} %d\n", s->specs[i].fresh ? 1 : 0);
        }
        family(w, "nvbind_cdi_spec_stale_reasons", "gauge", "Reasons nvbind cdi check finds an installed spec stale.");
        for (size_t i = 0; i < s->n_specs; i++) {
            fputs("nvbind_cdi_spec_stale_reasons{", w->f);
            label(w, true, "path", s->specs[i].path);
            fprintf(w->f, "} %zu\n", s->specs[i].n_reasons);
        }
    }
    family(w, "nvbind_discovery_duration_seconds", "gauge", "How long nvbind's last discovery of the host took.");
    fprintf(w->f, "nvbind_discovery_duration_seconds %.6f\n", s->discovery_seconds);
    family(w, "nvbind_discovery_up", "gauge", "1 when the last discovery of the host succeeded.");
    fprintf(w->f, "nvbind_discovery_up %d\n", s->host && !s->host_why[0] ? 1 : 0);
    family(w, "nvbind_gpus", "gauge", "GPUs nvbind discovered.");
    fprintf(w->f, "nvbind_gpus %zu\n", s->host ? s->host->n_gpus : 0);
    family(w, "nvbind_nvml_up", "gauge", "1 when NVML answered this scrape within its deadline.");
    fprintf(w->f, "nvbind_nvml_up %d\n", s->nvml_up ? 1 : 0);
    family(w, "nvbind_scrape_collect_duration_seconds", "gauge", "How long collecting this scrape's values took.");
    fprintf(w->f, "nvbind_scrape_collect_duration_seconds %.6f\n", s->collect_seconds);
}

char *nvb_prom_render(const nvb_snapshot *s, const nvb_prom_opts *o, size_t *len)
{
    char *buf = NULL;
    size_t n = 0;
    nvb_prom_opts defaults = {0};
    out w = {.f = open_memstream(&buf, &n), .s = s, .o = o ? o : &defaults};
    if (!w.f)
        return NULL;
    gpu_families(&w);
    xid_counts(&w);
    container_families(&w);
    claim_families(&w);
    own_families(&w);
    if (ferror(w.f)) {
        fclose(w.f);
        free(buf);
        return NULL;
    }
    if (fclose(w.f) != 0) {
        free(buf);
        return NULL;
    }
    if (len)
        *len = n;
    return buf;
}
