#include "util/error.h"
#include "util/shown.h"

#include <stdio.h>
#include <string.h>

const char *nvb_strerror(int errnum)
{
    return errnum == NVB_ENOTREG ? "not a regular file" : strerror(errnum);
}

/* A message stays one line that a terminal shows as written: the names and file contents
 * it quotes may come from an image, a tenant's record or another user's file
 * (util/shown.h). */
static void one_line(nvb_err *err)
{
    char shown[sizeof err->msg];
    nvb_shown_into(shown, sizeof shown, err->msg);
    memcpy(err->msg, shown, sizeof shown);
}

__attribute__((format(printf, 4, 0))) static void vset(nvb_err *err, int exit_code, int errnum, const char *fmt, va_list ap)
{
    err->exit_code = exit_code;
    err->errnum = errnum;
    int n = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    if (errnum && n >= 0 && (size_t)n < sizeof err->msg)
        snprintf(err->msg + n, sizeof err->msg - (size_t)n, ": %s", nvb_strerror(errnum));
    one_line(err);
}

int nvb_errf(nvb_err *err, int exit_code, const char *fmt, ...)
{
    if (!err)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vset(err, exit_code, 0, fmt, ap);
    va_end(ap);
    return -1;
}

int nvb_errf_errno(nvb_err *err, int exit_code, int errnum, const char *fmt, ...)
{
    if (!err)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vset(err, exit_code, errnum, fmt, ap);
    va_end(ap);
    return -1;
}

int nvb_err_prefix(nvb_err *err, const char *fmt, ...)
{
    if (!err)
        return -1;
    char old[sizeof err->msg], prefix[sizeof err->msg];
    memcpy(old, err->msg, sizeof old);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    /* Both parts fit in the buffer only truncated: keep the start of each. */
    size_t pl = strnlen(prefix, sizeof prefix - 1);
    size_t room = sizeof err->msg - 1;
    if (pl > room)
        pl = room;
    memcpy(err->msg, prefix, pl);
    size_t pos = pl;
    if (pos + 2 <= room) {
        memcpy(err->msg + pos, ": ", 2);
        pos += 2;
        size_t ol = strnlen(old, room - pos);
        memcpy(err->msg + pos, old, ol);
        pos += ol;
    }
    err->msg[pos] = '\0';
    one_line(err);
    return -1;
}

void nvb_err_clear(nvb_err *err)
{
    if (err) {
        err->exit_code = 0;
        err->errnum = 0;
        err->msg[0] = '\0';
    }
}
