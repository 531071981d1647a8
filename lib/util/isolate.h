/* Running a library's code in a helper process (nvbind-helper) rather than in this one.
 *
 * nvbind and nvbind-runtime are linked as static-pie executables, C library included, when
 * the build can (meson option static_exe): a process that maps no shared objects starts in
 * about two thirds of the time. Such a process cannot dlopen a vendor library built against
 * the shared C library (NVML would run on a second C library's threads and heap), so the few
 * calls into NVML run in nvbind-helper, a small dynamically linked helper, which gets a job's
 * input on its stdin and answers on its stdout. A dynamically linked process (the library,
 * the daemons, sanitizer builds) never uses it and keeps calling on a worker thread. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

/* Called first thing by a static executable's main: from now on nvb_isolate_wanted() is
 * true, and jobs go to the helper found next to the executable (the build tree, or where
 * bindir and the helper's folder are the same) or in NVB_HELPER_DIR. */
void nvb_isolate_in_helper(void);
bool nvb_isolate_wanted(void);

/* Runs job `kind` in the helper: writes in_len bytes of in to its stdin, reads exactly
 * out_len bytes of answer into out, all within timeout_ms, after which the helper is killed.
 * 1 answered; 0 no answer in time (killed); -1 failed, with why (no helper, or it died or
 * answered short). */
int nvb_isolated_call(const char *kind, const void *in, size_t in_len, void *out, size_t out_len, unsigned timeout_ms,
                      char *why, size_t why_len);

/* The helper's side: a job kind, and the function that answers it (fills *out with *out_len
 * bytes, malloc'd; returns 0, or -1 when the input is not one of its jobs). */
typedef struct nvb_isolated_kind {
    const char *name;
    int (*serve)(const void *in, size_t in_len, void **out, size_t *out_len);
} nvb_isolated_kind;

/* The helper's main: argv[1] names the kind; stdin is read whole (at most 1 MiB), the answer
 * written to out_fd (the helper's stdout, moved aside so that nothing the library prints can
 * land in the answer). Exit status 0, or 2 for an unknown kind or input. */
int nvb_isolated_serve(int argc, char **argv, const nvb_isolated_kind *kinds, size_t n_kinds, int out_fd);
