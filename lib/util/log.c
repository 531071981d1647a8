/* The process's one log sink; see log.h. */
#include "util/log.h"
#include "util/shown.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static nvb_log_fn sink;
static void *sink_ctx;
static int sink_level;

void nvb_log_set(nvb_log_fn fn, void *ctx, int max_level)
{
    sink = fn;
    sink_ctx = ctx;
    sink_level = fn ? max_level : NVB_LOG_OFF;
}

bool nvb_log_on(int level)
{
    return sink && level <= sink_level;
}

void nvb_log(int level, const char *fmt, ...)
{
    if (!nvb_log_on(level))
        return;
    /* One line each, shown as written: a newline or an ESC inside (a file name, an image's
     * value) must neither start a line of its own nor drive the terminal (util/shown.h). */
    va_list ap;
    va_start(ap, fmt);
    char *shown = nvb_shown_vasprintf(fmt, ap);
    va_end(ap);
    if (!shown)
        return;
    sink(level, shown, sink_ctx);
    free(shown);
}

int nvb_log_level_parse(const char *name)
{
    static const char *const names[] = {"off", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++)
        if (name && strcmp(name, names[i]) == 0)
            return i;
    return -1;
}

const char *nvb_log_level_name(int level)
{
    return level == NVB_LOG_WARN ? "warn" : level == NVB_LOG_INFO ? "info" : level == NVB_LOG_DEBUG ? "debug" : "off";
}
