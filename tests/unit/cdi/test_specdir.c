/* Spec directories as the engines scan them: which files count, their devices and problems,
 * and conflicts between files (later directory wins, same directory makes a device unusable). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cdi/cdi.h"

static char root[] = "/tmp/nvb-cdi-dirs-XXXXXX";
static char etc[600], run[600];

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static const char *spec(const char *names, char *buf, size_t len)
{
    /* names: "0,1" -> devices 0 and 1 of kind v.com/gpu */
    char devs[1024] = "";
    char copy[256];
    snprintf(copy, sizeof copy, "%s", names);
    for (char *save = NULL, *n = strtok_r(copy, ",", &save); n; n = strtok_r(NULL, ",", &save)) {
        char one[256];
        snprintf(one, sizeof one, "%s{\"name\": \"%s\", \"containerEdits\": {\"env\": [\"D=%s\"]}}", devs[0] ? "," : "",
                 n, n);
        strncat(devs, one, sizeof devs - strlen(devs) - 1);
    }
    snprintf(buf, len, "{\"cdiVersion\": \"0.5.0\", \"kind\": \"v.com/gpu\", \"devices\": [%s]}", devs);
    return buf;
}

static int setup(void **state)
{
    (void)state;
    if (!mkdtemp(root))
        return -1;
    snprintf(etc, sizeof etc, "%s/etc-cdi", root);
    snprintf(run, sizeof run, "%s/run-cdi", root);
    mkdir(etc, 0755);
    mkdir(run, 0755);
    char buf[2048];
    write_file(etc, "a.json", spec("0,1", buf, sizeof buf));
    write_file(etc, "b.yaml", "cdiVersion: \"0.5.0\"\nkind: v.com/gpu\ndevices:\n  - name: 1\n    containerEdits:\n"
                              "      env: [\"D=1b\"]\n");
    write_file(run, "c.json", spec("0,2", buf, sizeof buf));
    write_file(run, "bad.json", "{\"cdiVersion\": \"0.5.0\",\n \"kind\": }\n");
    write_file(run, "invalid.yaml", "cdiVersion: 0.5.0\nkind: v.com/gpu\ndevices:\n- name: 2\n  containerEdits: {}\n");
    write_file(run, "other.yml", spec("2", buf, sizeof buf));
    write_file(run, "notes.txt", "not a spec");
    char sub[700];
    snprintf(sub, sizeof sub, "%s/sub.json", run);
    mkdir(sub, 0755);
    write_file(sub, "inner.json", spec("9", buf, sizeof buf));
    char fifo[700];
    snprintf(fifo, sizeof fifo, "%s/pipe.json", run);
    mkfifo(fifo, 0644);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    return system(cmd) == 0 ? 0 : -1;
}

static const nvb_cdi_spec_file *file_named(const nvb_cdi_listing *l, const char *suffix)
{
    for (size_t i = 0; i < l->n; i++)
        if (nvb_endswith(l->files[i].path, suffix))
            return &l->files[i];
    fail_msg("%s not listed", suffix);
    abort(); /* fail_msg does not return, but cmocka does not declare it noreturn (gcc -O3 -Wnull-dereference) */
}

static bool has_line(const nvb_strv *v, const char *part)
{
    for (size_t i = 0; i < v->n; i++)
        if (strstr(v->v[i], part))
            return true;
    return false;
}

static void lists_spec_files_in_engine_order(void **state)
{
    (void)state;
    const char *dirs[] = {etc, run};
    nvb_cdi_listing l;
    nvb_err err = {0};
    assert_int_equal(nvb_cdi_list(dirs, 2, &l, &err), 0);
    const char *order[] = {"etc-cdi/a.json", "etc-cdi/b.yaml", "run-cdi/bad.json", "run-cdi/c.json",
                           "run-cdi/invalid.yaml", "run-cdi/other.yml", "run-cdi/pipe.json"};
    assert_int_equal(l.n, sizeof order / sizeof order[0]); /* no notes.txt, no sub.json directory */
    for (size_t i = 0; i < l.n; i++)
        if (!nvb_endswith(l.files[i].path, order[i]))
            fail_msg("file %zu is %s, expected %s", i, l.files[i].path, order[i]);

    const nvb_cdi_spec_file *a = file_named(&l, "a.json");
    assert_true(a->valid);
    assert_string_equal(a->kind, "v.com/gpu");
    assert_string_equal(a->cdi_version, "0.5.0");
    assert_int_equal(a->dir_index, 0);
    assert_int_equal(a->devices.n, 2);
    assert_string_equal(a->devices.v[0], "v.com/gpu=0");
    assert_string_equal(a->devices.v[1], "v.com/gpu=1");
    assert_int_equal(a->problems.n, 0);

    const nvb_cdi_spec_file *bad = file_named(&l, "bad.json");
    assert_false(bad->valid);
    assert_null(bad->kind);
    assert_int_equal(bad->devices.n, 0);
    assert_int_equal(bad->problems.n, 1);
    assert_non_null(strstr(bad->problems.v[0], "run-cdi/bad.json:2:"));

    const nvb_cdi_spec_file *inv = file_named(&l, "invalid.yaml");
    assert_false(inv->valid);
    assert_int_equal(inv->devices.n, 1); /* still listed, so the user sees what it meant */
    assert_true(has_line(&inv->problems, "devices[0].containerEdits: a device needs at least one edit"));
    assert_int_equal(inv->conflicts.n, 0); /* engines drop an invalid spec: it takes no part */

    const nvb_cdi_spec_file *yml = file_named(&l, "other.yml");
    assert_true(yml->valid);
    assert_true(yml->ignored_by_engines);
    assert_int_equal(yml->conflicts.n, 0);

    const nvb_cdi_spec_file *pipe = file_named(&l, "pipe.json");
    assert_false(pipe->valid);
    assert_true(has_line(&pipe->problems, "not a regular file"));
    assert_int_equal(l.dir_errors.n, 0);
    nvb_cdi_listing_free(&l);
}

static void conflicts_follow_engine_rules(void **state)
{
    (void)state;
    const char *dirs[] = {etc, run};
    nvb_cdi_listing l;
    assert_int_equal(nvb_cdi_list(dirs, 2, &l, NULL), 0);
    const nvb_cdi_spec_file *a = file_named(&l, "a.json"), *b = file_named(&l, "b.yaml"),
                            *c = file_named(&l, "c.json");
    /* 0: in etc (a.json) and run (c.json): the later directory wins */
    assert_true(has_line(&a->conflicts, "v.com/gpu=0: overridden by "));
    assert_true(has_line(&a->conflicts, "run-cdi/c.json (a later directory wins)"));
    assert_true(has_line(&c->conflicts, "v.com/gpu=0: overrides "));
    assert_true(has_line(&c->conflicts, "etc-cdi/a.json (a later directory wins)"));
    /* 1: twice in etc: unusable, both files told */
    assert_true(has_line(&a->conflicts, "v.com/gpu=1: also declared by "));
    assert_true(has_line(&a->conflicts, "etc-cdi/b.yaml in the same directory"));
    assert_true(has_line(&b->conflicts, "etc-cdi/a.json in the same directory"));
    assert_int_equal(a->conflicts.n, 2);
    assert_int_equal(b->conflicts.n, 1);
    /* 2: c.json only (invalid.yaml is dropped, other.yml is not read by engines) */
    assert_int_equal(c->conflicts.n, 1);
    nvb_cdi_listing_free(&l);

    /* the directory order decides: reversed, a.json now wins 0 */
    const char *rev[] = {run, etc};
    assert_int_equal(nvb_cdi_list(rev, 2, &l, NULL), 0);
    assert_true(has_line(&file_named(&l, "a.json")->conflicts, "v.com/gpu=0: overrides "));
    nvb_cdi_listing_free(&l);
}

static void same_directory_conflict_wins_over_a_later_directory(void **state)
{
    (void)state;
    char d3[700], buf[2048];
    snprintf(d3, sizeof d3, "%s/third", root);
    mkdir(d3, 0755);
    write_file(d3, "z.json", spec("1", buf, sizeof buf));
    const char *dirs[] = {etc, run, d3};
    nvb_cdi_listing l;
    assert_int_equal(nvb_cdi_list(dirs, 3, &l, NULL), 0);
    /* "1" is declared twice in etc, so engines refuse it even though third/ declares it too */
    assert_true(has_line(&file_named(&l, "z.json")->conflicts, "v.com/gpu=1: unusable"));
    nvb_cdi_listing_free(&l);
}

static void missing_and_broken_directories(void **state)
{
    (void)state;
    char missing[700], notdir[700];
    snprintf(missing, sizeof missing, "%s/does-not-exist", root);
    snprintf(notdir, sizeof notdir, "%s/notes.txt", run);
    const char *dirs[] = {missing, notdir};
    nvb_cdi_listing l;
    nvb_err err = {0};
    assert_int_equal(nvb_cdi_list(dirs, 2, &l, &err), 0);
    assert_int_equal(l.n, 0);
    assert_int_equal(l.dir_errors.n, 1); /* a missing directory is normal; a file in its place is not */
    assert_non_null(strstr(l.dir_errors.v[0], "notes.txt"));
    assert_non_null(strstr(l.dir_errors.v[0], "Not a directory"));
    nvb_cdi_listing_free(&l);

    /* the default directories: whatever is there, the call works and frees cleanly */
    assert_int_equal(nvb_cdi_list(NULL, 0, &l, &err), 0);
    nvb_cdi_listing_free(&l);
    assert_string_equal(nvb_cdi_default_dirs[0], "/etc/cdi");
    assert_string_equal(nvb_cdi_default_dirs[1], "/var/run/cdi");
    assert_int_equal(nvb_cdi_default_dirs_n, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(lists_spec_files_in_engine_order),
        cmocka_unit_test(conflicts_follow_engine_rules),
        cmocka_unit_test(same_directory_conflict_wins_over_a_later_directory),
        cmocka_unit_test(missing_and_broken_directories),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
