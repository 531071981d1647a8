/* A small host model built in memory for the runtime tests: two GPUs (minors 0 and 3, so
 * index and minor differ), GPU 0 with two MIG devices, two control nodes, one library and
 * one IPC socket. Host paths live under /fake so a test can tell them from container paths. */
#pragma once
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/host.h"

#define RT_UUID0 "GPU-11111111-2222-3333-4444-555555555555"
#define RT_UUID1 "GPU-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
#define RT_MIG00 "MIG-00000000-0000-0000-0000-000000000000"
#define RT_MIG01 "MIG-00000000-0000-0000-0000-000000000001"

static inline void rt_node(nvb_devnode_list *l, const char *path, unsigned maj, unsigned min)
{
    char host[256];
    snprintf(host, sizeof host, "/fake%s", path);
    nvb_devnode n = {.path = (char *)path, .host_path = host, .type = 'c', .major = maj, .minor = min, .mode = 0666};
    nvb_devnode_list_add(l, &n);
}

static inline nvb_host *rt_host(void)
{
    nvb_host *h = calloc(1, sizeof *h);
    h->root = strdup("/fake");
    h->driver_root = strdup("/fake");
    h->driver_version = strdup("550.54.14");
    h->n_gpus = 2;
    h->gpus = calloc(2, sizeof *h->gpus);
    const char *uuids[] = {RT_UUID0, RT_UUID1};
    const unsigned minors[] = {0, 3};
    for (unsigned i = 0; i < 2; i++) {
        nvb_gpu *g = &h->gpus[i];
        g->index = i;
        g->minor = minors[i];
        g->uuid = strdup(uuids[i]);
        g->name = strdup("NVIDIA A100-SXM4-80GB");
        g->pci_bus_id = strdup(i ? "0000:21:00.0" : "0000:01:00.0");
        char p[64];
        snprintf(p, sizeof p, "/dev/nvidia%u", minors[i]);
        rt_node(&g->nodes, p, 195, minors[i]);
        snprintf(p, sizeof p, "/dev/dri/renderD%u", 128 + i);
        rt_node(&g->nodes, p, 226, 128 + i);
        g->memory_mib = -1;
        g->mig_mode = -1;
    }
    nvb_gpu *g0 = &h->gpus[0];
    g0->n_migs = 2;
    g0->migs = calloc(2, sizeof *g0->migs);
    for (unsigned m = 0; m < 2; m++) {
        g0->migs[m].gpu_index = 0;
        g0->migs[m].mig_index = m;
        g0->migs[m].gi = 1 + m;
        g0->migs[m].uuid = strdup(m ? RT_MIG01 : RT_MIG00);
        char p[64];
        snprintf(p, sizeof p, "/dev/nvidia-caps/nvidia-cap%u", 12 + m);
        rt_node(&g0->migs[m].nodes, p, 509, 12 + m);
    }
    rt_node(&h->nodes, "/dev/nvidiactl", 195, 255);
    rt_node(&h->nodes, "/dev/nvidia-uvm", 510, 0);
    h->n_comps = 2;
    h->cap_comps = 2;
    h->comps = calloc(2, sizeof *h->comps);
    h->comps[0] = (nvb_component){.kind = NVB_COMP_LIBRARY,
                                  .host_path = strdup("/fake/usr/lib/x86_64-linux-gnu/libcuda.so.550.54.14"),
                                  .container_path = strdup("/usr/lib/x86_64-linux-gnu/libcuda.so.550.54.14"),
                                  .caps = NVB_CAP_COMPUTE,
                                  .soname = strdup("libcuda.so.1")};
    h->comps[1] = (nvb_component){.kind = NVB_COMP_IPC,
                                  .host_path = strdup("/fake/run/nvidia-persistenced/socket"),
                                  .container_path = strdup("/run/nvidia-persistenced/socket"),
                                  .caps = NVB_CAP_UTILITY};
    return h;
}
