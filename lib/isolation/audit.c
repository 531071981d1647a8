#include "isolation/audit.h"
#include "isolation/timefmt.h"
#include "util/cleanup.h"
#include "util/fileio.h"
#include "util/json_text.h"
#include "util/log.h"
#include "util/shown.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

char *nvb_audit_format(const nvb_audit_event *ev, int64_t ms, uid_t uid, pid_t pid)
{
    char when[40];
    nvb_time_format(when, sizeof when, ms, true);
    json_t *devs = json_array();
    for (size_t i = 0; devs && i < ev->n_devices; i++)
        json_array_append_new(devs, json_string(ev->devices[i] ? ev->devices[i] : ""));
    json_t *o = json_pack("{s:s, s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:s, s:s}", "time", when, "uid", (json_int_t)uid,
                          "pid", (json_int_t)pid, "container", str_or_null(ev->container), "runtime",
                          str_or_null(ev->runtime), "devices", devs ? devs : json_array(), "profile",
                          str_or_null(ev->profile), "isolation", str_or_null(ev->isolation), "decision",
                          ev->grant ? "grant" : "deny", "reason", ev->reason ? ev->reason : "");
    if (!o)
        return NULL;
    /* JSON_COMPACT never puts a raw newline in a line: strings escape it. */
    char *line = nvb_json_dump_line(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (line && strlen(line) > NVB_AUDIT_LINE_MAX) {
        free(line);
        return NULL;
    }
    return line;
}

static int make_parent(const char *path, nvb_err *err)
{
    _cleanup_free_ char *copy = strdup(path);
    if (!copy)
        return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    char *dir = dirname(copy);
    /* mkdir -p: missing parents 0755, the log's own folder 0750. */
    size_t n = strlen(dir);
    for (size_t i = 1; i <= n; i++) {
        if (dir[i] != '/' && dir[i] != '\0')
            continue;
        char keep = dir[i];
        dir[i] = '\0';
        if (mkdir(dir, keep ? 0755 : 0750) < 0 && errno != EEXIST)
            return nvb_errf_errno(err, NVB_EXIT_IO, errno, "cannot create the audit log folder %s", dir);
        dir[i] = keep;
    }
    return 0;
}

/* Open (making it when missing) the log file at path for appending; -1 with errno. */
static int open_append(const char *path, nvb_err *err)
{
    /* Read access only to look at the last byte (see nvb_audit_append). */
    int flags = O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY;
    int fd = open(path, flags);
    if (fd < 0 && errno == ENOENT) {
        if (make_parent(path, err) < 0)
            return -2;
        fd = open(path, flags | O_CREAT | O_EXCL, 0640);
        if (fd >= 0)
            fchmod(fd, 0640); /* whatever the umask */
        else if (errno == EEXIST)
            fd = open(path, flags);
    }
    return fd;
}

/* Whether root's log at path (fd from open_append, or -1 with errno) is one someone else
 * put there: a link, or a file not root's own of one link. The log's folder is the group's
 * when members log (sticky and setgid), and a member may make the name while root's log is
 * missing (before its first event, after rotation): root would then append to the member's
 * file, and its events could be edited. */
static bool planted(int fd)
{
    struct stat st;
    if (fd < 0)
        return errno == ELOOP || errno == EISDIR;
    return fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != 0 || st.st_nlink != 1;
}

/* Move path aside to PATH.planted.TIME.PID[.N], never replacing anything there: the name it
 * now has (malloc'd), or NULL with errno. */
static char *move_aside(const char *path)
{
    long long now = (long long)nvb_time_now_ms();
    for (unsigned n = 0; n < 100; n++) {
        char *aside = NULL;
        if ((n ? asprintf(&aside, "%s.planted.%lld.%ld.%u", path, now, (long)getpid(), n)
               : asprintf(&aside, "%s.planted.%lld.%ld", path, now, (long)getpid())) < 0)
            return NULL;
        if (renameat2(AT_FDCWD, path, AT_FDCWD, aside, RENAME_NOREPLACE) == 0)
            return aside;
        int e = errno;
        free(aside);
        errno = e;
        if (e != EEXIST)
            return NULL;
    }
    return NULL;
}

/* Root's log: one planted in its place is moved aside to PATH.planted.TIME.PID (a name of
 * its own each time, never replacing anything: kept for whoever looks into it) and root's
 * made anew. As open_append: -1 with errno, -2 with err set. */
static int open_roots_log(const char *path, nvb_err *err)
{
    int fd = open_append(path, err);
    for (int tries = 0; fd != -2 && planted(fd) && tries < 2; tries++) {
        if (fd >= 0)
            close(fd);
        _cleanup_free_ char *aside = move_aside(path);
        if (!aside) {
            nvb_errf_errno(err, NVB_EXIT_IO, errno, "audit log %s is not root's own file and cannot be moved aside",
                           path);
            return -2;
        }
        nvb_log(NVB_LOG_WARN, "audit log %s was not root's own file (a link, another user's, or with other links): "
                "moved to %s, and a new log begun", path, aside);
        fd = open_append(path, err);
    }
    if (fd >= 0 && planted(fd)) {
        close(fd);
        nvb_errf(err, NVB_EXIT_IO, "audit log %s: someone keeps putting a file of their own in its place", path);
        return -2;
    }
    return fd;
}

/* Open the log a caller appends to: root's (path itself), or for a member of the group
 * who may not write root's log, the member's own (see nvb_audit_member_log). */
static int open_log(const char *path, char **used, nvb_err *err)
{
    *used = strdup(path);
    if (!*used)
        return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    int fd = geteuid() == 0 ? open_roots_log(path, err) : open_append(path, err);
    if (fd == -2)
        return -1;
    if (fd < 0 && errno == EACCES && geteuid() != 0) {
        free(*used);
        *used = nvb_audit_member_log(path, geteuid());
        if (!*used)
            return nvb_errf(err, NVB_EXIT_IO, "out of memory");
        fd = open_append(*used, err);
        if (fd == -2)
            return -1;
        if (fd < 0 && errno == EACCES)
            return nvb_errf_errno(err, NVB_EXIT_IO, EACCES, "cannot open the audit log %s (root and members of "
                                  "group %s write audit logs; see nvbind doctor)", path, NVB_AUDIT_GROUP);
        struct stat st;
        if (fd >= 0 && (fstat(fd, &st) < 0 || st.st_uid != geteuid())) {
            close(fd);
            return nvb_errf(err, NVB_EXIT_IO, "audit log %s is not yours (owner uid %u): someone else made it; "
                            "ask root to remove it", *used, (unsigned)st.st_uid);
        }
    }
    if (fd < 0)
        return nvb_errf_errno(err, NVB_EXIT_IO, errno, "cannot open the audit log %s", *used);
    if (geteuid() == 0)
        nvb_audit_share(fd, *used);
    return fd;
}

int nvb_audit_append(const char *path, const nvb_audit_event *ev, nvb_err *err)
{
    if (!path || !*path)
        path = NVB_AUDIT_DEFAULT_LOG;
    _cleanup_free_ char *line = nvb_audit_format(ev, nvb_time_now_ms(), getuid(), getpid());
    if (!line)
        return nvb_errf(err, NVB_EXIT_IO, "audit log %s: the event does not fit in one line of %d bytes", path,
                        NVB_AUDIT_LINE_MAX);
    _cleanup_free_ char *used = NULL;
    _cleanup_close_ int fd = open_log(path, &used, err);
    if (fd < 0)
        return -1;
    path = used;
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
        return nvb_errf(err, NVB_EXIT_IO, "audit log %s: not a regular file", path);
    /* A writer killed in the middle of a line (only possible for huge writes or a full
     * disk) leaves no newline: start on a fresh line so ours stays whole. Racing another
     * writer here costs at most an empty line, which readers skip. */
    char last;
    if (st.st_size > 0 && pread(fd, &last, 1, st.st_size - 1) == 1 && last != '\n') {
        size_t n = strlen(line);
        char *nl = malloc(n + 2);
        if (!nl)
            return nvb_errf(err, NVB_EXIT_IO, "out of memory");
        nl[0] = '\n';
        memcpy(nl + 1, line, n + 1);
        free(line);
        line = nl;
    }
    size_t n = strlen(line);
    /* One write() per line: with O_APPEND the kernel places it whole at the end. */
    ssize_t w;
    do
        w = write(fd, line, n);
    while (w < 0 && errno == EINTR);
    if (w < 0)
        return nvb_errf_errno(err, NVB_EXIT_IO, errno, "cannot append to the audit log %s", path);
    if ((size_t)w != n)
        return nvb_errf(err, NVB_EXIT_IO, "audit log %s: short write (%zd of %zu bytes; disk full?)", path, w, n);
    return 0;
}

/* Reading -------------------------------------------------------------------------------- */

static bool event_shape_ok(json_t *o, const char **why)
{
    static const char *const strs[] = {"time", "decision", "reason"};
    if (!json_is_object(o)) {
        *why = "not a JSON object";
        return false;
    }
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        if (!json_is_string(json_object_get(o, strs[i]))) {
            *why = strs[i];
            return false;
        }
    if (!json_is_array(json_object_get(o, "devices"))) {
        *why = "devices";
        return false;
    }
    return true;
}

/* A problem with one line, kept while fewer than NVB_AUDIT_PROBLEMS_MAX are; counted after
 * that: a log of garbage must not be held in memory as messages about it. */
static void problem(nvb_audit_read *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(nvb_audit_read *out, const char *fmt, ...)
{
    if (out->problems.n >= NVB_AUDIT_PROBLEMS_MAX) {
        out->problems_dropped++;
        return;
    }
    char msg[512], shown[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* jansson's messages quote the line they stopped at: text the log's writer chose. */
    nvb_shown_into(shown, sizeof shown, msg);
    if (nvb_strv_push(&out->problems, shown) < 0)
        out->problems_dropped++;
}

/* Where the events go: the callback, or (without one) out->events. */
struct sink {
    nvb_audit_event_fn fn;
    void *ctx;
    nvb_err *err;
    bool stopped;  /* fn said stop */
};

/* One line of the log (without its newline; has_nl false for a last line without one). */
static void read_line(nvb_audit_read *out, struct sink *sink, const nvb_audit_filter *f, const char *name,
                      size_t lineno, const char *s, size_t l, bool has_nl)
{
    if (l == 0)
        return;
    out->lines++;
    json_error_t je;
    json_t *o = json_loadb(s, l, JSON_REJECT_DUPLICATES, &je);
    const char *why = NULL;
    if (!o || !event_shape_ok(o, &why)) {
        if (!has_nl) {
            out->torn_tail = true;
            problem(out, "%s:%zu: the last line is incomplete (%zu bytes, no newline): a write was cut short; skipped",
                    name, lineno, l);
        } else {
            out->bad_lines++;
            if (!o)
                problem(out, "%s:%zu: not JSON (column %d: %s); skipped", name, lineno, je.column, je.text);
            else
                problem(out, "%s:%zu: not an audit event (%s%s); skipped", name, lineno, why,
                        strchr(why, ' ') ? "" : " missing or of the wrong type");
        }
        json_decref(o);
        return;
    }
    bool keep = true;
    json_t *uid = json_object_get(o, "uid");
    if (f && f->check_uid && (!json_is_integer(uid) || json_integer_value(uid) != (json_int_t)f->uid)) {
        /* A member's log speaks for that member alone. */
        out->bad_lines++;
        problem(out, "%s:%zu: an event of another uid in the log of uid %u: forged; skipped", name, lineno,
                (unsigned)f->uid);
        json_decref(o);
        return;
    }
    if (f && f->has_since) {
        int64_t t;
        if (nvb_time_parse_rfc3339(json_string_value(json_object_get(o, "time")), &t) < 0) {
            out->bad_lines++;
            problem(out, "%s:%zu: time is not an RFC 3339 time; skipped", name, lineno);
            keep = false;
        } else {
            keep = t >= f->since_ms;
        }
    }
    if (keep && f && f->container) {
        json_t *c = json_object_get(o, "container");
        keep = json_is_string(c) && strcmp(json_string_value(c), f->container) == 0;
    }
    if (keep) {
        out->matched++;
        if (sink && sink->fn)
            sink->stopped = sink->fn(o, sink->ctx, sink->err) != 0;
        else
            json_array_append(out->events, o);
    }
    json_decref(o);
}

/* A line longer than any writer writes (nvb_audit_format refuses them): skipped unread. */
static void long_line(nvb_audit_read *out, const char *name, size_t lineno)
{
    out->lines++;
    out->bad_lines++;
    problem(out, "%s:%zu: longer than %d bytes, not an audit event; skipped", name, lineno, NVB_AUDIT_LINE_MAX);
}

int nvb_audit_read_text(const char *text, size_t len, const char *name, const nvb_audit_filter *f,
                        nvb_audit_read *out, nvb_err *err)
{
    memset(out, 0, sizeof *out);
    if (!(out->events = json_array()))
        return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    size_t lineno = 0;
    for (size_t pos = 0; pos < len;) {
        const char *s = text + pos;
        const char *nl = memchr(s, '\n', len - pos);
        size_t l = nl ? (size_t)(nl - s) : len - pos;
        pos += l + (nl ? 1 : 0);
        if (l > NVB_AUDIT_LINE_MAX)
            long_line(out, name, ++lineno);
        else
            read_line(out, NULL, f, name, ++lineno, s, l, nl != NULL);
    }
    return 0;
}

/* Reading the file in pieces: at most READ_BUF bytes in memory, whatever the log's size
 * or its lines' length. READ_BUF holds a line of NVB_AUDIT_LINE_MAX and its newline. */
enum { READ_BUF = 4 * NVB_AUDIT_LINE_MAX };

struct reader {
    int fd;
    char *buf;
    size_t start, end;  /* unread bytes: buf[start, end) */
    bool eof;
    size_t lineno;
};

/* Fill the buffer behind the unread bytes (moved to its front). 0, or -1 with errno. */
static int fill(struct reader *r)
{
    if (r->start) {
        memmove(r->buf, r->buf + r->start, r->end - r->start);
        r->end -= r->start;
        r->start = 0;
    }
    while (r->end < READ_BUF && !r->eof) {
        ssize_t n = read(r->fd, r->buf + r->end, READ_BUF - r->end);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            r->eof = true;
        r->end += (size_t)n;
    }
    return 0;
}

/* Skip to the byte after the next newline (or the end). */
static int skip_line(struct reader *r)
{
    for (;;) {
        char *nl = memchr(r->buf + r->start, '\n', r->end - r->start);
        if (nl) {
            r->start = (size_t)(nl - r->buf) + 1;
            return 0;
        }
        r->start = r->end;
        if (r->eof)
            return 0;
        if (fill(r) < 0)
            return -1;
    }
}

static int scan_fd(struct reader *r, const char *path, const nvb_audit_filter *f, struct sink *sink,
                   nvb_audit_read *out)
{
    while (!sink->stopped) {
        char *s = r->buf + r->start;
        char *nl = memchr(s, '\n', r->end - r->start);
        if (!nl && !r->eof && r->end - r->start <= NVB_AUDIT_LINE_MAX) {
            if (fill(r) < 0)
                return -1;
            continue;
        }
        size_t l = nl ? (size_t)(nl - s) : r->end - r->start;
        if (l > NVB_AUDIT_LINE_MAX) {
            long_line(out, path, ++r->lineno);
            if (skip_line(r) < 0)
                return -1;
            continue;
        }
        if (!nl && l == 0)
            return 0; /* the end */
        r->start += l + (nl ? 1 : 0);
        read_line(out, sink, f, path, ++r->lineno, s, l, nl != NULL);
    }
    return 0;
}

int nvb_audit_scan_file(const char *path, const nvb_audit_filter *f, nvb_audit_event_fn fn, void *ctx,
                        nvb_audit_read *out, nvb_err *err)
{
    if (!path || !*path)
        path = NVB_AUDIT_DEFAULT_LOG;
    memset(out, 0, sizeof *out);
    if (!fn && !(out->events = json_array()))
        return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    /* O_NONBLOCK and the check: a FIFO in the log's place must not hang the reader. */
    _cleanup_close_ int fd = open(path, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0 || nvb_check_regular(fd) < 0) {
        int e = errno;
        nvb_audit_read_clear(out);
        return nvb_errf_errno(err, NVB_EXIT_IO, e, "cannot read the audit log %s", path);
    }
    _cleanup_free_ char *buf = malloc(READ_BUF);
    if (!buf) {
        nvb_audit_read_clear(out);
        return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    }
    struct reader r = {.fd = fd, .buf = buf};
    struct sink sink = {.fn = fn, .ctx = ctx, .err = err};
    if (scan_fd(&r, path, f, &sink, out) < 0) {
        int e = errno;
        nvb_audit_read_clear(out);
        return nvb_errf_errno(err, NVB_EXIT_IO, e, "cannot read the audit log %s", path);
    }
    return sink.stopped ? -1 : 0;
}

int nvb_audit_read_file(const char *path, const nvb_audit_filter *f, nvb_audit_read *out, nvb_err *err)
{
    return nvb_audit_scan_file(path, f, NULL, NULL, out, err);
}

void nvb_audit_read_clear(nvb_audit_read *r)
{
    json_decref(r->events);
    nvb_strv_free(&r->problems);
    memset(r, 0, sizeof *r);
}
