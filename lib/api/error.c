/* The public error object, version and string ownership. */
#include "api/api.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* When even the error cannot be allocated, callers still get an error to read and free:
 * this constant one, which nvbind_error_free leaves alone. It is never written. */
static nvbind_error oom_error = {NVB_EXIT_IO, ENOMEM, (char *)"out of memory"};

static nvbind_error *error_new(int code, int errnum, const char *msg)
{
    nvbind_error *e = malloc(sizeof *e);
    if (!e)
        return &oom_error;
    e->code = code;
    e->errnum = errnum;
    e->message = strdup(msg ? msg : "");
    if (!e->message) {
        free(e);
        return &oom_error;
    }
    return e;
}

static void store(nvbind_error **err, nvbind_error *e)
{
    if (!err) {
        nvbind_error_free(e);
        return;
    }
    nvbind_error_free(*err);
    *err = e;
}

int nvb_api_fail(nvbind_error **err, const nvb_err *e)
{
    if (!err)
        return -1;
    const char *msg = e && e->msg[0] ? e->msg : "unknown error";
    store(err, error_new(e && e->exit_code ? e->exit_code : NVB_EXIT_FAIL, e ? e->errnum : 0, msg));
    return -1;
}

int nvb_api_failf(nvbind_error **err, int code, const char *fmt, ...)
{
    if (!err)
        return -1;
    nvb_err e = {.exit_code = code};
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e.msg, sizeof e.msg, fmt, ap);
    va_end(ap);
    return nvb_api_fail(err, &e);
}

int nvb_api_oom(nvbind_error **err, const char *what)
{
    return nvb_api_failf(err, NVB_EXIT_IO, "%s: out of memory", what);
}

NVBIND_EXPORT const char *nvbind_error_message(const nvbind_error *e)
{
    return e ? e->message : "no error";
}

NVBIND_EXPORT int nvbind_error_code(const nvbind_error *e)
{
    return e ? e->code : NVBIND_EXIT_OK;
}

NVBIND_EXPORT int nvbind_error_errno(const nvbind_error *e)
{
    return e ? e->errnum : 0;
}

NVBIND_EXPORT void nvbind_error_free(nvbind_error *e)
{
    if (!e || e == &oom_error)
        return;
    free(e->message);
    free(e);
}

NVBIND_EXPORT int nvbind_error_set(nvbind_error **err, int code, const char *fmt, ...)
{
    if (!err)
        return -1;
    nvb_err e = {.exit_code = code > 0 ? code : NVB_EXIT_FAIL};
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e.msg, sizeof e.msg, fmt, ap);
        va_end(ap);
    }
    return nvb_api_fail(err, &e);
}

NVBIND_EXPORT void nvbind_string_free(char *s)
{
    free(s);
}

#define STR_(x) #x
#define STR(x) STR_(x)

NVBIND_EXPORT const char *nvbind_version(void)
{
    return STR(NVBIND_VERSION_MAJOR) "." STR(NVBIND_VERSION_MINOR) "." STR(NVBIND_VERSION_PATCH);
}
