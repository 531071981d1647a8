/* nvbind runtime configure's formatters, as pure functions of the old file: what each one
 * changes, what it keeps byte for byte, what it refuses, and that a second pass is a no-op. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/configure.h"

static const nvb_configure_opts base = {.runtime_path = "/usr/bin/nvbind-runtime"};

typedef char *(*formatter)(const char *, size_t, const char *, const nvb_configure_opts *, nvb_err *);

static char *fmt_ok(formatter f, const char *old, const nvb_configure_opts *o)
{
    nvb_err err = {0};
    char *text = f(old, old ? strlen(old) : 0, "f.toml", o, &err);
    if (!text)
        fail_msg("refused: %s", err.msg);
    /* Idempotent: the result run again gives itself. */
    char *again = f(text, strlen(text), "f.toml", o, &err);
    assert_non_null(again);
    assert_string_equal(again, text);
    free(again);
    return text;
}

static void fmt_refused(formatter f, const char *old, const nvb_configure_opts *o, const char *msg)
{
    nvb_err err = {0};
    char *text = f(old, strlen(old), "f.toml", o, &err);
    if (text)
        fail_msg("accepted, gave:\n%s", text);
    assert_int_equal(err.exit_code, NVB_EXIT_CONFIG);
    assert_string_equal(err.msg, msg);
}

static void test_containerd_value_replaced_in_place(void **state)
{
    (void)state;
    nvb_configure_opts o = base;
    o.set_as_default = true;
    /* Comments, odd spacing, a non-ASCII value before it and a table after all stay. */
    const char *old = "version = 2 # v2\n"
                       "[plugins.\"io.containerd.grpc.v1.cri\".containerd]\n"
                       "  snapshotter = \"\xc3\xa9t\xc3\xa9\"\n"
                       "  default_runtime_name =   'runc'  # keep\n"
                       "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]\n"
                       "  runtime_type = \"io.containerd.runc.v2\"\n";
    char *text = fmt_ok(nvb_conf_containerd, old, &o);
    assert_string_equal(text, "version = 2 # v2\n"
                              "[plugins.\"io.containerd.grpc.v1.cri\".containerd]\n"
                              "  snapshotter = \"\xc3\xa9t\xc3\xa9\"\n"
                              "  default_runtime_name =   \"nvbind\"  # keep\n"
                              "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]\n"
                              "  runtime_type = \"io.containerd.runc.v2\"\n"
                              "\n"
                              "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.nvbind]\n"
                              "  runtime_type = \"io.containerd.runc.v2\"\n"
                              "\n"
                              "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.nvbind.options]\n"
                              "  BinaryName = \"/usr/bin/nvbind-runtime\"\n");
    free(text);
}

static void test_containerd_key_added_under_header(void **state)
{
    (void)state;
    nvb_configure_opts o = base;
    o.enable_cdi = true;
    const char *old = "version = 2\n"
                      "[plugins.\"io.containerd.grpc.v1.cri\"] # cri\n"
                      "  sandbox_image = \"pause\"\n"
                      "  enable_cdi = false\n";
    char *text = fmt_ok(nvb_conf_containerd, old, &o);
    assert_non_null(strstr(text, "[plugins.\"io.containerd.grpc.v1.cri\"] # cri\n"
                                 "  cdi_spec_dirs = [\"/etc/cdi\", \"/var/run/cdi\"]\n"
                                 "  sandbox_image = \"pause\"\n"
                                 "  enable_cdi = true\n"));
    free(text);
    /* The user's own spec folders are theirs. */
    const char *dirs = "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\"]\n  cdi_spec_dirs = [\"/x\"]\n";
    text = fmt_ok(nvb_conf_containerd, dirs, &o);
    assert_non_null(strstr(text, "  enable_cdi = true\n  cdi_spec_dirs = [\"/x\"]\n"));
    assert_null(strstr(text, "/etc/cdi"));
    free(text);
}

static void test_containerd_own_table_keys_kept(void **state)
{
    (void)state;
    /* nvbind's old table, with a key of the user's: runtime_type is set in place, the user's
     * key stays (without privileged_without_host_devices a privileged pod gets every host
     * device), the next table's comment stays where it is. */
    const char *old = "version = 2\n"
                      "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.nvbind]\n"
                      "  runtime_type = \"io.containerd.runc.v1\"\n"
                      "  privileged_without_host_devices = true\n"
                      "\n"
                      "# runc below\n"
                      "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]\n"
                      "  runtime_type = \"io.containerd.runc.v2\"\n"
                      "  # the end\n";
    char *text = fmt_ok(nvb_conf_containerd, old, &base);
    assert_string_equal(text, "version = 2\n"
                              "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.nvbind]\n"
                              "  runtime_type = \"io.containerd.runc.v2\"\n"
                              "  privileged_without_host_devices = true\n"
                              "\n"
                              "# runc below\n"
                              "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]\n"
                              "  runtime_type = \"io.containerd.runc.v2\"\n"
                              "  # the end\n"
                              "\n"
                              "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.nvbind.options]\n"
                              "  BinaryName = \"/usr/bin/nvbind-runtime\"\n");
    free(text);
}

static void test_containerd_runc_options_copied(void **state)
{
    (void)state;
    /* A kubeadm node on the systemd cgroup driver: nvbind's runtime gets runc's options
     * (SystemdCgroup above all), except its binary; its own say of an option wins. */
    const char *old = "version = 2\n"
                      "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc.options]\n"
                      "  SystemdCgroup = true\n"
                      "  BinaryName = \"/usr/local/bin/runc\"\n"
                      "  Root = \"/run/x\"\n"
                      "  IoUid = 7\n"
                      "  Weird = [1, 2]\n"
                      "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.nvbind.options]\n"
                      "  Root = \"/run/mine\"\n";
    char *text = fmt_ok(nvb_conf_containerd, old, &base);
    assert_non_null(strstr(text, "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.nvbind.options]\n"
                                 "  BinaryName = \"/usr/bin/nvbind-runtime\"\n"
                                 "  SystemdCgroup = true\n"
                                 "  IoUid = 7\n"
                                 "  Root = \"/run/mine\"\n"));
    assert_null(strstr(text, "Weird = [1, 2]\n  Weird"));
    free(text);
    /* Registered under runc's own name, nothing is copied onto itself. */
    nvb_configure_opts o = base;
    o.runtime_name = "runc";
    text = fmt_ok(nvb_conf_containerd, old, &o);
    assert_non_null(strstr(text, "  BinaryName = \"/usr/bin/nvbind-runtime\"\n"));
    free(text);
}

static void test_containerd_version3_and_new_file(void **state)
{
    (void)state;
    nvb_configure_opts o = base;
    o.set_as_default = true;
    o.runtime_path = "/opt/a \"b\"\\c";
    char *text = fmt_ok(nvb_conf_containerd, "version = 3\n", &o);
    assert_string_equal(text, "version = 3\n"
                              "\n"
                              "[plugins.\"io.containerd.cri.v1.runtime\".containerd]\n"
                              "  default_runtime_name = \"nvbind\"\n"
                              "\n"
                              "[plugins.\"io.containerd.cri.v1.runtime\".containerd.runtimes.nvbind]\n"
                              "  runtime_type = \"io.containerd.runc.v2\"\n"
                              "\n"
                              "[plugins.\"io.containerd.cri.v1.runtime\".containerd.runtimes.nvbind.options]\n"
                              "  BinaryName = \"/opt/a \\\"b\\\"\\\\c\"\n");
    free(text);
    text = fmt_ok(nvb_conf_containerd, NULL, &base);
    const char *start = "version = 2\n\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.nvbind]\n";
    assert_int_equal(strncmp(text, start, strlen(start)), 0);
    free(text);
}

static void test_containerd_refusals(void **state)
{
    (void)state;
    nvb_configure_opts o = base;
    o.set_as_default = true;
    fmt_refused(nvb_conf_containerd, "root = \"/x\"\n", &o,
                "f.toml: no `version = 2` or `version = 3`: containerd reads it as the version 1 layout, which nvbind "
                "does not edit (convert it with `containerd config migrate`)");
    fmt_refused(nvb_conf_containerd, "version = 2\n[plugins]\n\"io.containerd.grpc.v1.cri\".containerd = { snapshotter = \"x\" }\n",
                &o, "f.toml:3:42: table plugins.\"io.containerd.grpc.v1.cri\".containerd is an inline table; nvbind "
                    "adds keys only under a [header]: add default_runtime_name = \"nvbind\" by hand");
    fmt_refused(nvb_conf_containerd,
                "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd]\ndefault_runtime_name = \"\"\"runc\"\"\"\n", &o,
                "f.toml:3:24: plugins.\"io.containerd.grpc.v1.cri\".containerd.default_runtime_name is a string nvbind "
                "cannot rewrite in place; set it to \"nvbind\" by hand");
    fmt_refused(nvb_conf_containerd, "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd]\ndefault_runtime_name = 1\n",
                &o, "f.toml:3:24: plugins.\"io.containerd.grpc.v1.cri\".containerd.default_runtime_name is a integer "
                    "nvbind cannot rewrite in place; set it to \"nvbind\" by hand");
    fmt_refused(nvb_conf_containerd, "version = [\n", &o, "f.toml:1:11: unterminated array");
}

static void test_docker_keeps_keys(void **state)
{
    (void)state;
    nvb_configure_opts o = base;
    o.set_as_default = true;
    o.enable_cdi = true;
    char *text = fmt_ok(nvb_conf_docker, "{\"b\": [1, {\"x\": null}], \"runtimes\": {\"runc2\": {\"path\": \"/r\"}}}", &o);
    assert_string_equal(text, "{\n"
                              "    \"b\": [\n        1,\n        {\n            \"x\": null\n        }\n    ],\n"
                              "    \"runtimes\": {\n"
                              "        \"runc2\": {\n            \"path\": \"/r\"\n        },\n"
                              "        \"nvbind\": {\n            \"path\": \"/usr/bin/nvbind-runtime\"\n        }\n"
                              "    },\n"
                              "    \"default-runtime\": \"nvbind\",\n"
                              "    \"features\": {\n        \"cdi\": true\n    }\n"
                              "}\n");
    free(text);
    /* Already configured in another layout: the bytes stay as they are. */
    text = fmt_ok(nvb_conf_docker, "{\"runtimes\":{\"nvbind\":{\"path\":\"/usr/bin/nvbind-runtime\"}}}", &base);
    assert_string_equal(text, "{\"runtimes\":{\"nvbind\":{\"path\":\"/usr/bin/nvbind-runtime\"}}}");
    free(text);
    fmt_refused(nvb_conf_docker, "[1]", &base, "f.toml: the top level is not a JSON object");
    fmt_refused(nvb_conf_docker, "{\"features\": 1}", &o, "f.toml: \"features\" is not an object; nvbind will not replace it");
    fmt_refused(nvb_conf_docker, "{\"a\": 1, \"a\": 2}", &o, "f.toml:1:12: duplicate object key near '\"a\"'");
}

static void test_drop_ins(void **state)
{
    (void)state;
    nvb_configure_opts o = base;
    o.set_as_default = true;
    char *text = fmt_ok(nvb_conf_podman, NULL, &o);
    assert_string_equal(text, "# Written by `nvbind runtime configure --runtime podman`; run it again rather than editing.\n"
                              "[engine]\nruntime = \"nvbind\"\n\n[engine.runtimes]\nnvbind = [\"/usr/bin/nvbind-runtime\"]\n");
    free(text);
    text = fmt_ok(nvb_conf_crio, "anything", &base);
    assert_string_equal(text, "# Written by `nvbind runtime configure --runtime crio`; run it again rather than editing.\n"
                              "[crio.runtime.runtimes.nvbind]\nruntime_path = \"/usr/bin/nvbind-runtime\"\n"
                              "runtime_type = \"oci\"\nruntime_root = \"/run/nvbind\"\n");
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_containerd_value_replaced_in_place),
        cmocka_unit_test(test_containerd_key_added_under_header),
        cmocka_unit_test(test_containerd_own_table_keys_kept),
        cmocka_unit_test(test_containerd_runc_options_copied),
        cmocka_unit_test(test_containerd_version3_and_new_file),
        cmocka_unit_test(test_containerd_refusals),
        cmocka_unit_test(test_docker_keeps_keys),
        cmocka_unit_test(test_drop_ins),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
