/* Grants and denials counted from the audit log (isolation/audit.h), read incrementally:
 * each update reads only what was appended since the last one, so a scrape costs the new
 * lines, not the whole log. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "util/error.h"

typedef struct nvb_audit_counts {
    dev_t dev;
    ino_t ino;
    off_t offset;        /* bytes counted so far (whole lines only) */
    uint64_t grants, denials;
    uint64_t bad_lines;  /* lines that are not audit events */
    char tail[64];       /* the last bytes counted: a log truncated and written again past
                          * offset no longer holds them there */
    size_t tail_len;
    bool present;        /* the log exists */
} nvb_audit_counts;

/* Count the lines appended to path since the last call (the counts start again from zero
 * when the log was replaced or truncated, a rotation, even when it has grown past the old
 * end since). A missing log is zero events. At most
 * 8 MiB is read per call; the rest waits for the next. 0, or -1 with err (NVB_EXIT_IO). */
int nvb_audit_counts_update(nvb_audit_counts *c, const char *path, nvb_err *err);
