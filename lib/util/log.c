/* The process's one log sink; see log.h. */
#include "util/log.h"

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
    char *line = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&line, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    /* One line each: a newline inside (a file name) must not start a line of its own. */
    for (char *p = line; *p; p++)
        if (*p == '\n')
            *p = ' ';
    sink(level, line, sink_ctx);
    free(line);
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
