/* The audit log: one JSON line per isolation decision (grant or deny), appended with
 * O_APPEND and one write() per line, so lines from concurrent writers never interleave;
 * the file is never rewritten. Keys, in this order:
 *   time (RFC 3339 UTC, milliseconds), uid, pid, container, runtime, devices (array of
 *   UUIDs or names), profile, isolation, decision ("grant" / "deny"), reason
 * container, runtime, profile and isolation are null when unknown. */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "isolation/group.h"
#include "util/error.h"
#include "util/strv.h"

#define NVB_AUDIT_DEFAULT_LOG "/var/log/nvbind/audit.log"
#define NVB_AUDIT_GROUP NVB_GROUP_NAME
#define NVB_AUDIT_LINE_MAX (64 * 1024)

typedef struct nvb_audit_event {
    const char *container;
    const char *runtime;
    const char *const *devices;   /* n_devices UUIDs (or names when there is no UUID) */
    size_t n_devices;
    const char *profile;
    const char *isolation;
    bool grant;
    const char *reason;           /* why: what was granted, or the error that denied it */
} nvb_audit_event;

/* The line for ev at time ms from process uid/pid, '\n'-terminated. malloc'd; NULL when
 * out of memory or longer than NVB_AUDIT_LINE_MAX. */
char *nvb_audit_format(const nvb_audit_event *ev, int64_t ms, uid_t uid, pid_t pid);

/* Append ev (now, getuid(), getpid()) to path (NULL = NVB_AUDIT_DEFAULT_LOG). The folder is
 * created 0750 and the file 0640 when missing. Errors are NVB_EXIT_IO.
 * Users who are not root: when the administrator gave the log's folder to the group
 * NVB_AUDIT_GROUP (root:nvbind), root keeps it 3770 (setgid, sticky) and its log 0640
 * group-readable; a member, who cannot
 * write root's log, appends to its own, nvb_audit_member_log(path, uid), which only it can
 * write and nobody else can replace (the sticky bit). Readers trust a member's log for that
 * member's lines only (nvb_audit_filter.uid). */
int nvb_audit_append(const char *path, const nvb_audit_event *ev, nvb_err *err);

typedef struct nvb_audit_filter {
    bool has_since;
    int64_t since_ms;             /* events at or after this time */
    const char *container;        /* only this container; NULL = all */
    bool check_uid;               /* a member's log: a line of another uid is forged, skipped */
    uid_t uid;
} nvb_audit_filter;

/* A member's own log beside path: "PATH@UID". malloc'd. */
char *nvb_audit_member_log(const char *path, uid_t uid);
/* The members' logs beside path, whose owner is the uid their name says and that nobody
 * else can write, in uid order; untrusted ones are named in skipped ("PATH: why"). A
 * folder that cannot be read yields none. */
int nvb_audit_member_logs(const char *path, nvb_strv *paths, uid_t **uids, nvb_strv *skipped, nvb_err *err);
/* Root: when the log's folder is the group's, keep it 3770 and the log open as fd the group's. */
void nvb_audit_share(int fd, const char *path);

/* Problems kept as messages; more are only counted (problems_dropped). */
#define NVB_AUDIT_PROBLEMS_MAX 100

typedef struct nvb_audit_read {
    json_t *events;               /* the matching event objects, in file order (NULL when a
                                   * callback took them: nvb_audit_scan_file) */
    size_t matched;               /* events that matched the filter */
    size_t lines;                 /* lines read (not counting empty ones) */
    nvb_strv problems;            /* "file:line: ..." for the first NVB_AUDIT_PROBLEMS_MAX lines
                                   * that are not events */
    size_t problems_dropped;      /* problems beyond those, counted only */
    bool torn_tail;               /* the last line has no newline and does not parse: a write
                                   * cut short (it is a problem too) */
    size_t bad_lines;             /* lines other than a torn tail that are not events */
} nvb_audit_read;

/* Called with each matching event in file order (borrowed: incref to keep it). Non-zero
 * stops the scan, which then returns -1 with whatever fn put in err. */
typedef int (*nvb_audit_event_fn)(json_t *event, void *ctx, nvb_err *err);

/* Read and filter the log line by line, handing each match to fn (NULL: collect them in
 * out->events). Memory stays bounded whatever the log's size: a line is held while it is
 * looked at, lines over NVB_AUDIT_LINE_MAX are skipped unread. A missing file is an error
 * with errnum ENOENT; a FIFO, device or folder is refused without blocking. */
int nvb_audit_scan_file(const char *path, const nvb_audit_filter *f, nvb_audit_event_fn fn, void *ctx,
                        nvb_audit_read *out, nvb_err *err);
/* nvb_audit_scan_file collecting every match in out->events. */
int nvb_audit_read_file(const char *path, const nvb_audit_filter *f, nvb_audit_read *out, nvb_err *err);
/* The same over text already in memory (name for messages). */
int nvb_audit_read_text(const char *text, size_t len, const char *name, const nvb_audit_filter *f,
                        nvb_audit_read *out, nvb_err *err);
void nvb_audit_read_clear(nvb_audit_read *r);
