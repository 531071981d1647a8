/* Text that came from others (container names and runtime names in claim records and the
 * audit log, file contents quoted in error messages) as a terminal may be shown it: a name
 * holding ESC sequences would otherwise move the cursor, rewrite earlier lines or set the
 * window title of whoever runs `nvbind audit`, `nvbind claims` or `nvbind top`, and a
 * newline would split a one-line error in two. JSON outputs need none of this: JSON escapes
 * them. */
#pragma once
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

/* src as shown into dst[0..size) (size >= 1), always terminated: well-formed UTF-8 that is
 * not a control character as it is; every other byte (C0 and C1 controls, DEL, a byte
 * outside a well-formed sequence) as \xNN. Cut at a whole character or escape when dst is
 * too small. The length written. dst and src may not overlap. */
size_t nvb_shown_into(char *dst, size_t size, const char *src);

/* The same, malloc'd (free() it; NULL when out of memory). */
char *nvb_shown(const char *s);

/* vasprintf(fmt, ap), then shown: one line of a log that quotes names as they came. malloc'd;
 * NULL when out of memory. */
char *nvb_shown_vasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

/* Whether s is shown as it is: well-formed UTF-8 without control characters (C0, DEL, C1). */
bool nvb_shown_plain(const char *s);
