/* In-process latency of libnvbind calls on a manager that is already warm, as an embedding
 * runtime (Bolt) sees them: one manager, N calls in a row, each timed on its own, medians
 * and p99 printed as one JSON line.
 *
 * usage: bench_api ROOT MODE [N]
 *   spec        nvbind_generate_aiml_cdi_spec + nvbind_cdi_spec_free
 *   edits       nvbind_get_capsule_edits("all") + nvbind_capsule_edits_free  (NVBIND_0.3)
 *   revalidate  the kept host model's revalidation alone (nothing changed)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nvbind.h"
#include "api/api.h" /* nvb_api_kept_check: the revalidation alone */

static double now_us(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* One call of the mode; 0 when it answered. */
static int call(nvbind_gpu_manager *m, const char *mode)
{
    nvbind_error *err = NULL;
    int ok = -1;
    if (strcmp(mode, "spec") == 0) {
        nvbind_cdi_spec *s = nvbind_generate_aiml_cdi_spec(m, &err);
        ok = s ? 0 : -1;
        nvbind_cdi_spec_free(s);
    } else if (strcmp(mode, "edits") == 0) {
        static const char *const all[] = {"all"};
        nvbind_capsule_edits *e = nvbind_get_capsule_edits(m, all, 1, &err);
        ok = e ? 0 : -1;
        nvbind_capsule_edits_free(e);
    } else if (strcmp(mode, "revalidate") == 0) {
        ok = nvb_api_kept_check(m) == 1 ? 0 : -1;
    } else {
        fprintf(stderr, "bench_api: unknown mode '%s'\n", mode);
        exit(2);
    }
    if (ok < 0)
        fprintf(stderr, "bench_api: %s: %s\n", mode, err ? nvbind_error_message(err) : "failed");
    nvbind_error_free(err);
    return ok;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench_api ROOT spec|edits|revalidate [N]\n");
        return 2;
    }
    size_t n = argc > 3 ? strtoul(argv[3], NULL, 10) : 2000;
    nvbind_manager_options o = {.host_root = argv[1], .hook_path = "/usr/bin/nvbind"};
    nvbind_error *err = NULL;
    nvbind_gpu_manager *m = nvbind_gpu_manager_new(NULL, &o, &err);
    if (!m) {
        fprintf(stderr, "bench_api: %s\n", nvbind_error_message(err));
        return 1;
    }
    /* Warm: the first call discovers and fills the kept model (the revalidation alone needs
     * one to compare with). */
    static const char *const all[] = {"all"};
    nvbind_capsule_edits_free(nvbind_get_capsule_edits(m, all, 1, NULL));
    for (int i = 0; i < 20; i++)
        if (call(m, argv[2]) < 0)
            return 1;
    /* Wall time, and the thread's CPU time (user + system): on a loaded machine the wall
     * time's tail is other processes' turns, which the CPU time leaves out. */
    double *t = calloc(n, sizeof *t), *c = calloc(n, sizeof *c);
    for (size_t i = 0; i < n; i++) {
        /* The CPU clock is a system call (the monotonic one is not): read outside the wall
         * time's window, so that the wall time holds the call alone. */
        double ac = now_us(CLOCK_THREAD_CPUTIME_ID), a = now_us(CLOCK_MONOTONIC);
        if (call(m, argv[2]) < 0)
            return 1;
        t[i] = now_us(CLOCK_MONOTONIC) - a;
        c[i] = now_us(CLOCK_THREAD_CPUTIME_ID) - ac;
    }
    qsort(t, n, sizeof *t, cmp_double);
    qsort(c, n, sizeof *c, cmp_double);
    printf("{\"mode\": \"%s\", \"calls\": %zu, \"median_us\": %.2f, \"p99_us\": %.2f, \"min_us\": %.2f, "
           "\"cpu_median_us\": %.2f, \"cpu_p99_us\": %.2f}\n",
           argv[2], n, t[n / 2], t[(n * 99) / 100], t[0], c[n / 2], c[(n * 99) / 100]);
    free(t);
    free(c);
    nvbind_gpu_manager_free(m);
    return 0;
}
