/* Engine command lines (what --dry-run prints and real runs execute), shell quoting, and
 * the decision whether docker takes CDI names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/engine.h"
#include "runtime/shell.h"

static char *line_of(const nvb_strv *argv)
{
    return nvb_shell_join(argv->v, argv->n);
}

static void test_shell_quote(void **unused)
{
    (void)unused;
    const char *cases[][2] = {
        {"plain", "plain"},
        {"nvidia.com/gpu=0:1", "nvidia.com/gpu=0:1"},
        {"K=V,W", "K=V,W"},
        {"", "''"},
        {"two words", "'two words'"},
        {"it's", "'it'\\''s'"},
        {"$HOME", "'$HOME'"},
        {"a*b", "'a*b'"},
        {"ls /dev/nvidia*; exit 7", "'ls /dev/nvidia*; exit 7'"},
        {"tab\there", "'tab\there'"},
        {"~", "'~'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *q = nvb_shell_quote(cases[i][0]);
        assert_string_equal(q, cases[i][1]);
        free(q);
    }
    char *argv[] = {(char *)"sh", (char *)"-c", (char *)"echo hi", NULL};
    char *l = nvb_shell_join(argv, 3);
    assert_string_equal(l, "sh -c 'echo hi'");
    free(l);
}

static void test_bolt_translation_is_exact(void **unused)
{
    (void)unused;
    nvb_strv devs = {0}, env = {0}, argv = {0};
    nvb_strv_push(&devs, "nvidia.com/gpu-bolt=all");
    char *cmd[] = {(char *)"steam"};
    nvb_engine_cmd c = {.exe = "bolt", .cdi_devices = &devs, .isolation = NVB_ISOLATION_EXCLUSIVE,
                        .image = "steam:latest", .cmd = cmd, .n_cmd = 1};
    nvb_err err = {0};
    assert_int_equal(nvb_engine_argv_bolt(&c, &argv, &err), 0);
    char *l = line_of(&argv);
    assert_string_equal(l, "bolt surge run --cdi-device nvidia.com/gpu-bolt=all --capsule-isolation gpu-exclusive "
                           "--runtime-optimization gpu-passthrough steam:latest steam");
    free(l);
    nvb_strv_free(&argv);

    /* Two devices, env, no command. */
    nvb_strv_free(&devs);
    nvb_strv_push(&devs, "nvidia.com/gpu-bolt=0");
    nvb_strv_push(&devs, "nvidia.com/gpu-bolt=1");
    nvb_strv_push(&env, "A=1");
    nvb_strv_push(&env, "B=two words");
    c.env = &env;
    c.isolation = NVB_ISOLATION_VIRTUAL;
    c.n_cmd = 0;
    assert_int_equal(nvb_engine_argv_bolt(&c, &argv, &err), 0);
    l = line_of(&argv);
    assert_string_equal(l, "bolt surge run --cdi-device nvidia.com/gpu-bolt=0 --cdi-device nvidia.com/gpu-bolt=1 "
                           "--capsule-isolation gpu-virtual --runtime-optimization gpu-passthrough --env A=1 "
                           "--env 'B=two words' steam:latest");
    free(l);
    nvb_strv_free(&argv);
    nvb_strv_free(&devs);
    nvb_strv_free(&env);
}

static void test_podman_cdi_form(void **unused)
{
    (void)unused;
    nvb_strv devs = {0}, env = {0}, extra = {0}, argv = {0};
    nvb_strv_push(&devs, "nvidia.com/gpu=1");
    nvb_strv_push(&env, "NVIDIA_DRIVER_CAPABILITIES=compute,utility");
    nvb_strv_push(&extra, "--network=none");
    nvb_edits profile_files = {0};
    nvb_edits_add_mount(&profile_files, "/host/data", "/data", false);
    char *cmd[] = {(char *)"sh", (char *)"-c", (char *)"ls /dev; exit 7"};
    nvb_engine_cmd c = {.exe = "podman", .extra_args = &extra, .cdi_devices = &devs, .env = &env,
                        .edits = &profile_files, .image = "localhost/img:1", .cmd = cmd, .n_cmd = 3};
    nvb_err err = {0};
    assert_int_equal(nvb_engine_argv_cdi(&c, &argv, &err), 0);
    char *l = line_of(&argv);
    assert_string_equal(l, "podman run --rm --network=none --device nvidia.com/gpu=1 --volume /host/data:/data:ro "
                           "--env NVIDIA_DRIVER_CAPABILITIES=compute,utility -- localhost/img:1 sh -c 'ls /dev; exit 7'");
    free(l);
    nvb_strv_free(&argv);
    c.image = NULL;
    assert_int_equal(nvb_engine_argv_cdi(&c, &argv, &err), -1);
    assert_string_equal(err.msg, "no image given");
    nvb_strv_free(&argv);
    nvb_strv_free(&devs);
    nvb_strv_free(&env);
    nvb_strv_free(&extra);
    nvb_edits_clear(&profile_files);
}

/* Attack: an IMAGE such as "--privileged=true" read by the engine as its own option. */
static void test_image_taken_for_an_option_is_refused(void **unused)
{
    (void)unused;
    nvb_strv argv = {0};
    nvb_engine_cmd c = {.exe = "podman", .image = "--privileged=true"};
    nvb_err err = {0};
    int (*const forms[])(const nvb_engine_cmd *, nvb_strv *, nvb_err *) = {
        nvb_engine_argv_cdi, nvb_engine_argv_legacy, nvb_engine_argv_bolt};
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        err = (nvb_err){0};
        assert_int_equal(forms[i](&c, &argv, &err), -1);
        assert_int_equal(err.exit_code, NVB_EXIT_USAGE);
        assert_string_equal(err.msg, "image '--privileged=true' starts with '-': the engine would take it for an "
                                     "option; give the image's name");
        nvb_strv_free(&argv);
    }
    assert_int_equal(nvb_engine_check_image("-v/:/host", &err), -1);
    assert_int_equal(nvb_engine_check_image("registry/img:-1", &err), 0);
}

/* Attack: [runtime] extra_args detaching the container, leaving its GPUs unclaimed. */
static void test_detaching_extra_args(void **unused)
{
    (void)unused;
    static const char *const detach[][3] = {
        {"-d"}, {"--detach"}, {"--detach=true"}, {"--detach=1"}, {"-itd"}, {"-dit"}, {"-d=true"},
        {"--network=none", "-td"}, {"--detach=yes"},
    };
    static const char *const stay[][3] = {
        {"-it"}, {"--detach=false"}, {"--detach=0"}, {"-d=false"}, {"--detach-keys=ctrl-d"},
        {"-e", "-d"}, {"-edebug=1"}, {"-v/data:/data"}, {"-it", "-w", "/d"}, {"--name", "d"},
    };
    for (size_t i = 0; i < sizeof detach / sizeof detach[0]; i++) {
        nvb_strv v = {0};
        for (size_t j = 0; j < 3 && detach[i][j]; j++)
            nvb_strv_push(&v, detach[i][j]);
        if (!nvb_engine_detach_arg(&v))
            fail_msg("not seen as detaching: %s %s", detach[i][0], detach[i][1] ? detach[i][1] : "");
        nvb_strv_free(&v);
    }
    for (size_t i = 0; i < sizeof stay / sizeof stay[0]; i++) {
        nvb_strv v = {0};
        for (size_t j = 0; j < 3 && stay[i][j]; j++)
            nvb_strv_push(&v, stay[i][j]);
        if (nvb_engine_detach_arg(&v))
            fail_msg("seen as detaching: %s %s", stay[i][0], stay[i][1] ? stay[i][1] : "");
        nvb_strv_free(&v);
    }
    assert_null(nvb_engine_detach_arg(NULL));
}

static void test_docker_legacy_form(void **unused)
{
    (void)unused;
    nvb_edits e = {0};
    nvb_devnode n1 = {.path = (char *)"/dev/nvidia1", .host_path = (char *)"/dev/nvidia1", .type = 'c', .major = 195, .minor = 1};
    nvb_devnode n2 = {.path = (char *)"/dev/nvidiactl", .host_path = (char *)"/r/dev/nvidiactl", .type = 'c', .major = 195, .minor = 255};
    nvb_edits_add_node(&e, &n1);
    nvb_edits_add_node(&e, &n2);
    nvb_edits_add_mount(&e, "/usr/lib/libcuda.so.1", "/usr/lib/libcuda.so.1", false);
    nvb_edits_add_mount(&e, "/run/nvidia-persistenced/socket", "/run/nvidia-persistenced/socket", true);
    nvb_edits_setenv(&e, "NVIDIA_VISIBLE_DEVICES", "void");
    nvb_edits_setenv(&e, "K", "from-edits");
    nvb_strv env = {0}, argv = {0};
    nvb_strv_push(&env, "K=from-profile");
    nvb_engine_cmd c = {.exe = "docker", .env = &env, .edits = &e, .image = "img"};
    nvb_err err = {0};
    assert_int_equal(nvb_engine_argv_legacy(&c, &argv, &err), 0);
    char *l = line_of(&argv);
    /* One --env per key: the container env wins over the edits'. */
    assert_string_equal(l, "docker run --rm --device /dev/nvidia1 --device /r/dev/nvidiactl:/dev/nvidiactl "
                           "--volume /usr/lib/libcuda.so.1:/usr/lib/libcuda.so.1:ro "
                           "--volume /run/nvidia-persistenced/socket:/run/nvidia-persistenced/socket "
                           "--env NVIDIA_VISIBLE_DEVICES=void --env K=from-profile -- img");
    free(l);
    nvb_strv_free(&argv);
    /* A path docker's --volume syntax cannot carry. */
    nvb_edits_add_mount(&e, "/odd:path", "/odd", false);
    assert_int_equal(nvb_engine_argv_legacy(&c, &argv, &err), -1);
    assert_string_equal(err.msg, "cannot pass /odd:path to the engine as a --volume: its path holds ':' or ','");
    nvb_strv_free(&argv);
    nvb_strv_free(&env);
    nvb_edits_clear(&e);
}

static void test_engine_names(void **unused)
{
    (void)unused;
    enum nvb_engine e;
    const char *names[] = {"podman", "docker", "bolt", "runc", "crun"};
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(nvb_engine_parse(names[i], &e), 0);
        assert_string_equal(nvb_engine_name(e), names[i]);
        assert_int_equal(nvb_engine_is_oci(e), i >= 3);
    }
    assert_int_equal(nvb_engine_parse("lxc", &e), -1);
    assert_int_equal(nvb_engine_parse("", &e), -1);
}

static void test_docker_majors(void **unused)
{
    (void)unused;
    int c, v;
    /* Debian's 20.10 client against its own daemon, as `docker version --format '{{json .}}'` says. */
    assert_int_equal(nvb_docker_majors("{\"Client\":{\"Version\":\"20.10.24+dfsg1\",\"ApiVersion\":\"1.41\"},"
                                       "\"Server\":{\"Version\":\"20.10.24+dfsg1\"}}\n", &c, &v), 0);
    assert_int_equal(c, 20);
    assert_int_equal(v, 20);
    /* A newer client against an older daemon. */
    assert_int_equal(nvb_docker_majors("{\"Client\":{\"Version\":\"28.2.2\"},\"Server\":{\"Version\":\"20.10.24\"}}", &c, &v),
                     0);
    assert_int_equal(c, 28);
    assert_int_equal(v, 20);
    /* No daemon: Server is null. */
    assert_int_equal(nvb_docker_majors("{\"Client\":{\"Version\":\"28.2.2\"},\"Server\":null}", &c, &v), -1);
    assert_int_equal(v, 0);
    assert_int_equal(nvb_docker_majors("abc", &c, &v), -1);
    assert_int_equal(nvb_docker_majors(NULL, &c, &v), -1);
}

static void test_docker_cdi_decision(void **unused)
{
    (void)unused;
    char why[512];
    /* 28 with CDI on (default since 28.2): the folders are listed. */
    assert_int_equal(nvb_docker_cdi_decide(28, 28, "{\"ServerVersion\":\"28.2.2\",\"CDISpecDirs\":[\"/etc/cdi\",\"/var/run/cdi\"]}\n",
                                           "/var/run/cdi", NULL, why, sizeof why), 1);
    assert_string_equal(why, "docker 28 with CDI on: CDI device names");
    /* /run and /var/run are the same folder. */
    assert_int_equal(nvb_docker_cdi_decide(27, 27, "{\"CDISpecDirs\":[\"/etc/cdi\",\"/run/cdi\"]}", "/var/run/cdi", NULL,
                                           why, sizeof why), 1);
    /* CDI off: an empty list. */
    assert_int_equal(nvb_docker_cdi_decide(27, 27, "{\"CDISpecDirs\":[]}", "/var/run/cdi", NULL, why, sizeof why), 0);
    assert_non_null(strstr(why, "CDI is off in docker 27"));
    /* Our folder not among docker's. */
    assert_int_equal(nvb_docker_cdi_decide(28, 28, "{\"CDISpecDirs\":[\"/etc/cdi\"]}", "/var/run/cdi", NULL, why, sizeof why),
                     0);
    assert_non_null(strstr(why, "do not include /var/run/cdi"));
    /* Server too old (the info probe is not even run). */
    assert_int_equal(nvb_docker_cdi_decide(28, 24, NULL, "/var/run/cdi", NULL, why, sizeof why), 0);
    assert_string_equal(why, "docker 24 predates CDI support (25): using explicit --device/--volume flags");
    /* Client too old for CDI names, whatever the daemon says. */
    assert_int_equal(nvb_docker_cdi_decide(20, 28, "{\"CDISpecDirs\":[\"/var/run/cdi\"]}", "/var/run/cdi", NULL, why,
                                           sizeof why), 0);
    assert_non_null(strstr(why, "the docker client 20 predates CDI device names"));
    /* 25/26 report no folders: daemon.json decides. */
    assert_int_equal(nvb_docker_cdi_decide(26, 26, "{\"ServerVersion\":\"26.1.4\"}", "/var/run/cdi",
                                           "{\"features\":{\"cdi\":true}}", why, sizeof why), 1);
    assert_int_equal(nvb_docker_cdi_decide(25, 25, "{}", "/var/run/cdi", "{\"features\":{\"cdi\":false}}", why, sizeof why),
                     0);
    assert_int_equal(nvb_docker_cdi_decide(25, 25, "{\"CDISpecDirs\":null}", "/var/run/cdi", NULL, why, sizeof why), 0);
    assert_int_equal(nvb_docker_cdi_decide(26, 26, "{}", "/opt/cdi", "{\"features\":{\"cdi\":true}}", why, sizeof why), 0);
    /* Nonsense from the probes. */
    assert_int_equal(nvb_docker_cdi_decide(0, 0, NULL, "/var/run/cdi", NULL, why, sizeof why), 0);
    assert_non_null(strstr(why, "did not report"));
    assert_int_equal(nvb_docker_cdi_decide(28, 28, "not json", "/var/run/cdi", NULL, why, sizeof why), 0);
}

/* docker info's Runtimes: nvbind's shim is found by its path's last component (or a wrapper's,
 * nvbind-runtime-SUFFIX), under whatever name daemon.json gives it; a runtime merely named
 * "nvbind" that runs runc is not the shim. */
static void test_docker_shim_runtime(void **unused)
{
    (void)unused;
    char name[64] = "";
    assert_int_equal(nvb_docker_shim_runtime("{\"Runtimes\":{\"io.containerd.runc.v2\":{\"path\":\"runc\"},"
                                             "\"nvbind\":{\"path\":\"/usr/bin/nvbind-runtime\"},"
                                             "\"runc\":{\"path\":\"runc\"}},\"ServerVersion\":\"20.10.24\"}",
                                             name, sizeof name),
                     1);
    assert_string_equal(name, "nvbind");
    assert_int_equal(nvb_docker_shim_runtime("{\"Runtimes\":{\"gpu-b\":{\"path\":\"nvbind-runtime\"},"
                                             "\"gpu-a\":{\"path\":\"/opt/nvbind-runtime\",\"status\":{}}}}",
                                             name, sizeof name),
                     1);
    assert_string_equal(name, "gpu-a");
    assert_int_equal(nvb_docker_shim_runtime("{\"Runtimes\":{\"nvbind\":{\"path\":\"/usr/bin/runc\"},"
                                             "\"x\":{\"path\":\"/usr/local/bin/nvbind-runtime-docker\"}}}",
                                             name, sizeof name),
                     1);
    assert_string_equal(name, "x");
    assert_int_equal(nvb_docker_shim_runtime("{\"Runtimes\":{\"nvbind\":{\"path\":\"/usr/bin/runc\"},"
                                             "\"y\":{\"path\":\"/opt/nvbind-runtimes/runc\"},"
                                             "\"z\":{\"path\":\"/opt/nvbind-runtimex\"}}}",
                                             name, sizeof name),
                     0);
    assert_int_equal(nvb_docker_shim_runtime("{}", name, sizeof name), 0);
    assert_int_equal(nvb_docker_shim_runtime("not json", name, sizeof name), 0);
    assert_int_equal(nvb_docker_shim_runtime(NULL, name, sizeof name), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shell_quote),
        cmocka_unit_test(test_bolt_translation_is_exact),
        cmocka_unit_test(test_podman_cdi_form),
        cmocka_unit_test(test_docker_legacy_form),
        cmocka_unit_test(test_image_taken_for_an_option_is_refused),
        cmocka_unit_test(test_detaching_extra_args),
        cmocka_unit_test(test_engine_names),
        cmocka_unit_test(test_docker_majors), cmocka_unit_test(test_docker_cdi_decision),
        cmocka_unit_test(test_docker_shim_runtime),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
