/* Running helper programs (engine --version probes, engines themselves) with a bounded
 * time and a clean environment. */
#pragma once
#include <stddef.h>

/* Find an executable by name in PATH (or use it as is when it contains '/').
 * Returns a malloc'd absolute path, NULL when not found. */
char *nvb_find_executable(const char *name);

/* Run argv, capturing up to outlen-1 bytes of stdout+stderr into out (NUL-terminated).
 * Returns the exit status (0-255), 128+signal when killed, -1 when it could not start,
 * -2 when it ran past timeout_ms (it is killed). */
int nvb_run_capture(char *const argv[], unsigned timeout_ms, char *out, size_t outlen);
