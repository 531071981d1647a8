/* Grant/deny counts of the audit log, read incrementally: appended lines are counted once, a
 * line being written is left for the next update, a rotated or truncated log starts again,
 * a missing one is zero. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <unistd.h>

#include "../common/test_util.h"
#include "isolation/audit.h"
#include "metrics/audit_count.h"

static void append(const char *log, bool grant, const char *container)
{
    nvb_audit_event ev = {.container = container, .runtime = "runc", .grant = grant, .reason = "test"};
    nvb_err err = {0};
    assert_int_equal(nvb_audit_append(log, &ev, &err), 0);
}

static void append_raw(const char *log, const char *text)
{
    FILE *f = fopen(log, "a");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_counts(void **state)
{
    char *dir = t_mkdtemp_in(NULL, "nvbind-metrics-test");
    char *log = t_printf("%s/audit.log", dir);
    nvb_audit_counts c = {0};
    nvb_err err = {0};
    assert_int_equal(nvb_audit_counts_update(&c, log, &err), 0);
    assert_false(c.present);
    append(log, true, "a");
    append(log, false, "b");
    append(log, true, "c");
    assert_int_equal(nvb_audit_counts_update(&c, log, &err), 0);
    assert_int_equal(c.grants, 2);
    assert_int_equal(c.denials, 1);
    /* Nothing new: the same counts, nothing counted twice. */
    assert_int_equal(nvb_audit_counts_update(&c, log, &err), 0);
    assert_int_equal(c.grants, 2);
    /* Half a line (a writer in the middle of its write) waits for its end. */
    append_raw(log, "{\"time\":\"2026-01-01T00:00:00.000Z\",\"uid\":0,\"pid\":1,\"container\":\"d\",\"runtime\":null,"
                    "\"devices\":[],\"profile\":null,\"isolation\":null,");
    assert_int_equal(nvb_audit_counts_update(&c, log, &err), 0);
    assert_int_equal(c.denials, 1);
    append_raw(log, "\"decision\":\"deny\",\"reason\":\"x\"}\n");
    assert_int_equal(nvb_audit_counts_update(&c, log, &err), 0);
    assert_int_equal(c.denials, 2);
    /* A damaged line is counted as such, not as a decision. */
    append_raw(log, "not json\n");
    assert_int_equal(nvb_audit_counts_update(&c, log, &err), 0);
    assert_int_equal(c.bad_lines, 1);
    assert_int_equal(c.grants + c.denials, 4);
    /* Rotation: a new file starts the counts again. */
    char *old = t_printf("%s.1", log);
    assert_int_equal(rename(log, old), 0);
    append(log, false, "e");
    assert_int_equal(nvb_audit_counts_update(&c, log, &err), 0);
    assert_int_equal(c.grants, 0);
    assert_int_equal(c.denials, 1);
    /* Truncation too. */
    assert_int_equal(truncate(log, 0), 0);
    append(log, true, "f");
    append(log, true, "g");
    assert_int_equal(nvb_audit_counts_update(&c, log, &err), 0);
    assert_int_equal(c.grants, 2);
    assert_int_equal(c.denials, 0);
    t_rm_rf(dir);
    free(old);
    free(log);
    free(dir);
}

static void test_not_a_file(void **state)
{
    char *dir = t_mkdtemp_in(NULL, "nvbind-metrics-test");
    char *fifo = t_printf("%s/fifo", dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    nvb_audit_counts c = {0};
    nvb_err err = {0};
    assert_int_equal(nvb_audit_counts_update(&c, fifo, &err), -1);
    assert_non_null(strstr(err.msg, fifo));
    t_rm_rf(dir);
    free(fifo);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_counts), cmocka_unit_test(test_not_a_file)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
