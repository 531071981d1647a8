/* What nvbind decides, one line each, for whoever asked to see it: the CLI's -v/--verbose and
 * NVBIND_LOG, the shim's log files, a C caller's callback (nvbind_set_log_callback). Nothing
 * is formatted unless a sink wants the level. */
#pragma once
#include <stdbool.h>

enum nvb_log_level { NVB_LOG_OFF = 0, NVB_LOG_WARN = 1, NVB_LOG_INFO = 2, NVB_LOG_DEBUG = 3 };

typedef void (*nvb_log_fn)(int level, const char *line, void *ctx);

/* One sink for the process: lines up to max_level go to fn (NULL: none). */
void nvb_log_set(nvb_log_fn fn, void *ctx, int max_level);
bool nvb_log_on(int level);
void nvb_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "warn", "info", "debug" -> the level; -1 for anything else. */
int nvb_log_level_parse(const char *name);
const char *nvb_log_level_name(int level);
