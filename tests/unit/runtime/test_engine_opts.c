/* The engines' run options nvbind run passes through (runtime/engine_opts.h): which would undo
 * the GPUs' isolation, what [security] allow_run_options lets through, and their runc/crun
 * translation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/engine.h"
#include "runtime/engine_opts.h"

static int check(const char *arg, const char *allow, nvb_err *err)
{
    nvb_config cfg;
    nvb_config_init(&cfg);
    if (allow)
        nvb_strv_push(&cfg.security.allow_run_options, allow);
    nvb_strv args = {0};
    nvb_strv_push(&args, arg);
    *err = (nvb_err){0};
    int r = nvb_engine_opts_check(&args, &cfg, err);
    nvb_strv_free(&args);
    nvb_config_clear(&cfg);
    return r;
}

static void test_attack_options_refused_unless_allowed(void **unused)
{
    (void)unused;
    static const char *const refused[] = {
        "--privileged", "--cap-add=SYS_ADMIN", "--device=/dev/nvidia1", "--device=/dev/dri/renderD129:/dev/dri/x",
        "--device=nvidia.com/gpu=all", "--device-cgroup-rule=c 195:* rwm", "--gpus=all", "--runtime=nvidia",
        "--hooks-dir=/tmp/h", "--security-opt=seccomp=unconfined", "--volume=/dev:/dev", "--volume=/:/host",
        "--volume=/run:/run", "--mount=type=bind,src=/dev/nvidia0,dst=/x", "--annotation=nvbind.gpus=all",
        "--annotation=cdi.k8s.io/x=nvidia.com/gpu=1",
    };
    nvb_err err;
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        assert_int_equal(check(refused[i], NULL, &err), -1);
        assert_int_equal(err.exit_code, NVB_EXIT_USAGE);
        assert_non_null(strstr(err.msg, "allow_run_options"));
        /* Allowed by name, the same option passes. */
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)strcspn(refused[i], "="), refused[i]);
        assert_int_equal(check(refused[i], name, &err), 0);
    }
}

static void test_harmless_options_pass(void **unused)
{
    (void)unused;
    static const char *const ok[] = {"--privileged=false", "--cap-drop=ALL", "--device=/dev/fuse",
                                     "--security-opt=no-new-privileges", "--volume=/srv/data:/data:ro",
                                     "--volume=named:/data", "--mount=type=tmpfs,dst=/t", "--annotation=a=b",
                                     "--ipc=host", "--shm-size=1g", "--interactive", "--tty", "--name=x"};
    nvb_err err;
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        assert_int_equal(check(ok[i], NULL, &err), 0);
}

/* --detach is judged by nvb_run (refused unless nvbind-runtime holds the claims): the check
 * lets it through, and nvb_engine_detach_arg finds it, whatever its spelling. */
static void test_detach_is_found_not_checked(void **unused)
{
    (void)unused;
    nvb_err err;
    assert_int_equal(check("--detach", NULL, &err), 0);
    char *on[] = {(char *)"--tty", (char *)"--detach"}, *off[] = {(char *)"--detach=false"};
    nvb_strv v_on = {.v = on, .n = 2}, v_off = {.v = off, .n = 1};
    assert_non_null(nvb_engine_detach_arg(&v_on));
    assert_null(nvb_engine_detach_arg(&v_off));
}

static void test_short_letters_and_values(void **unused)
{
    (void)unused;
    assert_string_equal(nvb_engine_opt_short('v')->name, "volume");
    assert_true(nvb_engine_opt_short('v')->takes_value);
    assert_false(nvb_engine_opt_short('t')->takes_value);
    assert_null(nvb_engine_opt_short('e')); /* nvbind's own --env */
    assert_null(nvb_engine_opt_short('h')); /* nvbind's own --help, not docker's --hostname */
    assert_non_null(nvb_engine_opt_long("shm-size=1g", 8));
}

static void test_runc_translation(void **unused)
{
    (void)unused;
    char dir[] = "/tmp/nvbind-eopt-XXXXXX";
    assert_non_null(mkdtemp(dir));
    nvb_strv args = {0};
    char vol[128];
    snprintf(vol, sizeof vol, "--volume=%s:/data:ro", dir);
    const char *const in[] = {vol, "--user=1000:2000", "--workdir=/data", "--tty", "--interactive", "--rm",
                              "--hostname=box", "--name=c1", "--entrypoint=/bin/sh"};
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++)
        nvb_strv_push(&args, in[i]);
    nvb_engine_oci o = {0};
    nvb_edits mounts = {0};
    nvb_err err = {0};
    assert_int_equal(nvb_engine_opts_oci(&args, "runc", &o, &mounts, &err), 0);
    assert_true(o.has_user);
    assert_int_equal(o.uid, 1000);
    assert_int_equal(o.gid, 2000);
    assert_string_equal(o.cwd, "/data");
    assert_true(o.terminal);
    assert_string_equal(o.hostname, "box");
    assert_string_equal(o.name, "c1");
    assert_int_equal(o.entrypoint.n, 1);
    assert_int_equal(mounts.n_mounts, 1);
    assert_string_equal(mounts.mounts[0].host_path, dir);
    assert_string_equal(mounts.mounts[0].container_path, "/data");
    assert_false(mounts.mounts[0].writable);
    nvb_engine_oci_clear(&o);
    nvb_edits_clear(&mounts);
    nvb_strv_free(&args);
    rmdir(dir);

    /* What has no meaning without an engine is refused, naming the option. */
    static const char *const bad[] = {"--publish=80:80", "--user=games", "--volume=named:/x", "--workdir=rel",
                                      "--volume=/nonexistent-nvbind:/x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        nvb_strv one = {0};
        nvb_strv_push(&one, bad[i]);
        err = (nvb_err){0};
        assert_int_equal(nvb_engine_opts_oci(&one, "runc", &o, &mounts, &err), -1);
        assert_int_equal(err.exit_code, NVB_EXIT_USAGE);
        assert_non_null(strstr(err.msg, "--"));
        nvb_engine_oci_clear(&o);
        nvb_edits_clear(&mounts);
        nvb_strv_free(&one);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_attack_options_refused_unless_allowed),
        cmocka_unit_test(test_harmless_options_pass),
        cmocka_unit_test(test_detach_is_found_not_checked),
        cmocka_unit_test(test_short_letters_and_values),
        cmocka_unit_test(test_runc_translation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
