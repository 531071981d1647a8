/* The config.json patcher: every kind of edit lands where runc and crun read it, applying
 * twice changes nothing more, and malformed configs are refused without a change. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/oci_patch.h"
#include "util/fileio.h"

static void make_edits(nvb_edits *e)
{
    nvb_devnode n = {.path = (char *)"/dev/nvidia1", .host_path = (char *)"/r/dev/nvidia1", .type = 'c',
                     .major = 195, .minor = 1, .mode = 0666};
    nvb_edits_add_node(e, &n);
    nvb_edits_add_mount(e, "/r/usr/lib/libcuda.so.550", "/usr/lib/libcuda.so.550", false);
    nvb_edits_add_mount(e, "/r/run/nvidia-persistenced/socket", "/run/nvidia-persistenced/socket", true);
    nvb_edits_setenv(e, "NVIDIA_VISIBLE_DEVICES", "void");
    nvb_edits_setenv(e, "PROFILE", "gaming");
    nvb_hook *h = nvb_edits_add_hook(e, "createContainer", "/usr/bin/nvbind");
    nvb_strv_push(&h->args, "nvbind");
    nvb_strv_push(&h->args, "hook");
    nvb_strv_push(&h->args, "update-ldcache");
}

static json_t *parse(const char *text)
{
    nvb_err err = {0};
    json_t *c = nvb_oci_config_parse(text, strlen(text), "config.json", &err);
    if (!c)
        fail_msg("%s", err.msg);
    return c;
}

static void test_applies_every_edit(void **unused)
{
    (void)unused;
    json_t *c = parse("{\"ociVersion\":\"1.0.2\",\"process\":{\"args\":[\"sh\"],\"env\":[\"PATH=/bin\","
                      "\"NVIDIA_VISIBLE_DEVICES=all\"]},\"mounts\":[{\"destination\":\"/proc\",\"type\":\"proc\","
                      "\"source\":\"proc\"}],\"linux\":{\"resources\":{\"devices\":[{\"allow\":false,\"access\":\"rwm\"}]}}}");
    nvb_edits e = {0};
    make_edits(&e);
    nvb_err err = {0};
    assert_int_equal(nvb_oci_config_apply_edits(c, &e, "config.json", &err), 0);
    char *s = nvb_oci_config_dump(c);
    /* env: replaced in place, then appended */
    assert_non_null(strstr(s, "\"env\":[\"PATH=/bin\",\"NVIDIA_VISIBLE_DEVICES=void\",\"PROFILE=gaming\"]"));
    /* device node with its container path, and its cgroup allow rule after the deny-all */
    assert_non_null(strstr(s, "\"devices\":[{\"path\":\"/dev/nvidia1\",\"type\":\"c\",\"major\":195,\"minor\":1,"
                              "\"fileMode\":438,\"uid\":0,\"gid\":0}]"));
    assert_non_null(strstr(s, "{\"allow\":false,\"access\":\"rwm\"},{\"allow\":true,\"type\":\"c\",\"major\":195,"
                              "\"minor\":1,\"access\":\"rwm\"}"));
    /* mounts: read-only driver file, writable socket */
    assert_non_null(strstr(s, "{\"destination\":\"/usr/lib/libcuda.so.550\",\"type\":\"bind\",\"source\":"
                              "\"/r/usr/lib/libcuda.so.550\",\"options\":[\"ro\",\"nosuid\",\"nodev\",\"rbind\",\"rprivate\"]}"));
    assert_non_null(strstr(s, "\"options\":[\"nosuid\",\"nodev\",\"noexec\",\"rbind\",\"rprivate\"]"));
    /* hook */
    assert_non_null(strstr(s, "\"hooks\":{\"createContainer\":[{\"path\":\"/usr/bin/nvbind\",\"args\":[\"nvbind\","
                              "\"hook\",\"update-ldcache\"]}]}"));
    assert_int_equal(s[strlen(s) - 1], '\n');

    /* Applying again changes nothing. */
    assert_int_equal(nvb_oci_config_apply_edits(c, &e, "config.json", &err), 0);
    char *s2 = nvb_oci_config_dump(c);
    assert_string_equal(s, s2);
    free(s);
    free(s2);
    json_decref(c);
    nvb_edits_clear(&e);
}

static void test_empty_config_gets_parents(void **unused)
{
    (void)unused;
    json_t *c = parse("{}");
    nvb_edits e = {0};
    make_edits(&e);
    nvb_err err = {0};
    assert_int_equal(nvb_oci_config_apply_edits(c, &e, "config.json", &err), 0);
    assert_int_equal(json_array_size(json_object_get(json_object_get(c, "process"), "env")), 2);
    assert_int_equal(json_array_size(json_object_get(json_object_get(c, "linux"), "devices")), 1);
    assert_int_equal(json_array_size(json_object_get(c, "mounts")), 2);
    json_decref(c);
    nvb_edits_clear(&e);
}

static void test_existing_destination_is_kept(void **unused)
{
    (void)unused;
    /* The user mounted their own file at the same place: theirs stays, no second mount. */
    json_t *c = parse("{\"mounts\":[{\"destination\":\"/usr/lib/libcuda.so.550\",\"type\":\"bind\","
                      "\"source\":\"/mine\"}]}");
    nvb_edits e = {0};
    make_edits(&e);
    nvb_err err = {0};
    assert_int_equal(nvb_oci_config_apply_edits(c, &e, "config.json", &err), 0);
    json_t *m = json_object_get(c, "mounts");
    assert_int_equal(json_array_size(m), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(m, 0), "source")), "/mine");
    json_decref(c);
    nvb_edits_clear(&e);
}

static void expect_refused(const char *text, const char *message)
{
    json_t *c = parse(text);
    char *before = nvb_oci_config_dump(c);
    nvb_edits e = {0};
    make_edits(&e);
    nvb_err err = {0};
    assert_int_equal(nvb_oci_config_apply_edits(c, &e, "b/config.json", &err), -1);
    assert_string_equal(err.msg, message);
    assert_int_equal(err.exit_code, NVB_EXIT_INPUT);
    char *after = nvb_oci_config_dump(c);
    assert_string_equal(before, after);
    free(before);
    free(after);
    json_decref(c);
    nvb_edits_clear(&e);
}

static void test_wrong_types_refused_unchanged(void **unused)
{
    (void)unused;
    expect_refused("{\"process\":[]}", "b/config.json: process: expected an object");
    expect_refused("{\"process\":{\"env\":\"A=1\"}}", "b/config.json: process.env: expected an array");
    expect_refused("{\"process\":{\"env\":[\"A=1\",3]}}", "b/config.json: process.env[1]: expected a string");
    expect_refused("{\"linux\":{\"devices\":{}}}", "b/config.json: linux.devices: expected an array");
    expect_refused("{\"linux\":{\"resources\":{\"devices\":[1]}}}",
                   "b/config.json: linux.resources.devices[0]: expected an object");
    expect_refused("{\"mounts\":[\"x\"]}", "b/config.json: mounts[0]: expected an object");
    expect_refused("{\"hooks\":{\"createContainer\":{}}}", "b/config.json: hooks.createContainer: expected an array");
    expect_refused("{\"hooks\":[]}", "b/config.json: hooks: expected an object");
}

static void test_parse_errors(void **unused)
{
    (void)unused;
    nvb_err err = {0};
    assert_null(nvb_oci_config_parse("{\"a\":", 5, "x/config.json", &err));
    assert_int_equal(err.exit_code, NVB_EXIT_INPUT);
    assert_true(strncmp(err.msg, "x/config.json:1:", 16) == 0);
    assert_null(nvb_oci_config_parse("[1]", 3, "x/config.json", &err));
    assert_string_equal(err.msg, "x/config.json: expected a JSON object");
}

static void test_bundle_file_rewritten_atomically(void **unused)
{
    (void)unused;
    char dir[] = "/tmp/nvbind-test-patch-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/config.json", dir);
    const char *orig = "{\"process\":{\"env\":[\"A=1\"]}}";
    nvb_err err = {0};
    assert_int_equal(nvb_write_file_atomic(path, orig, strlen(orig), 0600, &err), 0);
    nvb_edits e = {0};
    make_edits(&e);
    assert_int_equal(nvb_bundle_apply_edits(dir, &e, &err), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600); /* the mode is kept */
    char *text = nvb_read_file(path, 1 << 20, NULL);
    assert_non_null(strstr(text, "\"PROFILE=gaming\""));
    free(text);
    /* A broken file is reported and left as it is. */
    assert_int_equal(nvb_write_file_atomic(path, "{", 1, 0600, &err), 0);
    assert_int_equal(nvb_bundle_apply_edits(dir, &e, &err), -1);
    text = nvb_read_file(path, 1 << 20, NULL);
    assert_string_equal(text, "{");
    free(text);
    /* No leftovers in the folder: only config.json. */
    unlink(path);
    assert_int_equal(rmdir(dir), 0);
    assert_int_equal(nvb_bundle_apply_edits(dir, &e, &err), -1);
    assert_int_equal(err.exit_code, NVB_EXIT_INPUT);
    nvb_edits_clear(&e);
}

static void test_unknown_hook_point(void **unused)
{
    (void)unused;
    json_t *c = parse("{}");
    nvb_edits e = {0};
    nvb_edits_add_hook(&e, "beforeEverything", "/bin/true");
    nvb_err err = {0};
    assert_int_equal(nvb_oci_config_apply_edits(c, &e, "config.json", &err), -1);
    assert_string_equal(err.msg, "config.json: hook point 'beforeEverything' is not an OCI hook (createContainer, ...)");
    assert_null(json_object_get(c, "hooks"));
    json_decref(c);
    nvb_edits_clear(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_applies_every_edit),
        cmocka_unit_test(test_empty_config_gets_parents),
        cmocka_unit_test(test_existing_destination_is_kept),
        cmocka_unit_test(test_wrong_types_refused_unchanged),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_bundle_file_rewritten_atomically),
        cmocka_unit_test(test_unknown_hook_point),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
