/* nvbind info: what this host offers to containers. */
#include "cli.h"
#include "host/host_cache.h"
#include "host/host_json.h"
#include "util/fileio.h"

#include <getopt.h>
#include <string.h>
#include <unistd.h>

/* The document in one write(2): no stdio buffer in between, no second system call. */
static int print_json(const nvb_host *h, bool detailed)
{
    /* Room for the 8-GPU hosts seen in practice without growing the buffer. */
    nvb_jsonw w;
    nvb_jsonw_init(&w, 2, 4096 + 1024 * (h->n_gpus + h->n_drm_gpus) + 256 * h->n_comps);
    nvb_host_write_json(&w, h, detailed);
    size_t len;
    char *text = nvb_jsonw_finish(&w, &len);
    if (!text)
        return nvb_cli_fail(&(nvb_err){NVB_EXIT_IO, 0, "info --json: out of memory"});
    int rc = fflush(stdout) == 0 && nvb_write_all(STDOUT_FILENO, text, len) == 0 ? 0 : NVB_EXIT_IO;
    free(text);
    return rc;
}

/* Every vendor: the GPUs other drivers run, with the CDI name `run --gpu` takes. */
static void print_drm_gpus(const nvb_host *h)
{
    if (!h->n_drm_gpus)
        return;
    printf("%zu GPU%s of other drivers\n", h->n_drm_gpus, h->n_drm_gpus == 1 ? "" : "s");
    for (size_t i = 0; i < h->n_drm_gpus; i++) {
        const nvb_drm_gpu *g = &h->drm_gpus[i];
        printf("  %s=%u: %s %04x:%04x  driver %s  bus %s", g->kind, g->index, g->vendor, g->vendor_id, g->device_id,
               g->driver, g->bus_id);
        if (g->numa_node >= 0)
            printf("  NUMA %d", g->numa_node);
        if (g->kfd_node >= 0)
            printf("  KFD node %d", g->kfd_node);
        printf("\n    nodes:");
        for (size_t j = 0; j < g->nodes.n; j++)
            printf(" %s", g->nodes.v[j].path);
        printf("\n");
    }
}

static void print_text(const nvb_host *h, bool detailed)
{
    if (!nvb_host_has_nvidia(h)) { /* other vendors' GPUs only */
        printf("no NVIDIA driver; host root %s\n", h->root);
        print_drm_gpus(h);
        for (size_t i = 0; i < h->warnings.n; i++)
            printf("warning: %s\n", h->warnings.v[i]);
        return;
    }
    if (h->wsl2) /* WSL2: the Windows driver, no kernel module of NVIDIA's */
        printf("NVIDIA driver %s (Windows, through WSL2's /dev/dxg)", h->driver_version);
    else
        printf("NVIDIA driver %s (%s kernel module)", h->driver_version, nvb_kmod_name(h->kmod));
    if (h->cuda_version)
        printf(", CUDA %s", h->cuda_version);
    printf("\nhost root %s, driver root %s%s\n", h->root, h->driver_root, h->wsl2 ? ", WSL2" : "");
    printf("%zu GPU%s\n", h->n_gpus, h->n_gpus == 1 ? "" : "s");
    for (size_t i = 0; i < h->n_gpus; i++) {
        const nvb_gpu *g = &h->gpus[i];
        printf("  GPU %u: %s  %s  bus %s  minor %u", g->index, g->name, g->uuid, g->pci_bus_id, g->minor);
        if (g->memory_mib >= 0)
            printf("  %lld MiB", (long long)g->memory_mib);
        if (g->cc_major >= 0)
            printf("  compute %d.%d", g->cc_major, g->cc_minor);
        if (g->mig_mode >= 0)
            printf("  MIG %s", g->mig_mode ? "enabled" : "disabled");
        printf("\n    nodes:");
        for (size_t j = 0; j < g->nodes.n; j++)
            printf(" %s", g->nodes.v[j].path);
        printf("\n");
        for (size_t j = 0; j < g->n_migs; j++)
            printf("    MIG %u:%u  %s  gi %u ci %u\n", g->index, g->migs[j].mig_index, g->migs[j].uuid, g->migs[j].gi,
                   g->migs[j].ci);
    }
    print_drm_gpus(h);
    printf("shared device nodes:\n");
    for (size_t i = 0; i < h->nodes.n; i++)
        printf("  %-24s %c %u:%u\n", h->nodes.v[i].path, h->nodes.v[i].type, h->nodes.v[i].major, h->nodes.v[i].minor);
    for (size_t i = 0; i < h->wsl2_nodes.n; i++) /* WSL2: one node reaches every GPU */
        printf("  %-24s %c %u:%u  (every GPU, device \"all\")\n", h->wsl2_nodes.v[i].path, h->wsl2_nodes.v[i].type,
               h->wsl2_nodes.v[i].major, h->wsl2_nodes.v[i].minor);
    size_t counts[NVB_COMP__COUNT] = {0};
    for (size_t i = 0; i < h->n_comps; i++)
        counts[h->comps[i].kind]++;
    printf("components:");
    for (int k = 0; k < NVB_COMP__COUNT; k++)
        printf(" %zu %s%s", counts[k], nvb_component_kind_name(k), k + 1 < NVB_COMP__COUNT ? "," : "\n");
    if (detailed)
        for (size_t i = 0; i < h->n_comps; i++)
            printf("  %-9s %s\n", nvb_component_kind_name(h->comps[i].kind), h->comps[i].host_path);
    for (size_t i = 0; i < h->warnings.n; i++)
        printf("warning: %s\n", h->warnings.v[i]);
}

static int cmd_info(nvb_cli *cli, int argc, char **argv)
{
    bool detailed = false, json = false;
    int c;
    nvb_cli_parser p;
    nvb_cli_parser_for(&p, cli);
    while ((c = nvb_cli_next(&p, argc, argv)) >= 0) {
        switch (c) {
        case 'd':
            detailed = true;
            break;
        case 'j':
            json = true;
            break;
        }
    }
    if (nvb_cli_stops(&p, c, argc, argv, 0))
        return p.rc;
    nvb_err err = {0};
    nvb_config cfg = {0};
    nvb_host *h = NULL;
    nvb_strv libs = {0};
    nvb_discover_opts o;
    if (nvb_cli_load_config(cli, &cfg, &err) == 0) {
        if (nvb_cli_discover_opts(cli, &cfg, &libs, &o) < 0) {
            nvb_errf(&err, NVB_EXIT_IO, "out of memory");
        } else {
            o.with_nvml = detailed;
            o.every_vendor = true; /* every vendor's GPUs are listed */
            h = nvb_host_discover_cached(&o, &err);
        }
    }
    nvb_strv_free(&libs);
    nvb_config_clear(&cfg);
    if (!h)
        return nvb_cli_fail(&err);
    int rc = 0;
    if (json)
        rc = print_json(h, detailed);
    else
        print_text(h, detailed);
    nvb_host_free(h);
    return rc;
}

static const nvb_cli_opt info_opts[] = {
    {"detailed", 'd', 'd', NULL, 0, "load NVML (at most 5 s): memory, CUDA version, compute capability, MIG", 0, NULL},
    {"json", 'j', 'j', NULL, 0, "one JSON object", 0, NULL},
    {0},
};
const nvb_cli_cmd nvb_cmd_info = {
    .name = "info",
    .summary = "what this host offers to containers: driver, GPUs, device nodes, driver files",
    .opts = info_opts,
    .fn = cmd_info,
};
