/* The audit log: the line format, file and folder modes, concurrent appends (N processes x M
 * lines, every line whole), reading with filters, a torn last line and damaged lines, and
 * the time forms --since accepts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <glob.h>

#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "iso_test_util.h"
#include "isolation/audit.h"
#include "isolation/timefmt.h"
#include "util/fileio.h"

typedef struct fixture {
    char *dir, *log;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->dir = t_mkdtemp();
    f->log = t_printf("%s/var/log/nvbind/audit.log", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    t_rm_rf(f->dir);
    free(f->dir);
    free(f->log);
    free(f);
    return 0;
}

/* nvb_time_format's calendar against the C library's gmtime_r: every day from 1600 to 2400
 * (leap days, centuries, 2000-02-29, times before 1970) at a time of day that moves, and the
 * millisecond part of times before 1970. */
static void test_times_match_gmtime(void **state)
{
    (void)state;
    char ours[64], libc[64];
    for (int64_t day = -135140; day <= 157000; day++) {
        int64_t secs = day * 86400 + (day * 3607) % 86400;
        time_t t = (time_t)secs;
        struct tm tm;
        assert_non_null(gmtime_r(&t, &tm));
        strftime(libc, sizeof libc, "%Y-%m-%dT%H:%M:%SZ", &tm);
        nvb_time_format(ours, sizeof ours, secs * 1000, false);
        if (strcmp(ours, libc) != 0)
            fail_msg("day %lld: %s, gmtime_r %s", (long long)day, ours, libc);
    }
    nvb_time_format(ours, sizeof ours, -1, true);
    assert_string_equal(ours, "1969-12-31T23:59:59.999Z");
    nvb_time_format(ours, sizeof ours, INT64_MIN, true); /* a damaged record: no overflow */
    assert_true(strlen(ours) > 20);
}

static void test_times(void **state)
{
    (void)state;
    char buf[40];
    nvb_time_format(buf, sizeof buf, 1714564800123LL, true);
    assert_string_equal(buf, "2024-05-01T12:00:00.123Z");
    nvb_time_format(buf, sizeof buf, 1714564800123LL, false);
    assert_string_equal(buf, "2024-05-01T12:00:00Z");
    int64_t ms;
    assert_int_equal(nvb_time_parse_rfc3339("2024-05-01T12:00:00.123Z", &ms), 0);
    assert_int_equal(ms, 1714564800123LL);
    assert_int_equal(nvb_time_parse_rfc3339("2024-05-01T14:00:00+02:00", &ms), 0);
    assert_int_equal(ms, 1714564800000LL);
    assert_int_equal(nvb_time_parse_rfc3339("2024-05-01 12:00:00.5z", &ms), 0);
    assert_int_equal(ms, 1714564800500LL);
    assert_int_equal(nvb_time_parse_rfc3339("2024-02-31T00:00:00Z", &ms), -1);
    assert_int_equal(nvb_time_parse_rfc3339("2024-05-01T12:00:00", &ms), -1);
    assert_int_equal(nvb_time_parse_rfc3339("2024-05-01", &ms), -1);
    assert_int_equal(nvb_time_parse_since("10m", 1000000000LL, &ms), 0);
    assert_int_equal(ms, 1000000000LL - 600000);
    assert_int_equal(nvb_time_parse_since("2h", 1000000000LL, &ms), 0);
    assert_int_equal(ms, 1000000000LL - 7200000);
    assert_int_equal(nvb_time_parse_since("1d", 1000000000LL, &ms), 0);
    assert_int_equal(ms, 1000000000LL - 86400000);
    assert_int_equal(nvb_time_parse_since("90s", 1000000000LL, &ms), 0);
    assert_int_equal(ms, 1000000000LL - 90000);
    assert_int_equal(nvb_time_parse_since("10", 0, &ms), -1);
    assert_int_equal(nvb_time_parse_since("m", 0, &ms), -1);
    assert_int_equal(nvb_time_parse_since("10w", 0, &ms), -1);
    assert_int_equal(nvb_time_parse_since("99999999999999999999d", 0, &ms), -1);
}

static void test_line_format(void **state)
{
    (void)state;
    const char *devs[] = {"GPU-a", "MIG-b"};
    nvb_audit_event ev = {.container = "c1", .runtime = "runc", .devices = devs, .n_devices = 2, .profile = "aiml",
                          .isolation = "exclusive", .grant = true, .reason = "exclusive GPU 0 (GPU-a)\nsecond line"};
    char *line = nvb_audit_format(&ev, 1714564800123LL, 1000, 4242);
    assert_string_equal(line, "{\"time\":\"2024-05-01T12:00:00.123Z\",\"uid\":1000,\"pid\":4242,\"container\":\"c1\","
                              "\"runtime\":\"runc\",\"devices\":[\"GPU-a\",\"MIG-b\"],\"profile\":\"aiml\","
                              "\"isolation\":\"exclusive\",\"decision\":\"grant\","
                              "\"reason\":\"exclusive GPU 0 (GPU-a)\\nsecond line\"}\n");
    free(line);
    nvb_audit_event deny = {.grant = false, .reason = "busy"};
    line = nvb_audit_format(&deny, 0, 0, 1);
    assert_string_equal(line, "{\"time\":\"1970-01-01T00:00:00.000Z\",\"uid\":0,\"pid\":1,\"container\":null,"
                              "\"runtime\":null,\"devices\":[],\"profile\":null,\"isolation\":null,\"decision\":\"deny\","
                              "\"reason\":\"busy\"}\n");
    free(line);
    /* An event too big for one line is refused rather than split. */
    char *huge = malloc(NVB_AUDIT_LINE_MAX + 1);
    memset(huge, 'x', NVB_AUDIT_LINE_MAX);
    huge[NVB_AUDIT_LINE_MAX] = '\0';
    nvb_audit_event big = {.reason = huge};
    assert_null(nvb_audit_format(&big, 0, 0, 1));
    free(huge);
}

static void test_append_creates_modes(void **state)
{
    fixture *f = *state;
    nvb_err err = {0};
    mode_t old = umask(0);
    nvb_audit_event ev = {.container = "c", .isolation = "shared", .grant = true, .reason = "ok"};
    assert_int_equal(nvb_audit_append(f->log, &ev, &err), 0);
    umask(old);
    struct stat st;
    assert_int_equal(stat(f->log, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0640);
    char *d = t_printf("%s/var/log/nvbind", f->dir);
    assert_int_equal(stat(d, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0750);
    free(d);
    ev.grant = false;
    ev.reason = "no";
    assert_int_equal(nvb_audit_append(f->log, &ev, &err), 0);
    nvb_audit_read r;
    assert_int_equal(nvb_audit_read_file(f->log, NULL, &r, &err), 0);
    assert_int_equal(json_array_size(r.events), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(r.events, 0), "decision")), "grant");
    assert_string_equal(json_string_value(json_object_get(json_array_get(r.events, 1), "decision")), "deny");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(r.events, 1), "pid")), getpid());
    nvb_audit_read_clear(&r);
    /* A symlink in place of root's log is not followed: it is moved aside (to .planted) and
     * a log of root's own begun; the file it led to is left as it was. */
    char *link = t_printf("%s/link.log", f->dir), *aside = t_printf("%s/link.log.planted.*", f->dir);
    assert_int_equal(symlink(f->log, link), 0);
    assert_int_equal(nvb_audit_append(link, &ev, &err), 0);
    assert_int_equal(lstat(link, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    glob_t g;
    assert_int_equal(glob(aside, 0, NULL, &g), 0);
    assert_int_equal(g.gl_pathc, 1);
    assert_int_equal(lstat(g.gl_pathv[0], &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    globfree(&g);
    /* A folder in the log's place (rename() cannot replace it) is moved aside too. */
    unlink(link);
    assert_int_equal(mkdir(link, 0755), 0);
    assert_int_equal(nvb_audit_append(link, &ev, &err), 0);
    assert_int_equal(lstat(link, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(glob(aside, 0, NULL, &g), 0);
    assert_int_equal(g.gl_pathc, 2);
    globfree(&g);
    assert_int_equal(nvb_audit_read_file(f->log, NULL, &r, &err), 0);
    assert_int_equal(json_array_size(r.events), 2);
    nvb_audit_read_clear(&r);
    free(aside);
    free(link);
}

static void test_torn_tail_and_damage(void **state)
{
    fixture *f = *state;
    nvb_err err = {0};
    nvb_audit_event ev = {.container = "c", .grant = true, .reason = "first"};
    assert_int_equal(nvb_audit_append(f->log, &ev, &err), 0);
    /* A writer cut short: half a line, no newline. */
    FILE *fp = fopen(f->log, "a");
    fputs("{\"time\":\"2024-05-01T12:00", fp);
    fclose(fp);
    nvb_audit_read r;
    assert_int_equal(nvb_audit_read_file(f->log, NULL, &r, &err), 0);
    assert_int_equal(json_array_size(r.events), 1);
    assert_true(r.torn_tail);
    assert_int_equal(r.bad_lines, 0);
    assert_int_equal(r.problems.n, 1);
    assert_contains(r.problems.v[0], ":2: the last line is incomplete");
    nvb_audit_read_clear(&r);
    /* The next append starts on a fresh line, so it stays whole; the torn piece becomes a
     * damaged line in the middle. */
    ev.reason = "after the tear";
    assert_int_equal(nvb_audit_append(f->log, &ev, &err), 0);
    assert_int_equal(nvb_audit_read_file(f->log, NULL, &r, &err), 0);
    assert_int_equal(json_array_size(r.events), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(r.events, 1), "reason")), "after the tear");
    assert_false(r.torn_tail);
    assert_int_equal(r.bad_lines, 1);
    assert_contains(r.problems.v[0], ":2: not JSON");
    nvb_audit_read_clear(&r);
    /* JSON that is not an event. */
    const char *text = "{\"time\":\"2024-05-01T12:00:00.000Z\",\"decision\":\"grant\",\"reason\":\"r\",\"devices\":[]}\n"
                       "[1,2]\n\n{\"time\":\"x\"}\n";
    assert_int_equal(nvb_audit_read_text(text, strlen(text), "t.log", NULL, &r, &err), 0);
    assert_int_equal(json_array_size(r.events), 1);
    assert_int_equal(r.lines, 3); /* the empty line is not counted */
    assert_int_equal(r.bad_lines, 2);
    assert_contains(r.problems.v[0], "t.log:2: not an audit event (not a JSON object)");
    assert_contains(r.problems.v[1], "t.log:4: not an audit event (decision missing or of the wrong type)");
    nvb_audit_read_clear(&r);
    /* A missing log says so with ENOENT. */
    char *none = t_printf("%s/none.log", f->dir);
    assert_int_equal(nvb_audit_read_file(none, NULL, &r, &err), -1);
    assert_int_equal(err.errnum, ENOENT);
    free(none);
}

/* Attack: a log of garbage (or of a billion events) held in memory. Damaged-line messages
 * are capped at NVB_AUDIT_PROBLEMS_MAX, the rest counted; events reach the callback one at
 * a time, and the callback can stop the scan; a line across the reader's buffer boundary
 * and an over-long line are handled without holding the line. */
static int count_event(json_t *o, void *ctx, nvb_err *err)
{
    size_t *n = ctx;
    assert_true(json_is_object(o));
    if (++*n == 1000)
        return nvb_errf(err, NVB_EXIT_IO, "stop at %zu", *n);
    return 0;
}

static void test_garbage_log_bounded(void **state)
{
    fixture *f = *state;
    nvb_err err = {0};
    nvb_audit_event ev = {.container = "c", .grant = true, .reason = "r"};
    assert_int_equal(nvb_audit_append(f->log, &ev, &err), 0);
    FILE *fp = fopen(f->log, "a");
    for (int i = 0; i < 250; i++)
        fputs("garbage\n", fp);
    for (int i = 0; i < 70000; i++) /* one line of 70000 bytes: over NVB_AUDIT_LINE_MAX */
        fputc('x', fp);
    fputc('\n', fp);
    fclose(fp);
    for (int i = 0; i < 3000; i++)
        assert_int_equal(nvb_audit_append(f->log, &ev, &err), 0);
    nvb_audit_read r;
    assert_int_equal(nvb_audit_read_file(f->log, NULL, &r, &err), 0);
    assert_int_equal(r.matched, 3001);
    assert_int_equal(json_array_size(r.events), 3001);
    assert_int_equal(r.bad_lines, 251);
    assert_int_equal(r.problems.n, NVB_AUDIT_PROBLEMS_MAX);
    assert_int_equal(r.problems_dropped, 151);
    assert_contains(r.problems.v[0], ":2: not JSON");
    /* The file read in pieces (lines across the buffer's edges) reads as the text whole. */
    size_t len;
    char *whole = nvb_read_file(f->log, 1 << 24, &len);
    assert_non_null(whole);
    nvb_audit_read w;
    assert_int_equal(nvb_audit_read_text(whole, len, f->log, NULL, &w, &err), 0);
    assert_true(json_equal(w.events, r.events));
    assert_int_equal(w.lines, r.lines);
    assert_int_equal(w.problems_dropped, r.problems_dropped);
    for (size_t i = 0; i < r.problems.n; i++)
        assert_string_equal(w.problems.v[i], r.problems.v[i]);
    nvb_audit_read_clear(&w);
    free(whole);
    nvb_audit_read_clear(&r);
    /* The long line is named when it is among the first problems. */
    char *text = malloc(70002);
    memset(text, 'x', 70000);
    memcpy(text + 70000, "\n", 2);
    assert_int_equal(nvb_audit_read_text(text, 70001, "t.log", NULL, &r, &err), 0);
    assert_int_equal(r.bad_lines, 1);
    assert_string_equal(r.problems.v[0], "t.log:1: longer than 65536 bytes, not an audit event; skipped");
    nvb_audit_read_clear(&r);
    free(text);
    /* Streamed: the callback sees each event, and stops the scan. */
    size_t n = 0;
    assert_int_equal(nvb_audit_scan_file(f->log, NULL, count_event, &n, &r, &err), -1);
    assert_int_equal(n, 1000);
    assert_string_equal(err.msg, "stop at 1000");
    assert_null(r.events);
    nvb_audit_read_clear(&r);
}

static void test_filters(void **state)
{
    (void)state;
    const char *text =
        "{\"time\":\"2024-05-01T12:00:00.000Z\",\"container\":\"a\",\"devices\":[],\"decision\":\"grant\",\"reason\":\"\"}\n"
        "{\"time\":\"2024-05-01T13:00:00.000Z\",\"container\":\"b\",\"devices\":[],\"decision\":\"deny\",\"reason\":\"\"}\n"
        "{\"time\":\"2024-05-01T14:00:00.000Z\",\"container\":\"a\",\"devices\":[],\"decision\":\"grant\",\"reason\":\"\"}\n";
    nvb_err err = {0};
    nvb_audit_read r;
    nvb_audit_filter f = {.has_since = true};
    assert_int_equal(nvb_time_parse_rfc3339("2024-05-01T13:00:00Z", &f.since_ms), 0);
    assert_int_equal(nvb_audit_read_text(text, strlen(text), "t", &f, &r, &err), 0);
    assert_int_equal(json_array_size(r.events), 2); /* at or after */
    nvb_audit_read_clear(&r);
    f.container = "a";
    assert_int_equal(nvb_audit_read_text(text, strlen(text), "t", &f, &r, &err), 0);
    assert_int_equal(json_array_size(r.events), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(r.events, 0), "time")),
                        "2024-05-01T14:00:00.000Z");
    nvb_audit_read_clear(&r);
    nvb_audit_filter only_b = {.container = "b"};
    assert_int_equal(nvb_audit_read_text(text, strlen(text), "t", &only_b, &r, &err), 0);
    assert_int_equal(json_array_size(r.events), 1);
    nvb_audit_read_clear(&r);
}

#define WRITERS 16
#define LINES 200

static void test_concurrent_appends(void **state)
{
    fixture *f = *state;
    pid_t kids[WRITERS];
    for (int w = 0; w < WRITERS; w++) {
        kids[w] = fork();
        if (kids[w] == 0) {
            char ctr[32], reason[600];
            snprintf(ctr, sizeof ctr, "writer-%d", w);
            /* Lines of different lengths, some over 4 KiB with many devices. */
            const char *devs[200];
            for (int i = 0; i < 200; i++)
                devs[i] = "GPU-00000000-0000-0000-0000-000000000000";
            for (int i = 0; i < LINES; i++) {
                snprintf(reason, sizeof reason, "line %d of %s %.*s", i, ctr, (i * 7) % 500,
                         "................................................................................................"
                         "................................................................................................"
                         "................................................................................................"
                         "................................................................................................"
                         "................................................................................................"
                         "..........");
                nvb_audit_event ev = {.container = ctr, .runtime = "test", .devices = devs,
                                      .n_devices = (size_t)(i % 3 == 0 ? 150 : i % 5), .isolation = "exclusive",
                                      .grant = i % 2 == 0, .reason = reason};
                if (nvb_audit_append(f->log, &ev, NULL) < 0)
                    _exit(1);
            }
            _exit(0);
        }
    }
    for (int w = 0; w < WRITERS; w++) {
        int st;
        waitpid(kids[w], &st, 0);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    nvb_err err = {0};
    nvb_audit_read r;
    assert_int_equal(nvb_audit_read_file(f->log, NULL, &r, &err), 0);
    assert_int_equal(r.problems.n, 0);
    assert_int_equal(r.lines, WRITERS * LINES);
    assert_int_equal(json_array_size(r.events), WRITERS * LINES);
    /* Each writer's lines are all there, in its own order. */
    int next[WRITERS] = {0};
    for (size_t i = 0; i < json_array_size(r.events); i++) {
        json_t *e = json_array_get(r.events, i);
        int w, n;
        assert_int_equal(sscanf(json_string_value(json_object_get(e, "reason")), "line %d of writer-%d", &n, &w), 2);
        assert_true(w >= 0 && w < WRITERS);
        assert_int_equal(n, next[w]);
        next[w]++;
    }
    for (int w = 0; w < WRITERS; w++)
        assert_int_equal(next[w], LINES);
    nvb_audit_read_clear(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_times),
        cmocka_unit_test(test_times_match_gmtime),
        cmocka_unit_test(test_line_format),
        cmocka_unit_test_setup_teardown(test_append_creates_modes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_tail_and_damage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_garbage_log_bounded, setup, teardown),
        cmocka_unit_test(test_filters),
        cmocka_unit_test_setup_teardown(test_concurrent_appends, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
