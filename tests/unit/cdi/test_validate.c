/* Validation: one case per rule, checked by the exact line a user reads, and the CDI
 * schema's own good/bad examples (from the shared folder beside the repository, when present). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cdi/cdi.h"

#ifndef NVB_CDI_SCHEMA_DIR
#define NVB_CDI_SCHEMA_DIR ""
#endif

static json_t *J(const char *text)
{
    json_error_t e;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &e);
    if (!v)
        fail_msg("test JSON does not parse: %s (line %d col %d)", e.text, e.line, e.column);
    return v;
}

/* A valid spec of the shape nvbind generates; tests break one thing in it. */
static const char *const GOOD =
    "{\"cdiVersion\": \"0.5.0\", \"kind\": \"nvidia.com/gpu\", \"devices\": ["
    "{\"name\": \"0\", \"containerEdits\": {\"deviceNodes\": [{\"path\": \"/dev/nvidia0\", \"hostPath\": "
    "\"/dev/nvidia0\", \"type\": \"c\", \"major\": 195, \"minor\": 0, \"fileMode\": 8630, \"permissions\": \"rwm\"}]}},"
    "{\"name\": \"GPU-8f1c1d5e-6c1b-4a3e-9d0e-1234567890ab\", \"containerEdits\": {\"deviceNodes\": "
    "[{\"path\": \"/dev/nvidia0\"}]}},"
    "{\"name\": \"all\", \"containerEdits\": {\"deviceNodes\": [{\"path\": \"/dev/nvidia0\", \"uid\": 0, \"gid\": 0}]}}],"
    "\"containerEdits\": {\"env\": [\"NVIDIA_VISIBLE_DEVICES=void\", \"EMPTY=\"], \"deviceNodes\": [{\"path\": "
    "\"/dev/nvidiactl\"}], \"mounts\": [{\"hostPath\": \"/usr/lib/libcuda.so.1\", \"containerPath\": "
    "\"/usr/lib/libcuda.so.1\", \"options\": [\"ro\", \"nosuid\", \"nodev\", \"rbind\", \"rprivate\"]}], "
    "\"hooks\": [{\"hookName\": \"createContainer\", \"path\": \"/usr/bin/nvbind\", \"args\": [\"nvbind\", \"hook\", "
    "\"update-ldcache\"], \"env\": [\"LC_ALL=C\"], \"timeout\": 10}]}}";

/* Validate text; it must report exactly `count` problems and one line must start with `want`. */
static void expect(const char *text, int count, const char *want)
{
    json_t *spec = J(text);
    nvb_strv p = {0};
    int n = nvb_cdi_validate(spec, &p);
    bool found = !want;
    for (size_t i = 0; i < p.n; i++)
        found |= want && strncmp(p.v[i], want, strlen(want)) == 0;
    if (n != count || !found) {
        char all[8192] = "";
        for (size_t i = 0; i < p.n; i++) {
            strncat(all, p.v[i], sizeof all - strlen(all) - 2);
            strncat(all, "\n", sizeof all - strlen(all) - 1);
        }
        fail_msg("expected %d problem(s) with \"%s\", got %d:\n%s", count, want ? want : "", n, all);
    }
    assert_int_equal((size_t)n, p.n);
    nvb_strv_free(&p);
    json_decref(spec);
}

/* GOOD with the first occurrence of `from` replaced by `to`. */
static char *good_with(const char *from, const char *to)
{
    const char *at = strstr(GOOD, from);
    if (!at)
        fail_msg("\"%s\" not in the test spec", from);
    char *out = NULL;
    if (asprintf(&out, "%.*s%s%s", (int)(at - GOOD), GOOD, to, at + strlen(from)) < 0)
        fail();
    return out;
}

static void expect_with(const char *from, const char *to, int count, const char *want)
{
    char *text = good_with(from, to);
    expect(text, count, want);
    free(text);
}

static void generated_shape_is_valid(void **state)
{
    (void)state;
    expect(GOOD, 0, NULL);
    /* null counts as absent for optional fields, as the engines decode it */
    expect_with("\"hostPath\": \"/dev/nvidia0\"", "\"hostPath\": null", 0, NULL);
}

static void names_and_kind(void **state)
{
    (void)state;
    char *t = good_with("\"name\": \"all\"", "\"name\": \"bad name!\"");
    expect(t, 1, "devices[2].name: \"bad name!\" is not a valid device name: character ' ' is not allowed");
    free(t);
    expect_with("\"nvidia.com/gpu\"", "\"nvidia.com\"", 1,
                "kind: \"nvidia.com\" is not a valid kind: a kind is VENDOR/CLASS");
    expect_with("\"nvidia.com/gpu\"", "\"nvidia.com/gpu/x\"", 1, "kind: \"nvidia.com/gpu/x\" is not a valid kind");
    expect_with("\"name\": \"all\"", "\"name\": \"0\"", 1, "devices[2].name: \"0\" is already the name of devices[0]");
    expect_with("\"name\": \"all\"", "\"name\": \"\"", 1, "devices[2].name: \"\" is not a valid device name");
    expect_with("\"name\": \"all\"", "\"name\": 3", 1, "devices[2].name: expected a string, got integer");
    expect_with("\"name\": \"all\", ", "", 1, "devices[2].name: required field is missing");
}

static void versions(void **state)
{
    (void)state;
    expect_with("\"0.5.0\"", "\"0.3.0\"", 1,
                "cdiVersion: \"0.3.0\" is lower than 0.5.0 required by devices[0].name (a device name that does "
                "not start with a letter)");
    /* one line per version level the declared one misses, each naming its first feature */
    char *t = good_with("\"0.5.0\"", "\"0.3.0\"");
    char *t2 = NULL;
    assert_true(asprintf(&t2, "%.*s, \"annotations\": {\"a\": \"b\"}}", (int)strlen(t) - 1, t) > 0);
    expect(t2, 2, "cdiVersion: \"0.3.0\" is lower than 0.6.0 required by annotations (annotations)");
    free(t);
    free(t2);
    expect("{\"cdiVersion\": \"0.4.0\", \"kind\": \"v.com/d\", \"devices\": [{\"name\": \"d\", \"containerEdits\": "
           "{\"deviceNodes\": [{\"path\": \"/dev/x\", \"hostPath\": \"/dev/x\"}]}}]}",
           1, "cdiVersion: \"0.4.0\" is lower than 0.5.0 required by "
              "devices[0].containerEdits.deviceNodes[0].hostPath (hostPath on device nodes)");
    expect_with("\"0.5.0\"", "\"0.9.0\"", 1, "cdiVersion: \"0.9.0\" is not a known CDI version (0.3.0 to 1.1.0)");
    expect_with("\"0.5.0\"", "\"v0.5.0\"", 1, "cdiVersion: \"v0.5.0\": write the version without the 'v' (0.5.0)");
    expect_with("\"0.5.0\"", "\"0.2.0\"", 1, "cdiVersion: \"0.2.0\" is older than 0.3.0");
    expect_with("\"0.5.0\"", "5", 1, "cdiVersion: expected a string, got integer");
    expect_with("\"cdiVersion\": \"0.5.0\", ", "", 1, "cdiVersion: required field is missing");
    /* any newer version is fine too */
    expect_with("\"0.5.0\"", "\"1.1.0\"", 0, NULL);
}

static void required_structure(void **state)
{
    (void)state;
    expect("[]", 1, "spec: expected a JSON object, got array");
    expect("{}", 3, "devices: required field is missing");
    expect("{\"cdiVersion\": \"0.3.0\", \"kind\": \"v.com/d\", \"devices\": []}", 1,
           "devices: a spec needs at least one device");
    expect("{\"cdiVersion\": \"0.3.0\", \"kind\": \"v.com/d\", \"devices\": {}}", 1,
           "devices: expected an array, got object");
    expect("{\"cdiVersion\": \"0.3.0\", \"kind\": \"v.com/d\", \"devices\": [5]}", 1,
           "devices[0]: expected an object, got integer");
    expect("{\"cdiVersion\": \"0.3.0\", \"kind\": \"v.com/d\", \"devices\": [{\"name\": \"d\"}]}", 1,
           "devices[0].containerEdits: required field is missing");
    expect("{\"cdiVersion\": \"0.3.0\", \"kind\": \"v.com/d\", \"devices\": [{\"name\": \"d\", "
           "\"containerEdits\": {\"env\": []}}]}",
           1, "devices[0].containerEdits: a device needs at least one edit");
    /* spec-level edits may be empty */
    expect("{\"cdiVersion\": \"0.3.0\", \"kind\": \"v.com/d\", \"containerEdits\": {}, \"devices\": [{\"name\": "
           "\"d\", \"containerEdits\": {\"env\": [\"A=\"]}}]}",
           0, NULL);
}

static void unknown_fields_are_refused(void **state)
{
    (void)state;
    expect_with("\"kind\"", "\"containerRuntime\": [\"podman\"], \"kind\"", 1,
                "containerRuntime: unknown field (engines refuse specs with fields they do not know)");
    expect_with("\"permissions\": \"rwm\"", "\"permissions\": \"rwm\", \"Major\": 1", 1,
                "devices[0].containerEdits.deviceNodes[0].Major: unknown field");
    expect_with("\"timeout\": 10", "\"timeout\": 10, \"when\": 1", 1, "containerEdits.hooks[0].when: unknown field");
    expect_with("\"kind\"", "\"a b.c\": 1, \"kind\"", 1, "spec: unknown field \"a b.c\"");
}

static void container_paths_are_absolute(void **state)
{
    (void)state;
    expect_with("\"path\": \"/dev/nvidiactl\"", "\"path\": \"dev/nvidiactl\"", 1,
                "containerEdits.deviceNodes[0].path: \"dev/nvidiactl\" is not an absolute path");
    expect_with("\"containerPath\": \"/usr/lib/libcuda.so.1\"", "\"containerPath\": \"usr/lib\"", 1,
                "containerEdits.mounts[0].containerPath: \"usr/lib\" is not an absolute path");
    expect_with("\"path\": \"/usr/bin/nvbind\"", "\"path\": \"nvbind\"", 1,
                "containerEdits.hooks[0].path: \"nvbind\" is not an absolute path");
    expect_with("\"path\": \"/dev/nvidiactl\"", "\"path\": \"\"", 1, "containerEdits.deviceNodes[0].path: the path is empty");
    expect_with("{\"path\": \"/dev/nvidiactl\"}", "{}", 1, "containerEdits.deviceNodes[0].path: required field is missing");
    expect_with("\"hostPath\": \"/usr/lib/libcuda.so.1\"", "\"hostPath\": \"\"", 1,
                "containerEdits.mounts[0].hostPath: the path is empty");
}

static void hooks_env_and_device_nodes(void **state)
{
    (void)state;
    expect_with("\"createContainer\"", "\"preStart\"", 1,
                "containerEdits.hooks[0].hookName: \"preStart\" is not an OCI hook");
    const char *hooks[] = {"createRuntime", "createContainer", "startContainer", "poststart", "poststop", "prestart"};
    for (size_t i = 0; i < 6; i++) {
        char to[64];
        snprintf(to, sizeof to, "\"%s\"", hooks[i]);
        expect_with("\"createContainer\"", to, 0, NULL);
    }
    expect_with("\"EMPTY=\"", "\"NOVALUE\"", 1, "containerEdits.env[1]: \"NOVALUE\" is not KEY=VALUE");
    expect_with("\"EMPTY=\"", "\"=x\"", 1, "containerEdits.env[1]: \"=x\" is not KEY=VALUE");
    expect_with("\"EMPTY=\"", "7", 1, "containerEdits.env[1]: expected a string, got integer");
    expect_with("\"LC_ALL=C\"", "\"LC_ALL\"", 1, "containerEdits.hooks[0].env[0]: \"LC_ALL\" is not KEY=VALUE");
    expect_with("\"timeout\": 10", "\"timeout\": 0", 1, "containerEdits.hooks[0].timeout: 0 seconds");
    expect_with("\"args\": [\"nvbind\",", "\"args\": [1,", 1, "containerEdits.hooks[0].args[0]: expected a string");
    expect_with("\"type\": \"c\"", "\"type\": \"char\"", 1,
                "devices[0].containerEdits.deviceNodes[0].type: \"char\" is not a device type");
    expect_with("\"permissions\": \"rwm\"", "\"permissions\": \"rwx\"", 1,
                "devices[0].containerEdits.deviceNodes[0].permissions: \"rwx\" may only contain 'r', 'w' and 'm'");
    expect_with("\"major\": 195", "\"major\": \"195\"", 1,
                "devices[0].containerEdits.deviceNodes[0].major: expected an integer, got string");
    expect_with("\"uid\": 0", "\"uid\": -1", 1, "devices[2].containerEdits.deviceNodes[0].uid: -1 is out of range");
    expect_with("\"gid\": 0", "\"gid\": 4294967296", 1, "devices[2].containerEdits.deviceNodes[0].gid: 4294967296 is out");
    expect_with("\"fileMode\": 8630", "\"fileMode\": 1.5", 1,
                "devices[0].containerEdits.deviceNodes[0].fileMode: expected an integer, got number");
    expect_with("\"options\": [\"ro\",", "\"options\": [true,", 1, "containerEdits.mounts[0].options[0]: expected a string");
}

static void annotations(void **state)
{
    (void)state;
#define base "{\"cdiVersion\": \"0.6.0\", \"kind\": \"v.com/d\", \"annotations\": %s, \"devices\": " \
             "[{\"name\": \"d\", \"containerEdits\": {\"env\": [\"A=1\"]}}]}"
    char text[4096];
    snprintf(text, sizeof text, base, "{\"nvbind.io/generated-by\": \"nvbind 0.1\", \"plain\": \"x\"}");
    expect(text, 0, NULL);
    snprintf(text, sizeof text, base, "{\"bad key\": \"x\"}");
    expect(text, 1, "annotations: key \"bad key\" is not a valid annotation key");
    snprintf(text, sizeof text, base, "{\"-x/y\": \"x\"}");
    expect(text, 1, "annotations: key \"-x/y\" is not a valid annotation key");
    snprintf(text, sizeof text, base, "{\"a\": 1}");
    expect(text, 1, "annotations: the value of \"a\" must be a string, got integer");
    snprintf(text, sizeof text, base, "[]");
    expect(text, 1, "annotations: expected an object, got array");

#undef base
    json_t *spec = J("{\"cdiVersion\": \"0.6.0\", \"kind\": \"v.com/d\", \"devices\": [{\"name\": \"d\", "
                     "\"containerEdits\": {\"env\": [\"A=1\"]}}]}");
    json_t *ann = json_object();
    char *big = malloc(200 * 1024);
    memset(big, 'x', 200 * 1024 - 1);
    big[200 * 1024 - 1] = '\0';
    json_object_set_new(ann, "a", json_string(big));
    json_object_set_new(ann, "b", json_string(big));
    free(big);
    json_object_set_new(json_array_get(json_object_get(spec, "devices"), 0), "annotations", ann);
    nvb_strv p = {0};
    assert_int_equal(nvb_cdi_validate(spec, &p), 1);
    assert_non_null(strstr(p.v[0], "devices[0].annotations: 409600 bytes of annotations; at most 262144"));
    nvb_strv_free(&p);
    json_decref(spec);
}

static void newer_edits(void **state)
{
    (void)state;
#define base "{\"cdiVersion\": \"%s\", \"kind\": \"v.com/d\", \"devices\": [{\"name\": \"d\", " \
             "\"containerEdits\": %s}]}"
    char text[4096];
    snprintf(text, sizeof text, base, "1.1.0",
             "{\"netDevices\": [{\"hostInterfaceName\": \"eth1\", \"name\": \"net1\"}], \"intelRdt\": {\"closID\": "
             "\"grp\", \"schemata\": [\"L3:0=ff\"], \"enableMonitoring\": true}, \"additionalGids\": [44]}");
    expect(text, 0, NULL);
    snprintf(text, sizeof text, base, "1.1.0",
             "{\"netDevices\": [{\"hostInterfaceName\": \"a/b\", \"name\": \"averyveryverylongname\"}]}");
    expect(text, 2, "devices[0].containerEdits.netDevices[0].name: \"averyveryverylongname\" is not a network "
                    "interface name");
    snprintf(text, sizeof text, base, "1.1.0", "{\"intelRdt\": {\"closID\": \"..\", \"enableCMT\": true}}");
    expect(text, 2, "devices[0].containerEdits.intelRdt.enableCMT: not part of CDI 1.1.0");
    snprintf(text, sizeof text, base, "0.7.0", "{\"intelRdt\": {\"enableCMT\": true, \"enableMBM\": 1}}");
    expect(text, 1, "devices[0].containerEdits.intelRdt.enableMBM: expected a boolean, got integer");
    snprintf(text, sizeof text, base, "0.7.0", "{\"additionalGids\": [-1, \"x\"]}");
    expect(text, 2, "devices[0].containerEdits.additionalGids[0]: -1 is not a group id");
    snprintf(text, sizeof text, base, "0.5.0", "{\"additionalGids\": [44]}");
    expect(text, 1, "cdiVersion: \"0.5.0\" is lower than 0.7.0 required by devices[0].containerEdits.additionalGids");
#undef base
}

static void problem_lines_are_capped_but_counted(void **state)
{
    (void)state;
    json_t *spec = J("{\"cdiVersion\": \"0.3.0\", \"kind\": \"v.com/d\", \"devices\": []}");
    json_t *devs = json_object_get(spec, "devices");
    for (int i = 0; i < 300; i++)
        json_array_append_new(devs, json_pack("{s:s, s:{s:[s]}}", "name", "!", "containerEdits", "env", "A=1"));
    nvb_strv p = {0};
    int n = nvb_cdi_validate(spec, &p);
    assert_true(n >= 300);
    assert_int_equal(p.n, 201);
    assert_non_null(strstr(p.v[200], "more problems not listed"));
    nvb_strv_free(&p);
    assert_int_equal(nvb_cdi_validate(spec, NULL), n); /* counting without lines */
    json_decref(spec);
}

static void device_name_list(void **state)
{
    (void)state;
    json_t *spec = J(GOOD);
    nvb_strv names = {0};
    assert_int_equal(nvb_cdi_device_names(spec, &names), 3);
    assert_string_equal(names.v[0], "nvidia.com/gpu=0");
    assert_string_equal(names.v[1], "nvidia.com/gpu=GPU-8f1c1d5e-6c1b-4a3e-9d0e-1234567890ab");
    assert_string_equal(names.v[2], "nvidia.com/gpu=all");
    nvb_strv_free(&names);
    json_decref(spec);
    spec = J("{\"devices\": []}");
    assert_int_equal(nvb_cdi_device_names(spec, &names), -1);
    json_decref(spec);
}

/* The CDI schema's examples: every good one validates, every bad one does not (load or validate). */
static void schema_testdata(void **state)
{
    (void)state;
    const char *kinds[] = {"good", "bad"};
    int seen = 0;
    for (int k = 0; k < 2; k++) {
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/testdata/%s", NVB_CDI_SCHEMA_DIR, kinds[k]);
        DIR *d = opendir(dir);
        if (!d) {
            if (seen == 0)
                skip(); /* the shared folder is not beside this checkout */
            fail_msg("%s is missing", dir);
        }
        struct dirent *de;
        while ((de = readdir(d))) {
            if (!strstr(de->d_name, ".json"))
                continue;
            char path[2048];
            snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
            nvb_err err = {0};
            json_t *spec = nvb_cdi_load_file(path, &err);
            nvb_strv p = {0};
            int n = spec ? nvb_cdi_validate(spec, &p) : -1;
            if (k == 0 && n != 0)
                fail_msg("%s should validate: %s %s", path, spec ? "" : err.msg, p.n ? p.v[0] : "");
            if (k == 1 && n == 0)
                fail_msg("%s should not validate", path);
            nvb_strv_free(&p);
            json_decref(spec);
            seen++;
        }
        closedir(d);
    }
    assert_true(seen >= 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(generated_shape_is_valid),
        cmocka_unit_test(names_and_kind),
        cmocka_unit_test(versions),
        cmocka_unit_test(required_structure),
        cmocka_unit_test(unknown_fields_are_refused),
        cmocka_unit_test(container_paths_are_absolute),
        cmocka_unit_test(hooks_env_and_device_nodes),
        cmocka_unit_test(annotations),
        cmocka_unit_test(newer_edits),
        cmocka_unit_test(problem_lines_are_capped_but_counted),
        cmocka_unit_test(device_name_list),
        cmocka_unit_test(schema_testdata),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
