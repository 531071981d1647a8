/* Helpers shared by the lib/isolation unit tests: temporary folders, a small in-memory
 * host model, shared memory for forked children. */
#pragma once
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host/host.h"

#define assert_contains(hay, needle)                                                                           \
    do {                                                                                                       \
        const char *h_ = (hay), *n_ = (needle);                                                                \
        if (!strstr(h_, n_))                                                                                   \
            fail_msg("\"%s\" does not contain \"%s\"", h_, n_);                                                \
    } while (0)

static inline char *t_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline char *t_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    if (!s)
        abort();
    return s;
}

static inline char *t_mkdtemp(void)
{
    const char *base = getenv("TMPDIR");
    char *d = t_printf("%s/nvbind-iso-test-XXXXXX", base && base[0] == '/' ? base : "/tmp");
    if (!mkdtemp(d))
        abort();
    return d;
}

static inline int t_rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static inline void t_rm_rf(const char *dir)
{
    nftw(dir, t_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static inline void t_write(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0)
        abort();
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
