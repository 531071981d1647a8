/* Helpers shared by the lib/isolation unit tests: temporary folders, a small in-memory
 * host model, shared memory for forked children. */
#pragma once
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "../common/test_util.h"
#include "host/host.h"

static inline char *t_mkdtemp(void)
{
    return t_mkdtemp_in(NULL, "nvbind-iso-test");
}

/* Memory visible to forked children. */
static inline void *t_shared(size_t n)
{
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        abort();
    memset(p, 0, n);
    return p;
}

/* A host model with n GPUs "GPU-test-<i>" and, when migs > 0, that many MIG devices each
 * ("MIG-test-<i>-<j>", memory 10240 MiB each, MIG mode on). */
static inline nvb_host *t_host(size_t n, size_t migs)
{
    nvb_host *h = calloc(1, sizeof *h);
    h->root = strdup("/");
    h->gpus = calloc(n, sizeof *h->gpus);
    h->n_gpus = n;
    for (size_t i = 0; i < n; i++) {
        nvb_gpu *g = &h->gpus[i];
        g->index = (unsigned)i;
        g->minor = (unsigned)i;
        g->uuid = t_printf("GPU-test-%zu", i);
        g->name = strdup("Test GPU");
        g->memory_mib = -1;
        g->mig_mode = migs ? 1 : 0;
        g->migs = migs ? calloc(migs, sizeof *g->migs) : NULL;
        g->n_migs = migs;
        for (size_t j = 0; j < migs; j++) {
            g->migs[j].gpu_index = (unsigned)i;
            g->migs[j].mig_index = (unsigned)j;
            g->migs[j].uuid = t_printf("MIG-test-%zu-%zu", i, j);
            g->migs[j].memory_mib = 10240;
        }
    }
    return h;
}
