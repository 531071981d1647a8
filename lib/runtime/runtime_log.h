/* runc and crun write their own errors to --log FILE (--log-format=json: one object a line,
 * "level" and "msg"); the container's exit status never goes there. */
#pragma once
#include <stddef.h>

/* The runtime's log file in a bundle folder. */
#define NVB_RUNTIME_LOG "runtime.log"

/* 1 with msg set to the last error (or fatal) entry of the JSON log at path, 0 when it has
 * none or cannot be read. */
int nvb_runtime_log_error(const char *path, char *msg, size_t len);
