/* Running helper programs (engine --version probes, engines themselves) with a bounded
 * time and a clean environment. */
#pragma once
#include <stddef.h>

/* Find an executable by name in PATH, or use it as is when it is an absolute path (its
 * links not followed: a multi-call program tells what it is by the name it runs as); a
 * relative path is made absolute. Returns a malloc'd absolute path, NULL when not found. */
char *nvb_find_executable(const char *name);

/* Run argv, capturing up to outlen-1 bytes of stdout+stderr into out (NUL-terminated).
 * Returns the exit status (0-255), 128+signal when killed, -1 when it could not start,
 * -2 when it ran past timeout_ms (it is killed). */
int nvb_run_capture(char *const argv[], unsigned timeout_ms, char *out, size_t outlen);

/* Several captures at once, all started before any is waited for (two probes of the same
 * daemon cost one round trip's time, not two); each gets nvb_run_capture's result in rc and
 * its output in out, all within one timeout_ms. At most NVB_CAPTURE_MAX (more are ignored). */
#define NVB_CAPTURE_MAX 8
typedef struct nvb_capture {
    char *const *argv;
    char *out;
    size_t outlen;
    size_t n;  /* bytes captured (private) */
    int rc;    /* out: as nvb_run_capture returns */
} nvb_capture;
void nvb_run_capture_all(nvb_capture *c, size_t n, unsigned timeout_ms);
