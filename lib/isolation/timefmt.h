/* Times as nvbind's claims and audit log write them: RFC 3339 in UTC, and the --since
 * forms users type (an RFC 3339 time or a span back from now: 90s, 10m, 2h, 1d). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Milliseconds since the epoch, from the real-time clock. */
int64_t nvb_time_now_ms(void);

/* "2024-05-01T12:00:00Z", or with with_ms "2024-05-01T12:00:00.123Z". len >= 32. */
void nvb_time_format(char *buf, size_t len, int64_t ms, bool with_ms);

/* Parse RFC 3339: date 'T' (or 't' or ' ') time, optional fraction, then 'Z' or +hh:mm / -hh:mm.
 * Returns 0 and *ms, or -1 when s is not such a time. */
int nvb_time_parse_rfc3339(const char *s, int64_t *ms);

/* --since: RFC 3339, or a number followed by s, m, h or d meaning that long before now_ms.
 * Returns 0 and *ms, or -1. */
int nvb_time_parse_since(const char *s, int64_t now_ms, int64_t *ms);
