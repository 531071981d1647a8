/* Error object carried up the stack: one line that says what failed, where and why,
 * plus the documented exit status the CLI returns for it. */
#pragma once
#include <stdarg.h>

/* Exit statuses; docs/exit-codes in README.md lists them for users. */
enum nvb_exit {
    NVB_EXIT_OK = 0,
    NVB_EXIT_FAIL = 1,        /* a check answered "no": doctor not ready, spec stale or invalid */
    NVB_EXIT_USAGE = 2,       /* bad command line */
    NVB_EXIT_NO_DRIVER = 3,   /* no NVIDIA driver under the host root */
    NVB_EXIT_HOST_DATA = 4,   /* a host file (/proc, /sys, ld.so.cache) is malformed */
    NVB_EXIT_CONFIG = 5,      /* configuration file error */
    NVB_EXIT_IO = 6,          /* reading or writing a file failed */
    NVB_EXIT_RUNTIME = 7,     /* container engine or OCI runtime missing or failed */
    NVB_EXIT_BUSY = 8,        /* a GPU is held exclusively by another container */
    NVB_EXIT_INPUT = 9,       /* invalid input document: CDI spec, OCI config or state */
};

/* errno value for "not a regular file" (a FIFO, device or socket where a file was
 * expected), which POSIX has no code for; nvb_errf_errno and nvb_strerror spell it out. */
#define NVB_ENOTREG 4096

/* strerror(3) that also knows NVB_ENOTREG. */
const char *nvb_strerror(int errnum);

typedef struct nvb_err {
    int exit_code;     /* an enum nvb_exit value */
    int errnum;        /* errno behind the failure, 0 when none */
    char msg[1024];
} nvb_err;

/* Record an error; returns -1 so callers can `return nvb_errf(...)`. err may be NULL. */
int nvb_errf(nvb_err *err, int exit_code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Same, appending ": strerror(errnum)". */
int nvb_errf_errno(nvb_err *err, int exit_code, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Prefix an existing message with more context ("reading X: <old message>"). */
int nvb_err_prefix(nvb_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void nvb_err_clear(nvb_err *err);
