/* Minimum cdiVersion: one case per feature of the version table, and the cases that decide
 * whether podman 4.x (CDI 0.5.0 at most) accepts what nvbind writes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "cdi/cdi.h"

static json_t *J(const char *text)
{
    json_error_t e;
    json_t *v = json_loads(text, 0, &e);
    if (!v)
        fail_msg("test JSON does not parse: %s (line %d)", e.text, e.line);
    return v;
}

/* A spec with one device "gpu" whose edits are `edits`, plus spec-level `extra` fields. */
static json_t *spec_with(const char *kind, const char *name, const char *edits, const char *extra)
{
    char text[4096];
    snprintf(text, sizeof text, "{\"cdiVersion\": \"0.3.0\", \"kind\": \"%s\", %s%s \"devices\": "
             "[{\"name\": \"%s\", \"containerEdits\": %s}]}",
             kind, extra ? extra : "", extra ? "," : "", name, edits);
    return J(text);
}

static void expect_min(json_t *spec, const char *version, const char *feature)
{
    char why[512];
    const char *v = nvb_cdi_min_version_why(spec, why, sizeof why);
    if (strcmp(v, version) != 0 || strcmp(why, feature) != 0)
        fail_msg("expected %s for \"%s\", got %s for \"%s\"", version, feature, v, why);
    assert_string_equal(nvb_cdi_min_version(spec), version);
    json_decref(spec);
}

static void base_features_need_030(void **state)
{
    (void)state;
    expect_min(spec_with("vendor.com/device", "myDevice",
                         "{\"env\": [\"A=1\"], \"deviceNodes\": [{\"path\": \"/dev/card1\", \"type\": \"c\", "
                         "\"major\": 226, \"minor\": 0, \"fileMode\": 8630, \"permissions\": \"rw\", \"uid\": 0, "
                         "\"gid\": 0}], \"mounts\": [{\"hostPath\": \"/a\", \"containerPath\": \"/a\", "
                         "\"options\": [\"ro\"]}], \"hooks\": [{\"hookName\": \"createContainer\", \"path\": \"/h\", "
                         "\"args\": [\"h\"], \"env\": [\"B=2\"], \"timeout\": 5}]}",
                         NULL),
               "0.3.0", "");
}

static void mount_type_needs_040(void **state)
{
    (void)state;
    expect_min(spec_with("v.com/d", "d", "{\"mounts\": [{\"hostPath\": \"/a\", \"containerPath\": \"/a\"}, "
                         "{\"hostPath\": \"t\", \"containerPath\": \"/t\", \"type\": \"tmpfs\"}]}", NULL),
               "0.4.0", "devices[0].containerEdits.mounts[1].type");
    /* present but empty still counts: an older engine refuses the unknown field */
    expect_min(spec_with("v.com/d", "d", "{\"mounts\": [{\"hostPath\": \"/a\", \"containerPath\": \"/a\", "
                         "\"type\": \"\"}]}", NULL),
               "0.4.0", "devices[0].containerEdits.mounts[0].type");
}

static void host_path_and_digit_names_need_050(void **state)
{
    (void)state;
    expect_min(spec_with("v.com/d", "d", "{\"deviceNodes\": [{\"path\": \"/dev/x\", \"hostPath\": \"/r/dev/x\"}]}",
                         NULL),
               "0.5.0", "devices[0].containerEdits.deviceNodes[0].hostPath");
    expect_min(spec_with("v.com/d", "0", "{\"env\": [\"A=1\"]}", NULL), "0.5.0", "devices[0].name");
    /* spec-level edits count too */
    expect_min(spec_with("v.com/d", "d", "{\"env\": [\"A=1\"]}",
                         "\"containerEdits\": {\"deviceNodes\": [{\"path\": \"/dev/c\", \"hostPath\": \"/dev/c\"}]}"),
               "0.5.0", "containerEdits.deviceNodes[0].hostPath");
}

static void annotations_and_dotted_class_need_060(void **state)
{
    (void)state;
    expect_min(spec_with("v.com/d", "d", "{\"env\": [\"A=1\"]}", "\"annotations\": {\"a\": \"b\"}"), "0.6.0",
               "annotations");
    expect_min(spec_with("v.com/d", "d", "{\"env\": [\"A=1\"]}", "\"annotations\": {}"), "0.6.0", "annotations");
    expect_min(J("{\"cdiVersion\": \"0.3.0\", \"kind\": \"v.com/d\", \"devices\": [{\"name\": \"d\", "
                 "\"annotations\": {\"x\": \"y\"}, \"containerEdits\": {\"env\": [\"A=1\"]}}]}"),
               "0.6.0", "devices[0].annotations");
    expect_min(spec_with("v.com/mig-1g.10gb", "d", "{\"env\": [\"A=1\"]}", NULL), "0.6.0", "kind");
    /* dots in the vendor are fine at any version */
    expect_min(spec_with("a.b.c.com/gpu", "d", "{\"env\": [\"A=1\"]}", NULL), "0.3.0", "");
}

static void intel_rdt_and_gids_need_070(void **state)
{
    (void)state;
    expect_min(spec_with("v.com/d", "d", "{\"intelRdt\": {\"closID\": \"g\"}}", NULL), "0.7.0",
               "devices[0].containerEdits.intelRdt");
    expect_min(spec_with("v.com/d", "d", "{\"env\": [\"A=1\"], \"additionalGids\": []}", NULL), "0.7.0",
               "devices[0].containerEdits.additionalGids");
    expect_min(spec_with("v.com/d", "d", "{\"env\": [\"A=1\"]}", "\"containerEdits\": {\"additionalGids\": [44]}"),
               "0.7.0", "containerEdits.additionalGids");
}

static void net_devices_and_new_rdt_fields_need_110(void **state)
{
    (void)state;
    expect_min(spec_with("v.com/d", "d", "{\"netDevices\": [{\"hostInterfaceName\": \"eth1\", \"name\": \"net1\"}]}",
                         NULL),
               "1.1.0", "devices[0].containerEdits.netDevices");
    expect_min(spec_with("v.com/d", "d", "{\"intelRdt\": {\"schemata\": [\"L3:0=f\"]}}", NULL), "1.1.0",
               "devices[0].containerEdits.intelRdt.schemata");
    expect_min(spec_with("v.com/d", "d", "{\"intelRdt\": {\"enableMonitoring\": false}}", NULL), "1.1.0",
               "devices[0].containerEdits.intelRdt.enableMonitoring");
}

static void highest_feature_wins_and_first_one_is_named(void **state)
{
    (void)state;
    expect_min(J("{\"cdiVersion\": \"0.3.0\", \"kind\": \"v.com/d\", \"devices\": ["
                 "{\"name\": \"0\", \"containerEdits\": {\"mounts\": [{\"hostPath\": \"/a\", \"containerPath\": \"/a\", "
                 "\"type\": \"bind\"}]}},"
                 "{\"name\": \"d\", \"containerEdits\": {\"deviceNodes\": [{\"path\": \"/x\", \"hostPath\": \"/x\"}]}},"
                 "{\"name\": \"e\", \"annotations\": {}, \"containerEdits\": {\"env\": [\"A=1\"]}},"
                 "{\"name\": \"f\", \"annotations\": {}, \"containerEdits\": {\"env\": [\"A=1\"]}}]}"),
               "0.6.0", "devices[2].annotations");
}

/* What nvbind generates for a GPU host must come out as 0.5.0 so podman 4.3.1 reads it. */
static void generated_gpu_spec_is_050(void **state)
{
    (void)state;
    expect_min(J("{\"cdiVersion\": \"1.1.0\", \"kind\": \"nvidia.com/gpu\", \"devices\": ["
                 "{\"name\": \"0\", \"containerEdits\": {\"deviceNodes\": [{\"path\": \"/dev/nvidia0\", "
                 "\"hostPath\": \"/dev/nvidia0\", \"type\": \"c\", \"major\": 195, \"minor\": 0, \"fileMode\": 8630}]}},"
                 "{\"name\": \"GPU-8f1c1d5e\", \"containerEdits\": {\"deviceNodes\": [{\"path\": \"/dev/nvidia0\"}]}},"
                 "{\"name\": \"all\", \"containerEdits\": {\"deviceNodes\": [{\"path\": \"/dev/nvidia0\"}]}}],"
                 "\"containerEdits\": {\"env\": [\"NVIDIA_VISIBLE_DEVICES=void\"], \"mounts\": [{\"hostPath\": "
                 "\"/usr/lib/libcuda.so.1\", \"containerPath\": \"/usr/lib/libcuda.so.1\", \"options\": [\"ro\", "
                 "\"nosuid\", \"nodev\", \"rbind\", \"rprivate\"]}], \"hooks\": [{\"hookName\": \"createContainer\", "
                 "\"path\": \"/usr/bin/nvbind\", \"args\": [\"nvbind\", \"hook\", \"update-ldcache\"]}]}}"),
               "0.5.0", "devices[0].name");
}

static void wrong_types_are_ignored_not_fatal(void **state)
{
    (void)state;
    expect_min(J("{\"kind\": 5, \"devices\": \"x\", \"containerEdits\": []}"), "0.3.0", "");
    expect_min(J("{\"devices\": [1, null, {\"name\": 7, \"containerEdits\": {\"deviceNodes\": [3, "
                 "{\"hostPath\": 1}]}}]}"),
               "0.5.0", "devices[2].containerEdits.deviceNodes[1].hostPath");
    expect_min(J("[]"), "0.3.0", "");
    assert_string_equal(nvb_cdi_min_version(NULL), "0.3.0");
}

static void set_min_version_keeps_the_field_first(void **state)
{
    (void)state;
    nvb_err err = {0};
    json_t *s = J("{\"kind\": \"v.com/d\", \"devices\": [{\"name\": \"0\", \"containerEdits\": {\"env\": [\"A=1\"]}}]}");
    assert_int_equal(nvb_cdi_set_min_version(s, &err), 0);
    void *it = json_object_iter(s);
    assert_string_equal(json_object_iter_key(it), "cdiVersion");
    assert_string_equal(json_string_value(json_object_iter_value(it)), "0.5.0");
    assert_int_equal(json_object_size(s), 3);
    json_decref(s);

    /* an existing value is replaced where it stands */
    s = J("{\"kind\": \"v.com/d\", \"cdiVersion\": \"1.1.0\", \"devices\": [{\"name\": \"d\", "
          "\"containerEdits\": {\"env\": [\"A=1\"]}}]}");
    assert_int_equal(nvb_cdi_set_min_version(s, &err), 0);
    it = json_object_iter_next(s, json_object_iter(s));
    assert_string_equal(json_object_iter_key(it), "cdiVersion");
    assert_string_equal(json_string_value(json_object_iter_value(it)), "0.3.0");
    json_decref(s);

    s = J("[1]");
    assert_int_equal(nvb_cdi_set_min_version(s, &err), -1);
    assert_non_null(strstr(err.msg, "expected an object"));
    json_decref(s);
}

static void known_versions_and_order(void **state)
{
    (void)state;
    const char *order[] = {"0.1.0", "0.2.0", "0.3.0", "0.4.0", "0.5.0", "0.6.0", "0.7.0", "0.8.0", "1.0.0", "1.1.0"};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        assert_true(nvb_cdi_version_known(order[i]));
        if (i > 0) {
            assert_true(nvb_cdi_version_compare(order[i - 1], order[i]) < 0);
            assert_true(nvb_cdi_version_compare(order[i], order[i - 1]) > 0);
        }
        assert_int_equal(nvb_cdi_version_compare(order[i], order[i]), 0);
    }
    assert_false(nvb_cdi_version_known("0.9.0"));
    assert_false(nvb_cdi_version_known("v0.5.0"));
    assert_false(nvb_cdi_version_known("0.5"));
    assert_false(nvb_cdi_version_known(NULL));
    assert_true(nvb_cdi_version_compare("0.9.0", "0.1.0") < 0);
    assert_string_equal(nvb_cdi_latest_version(), "1.1.0");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(base_features_need_030),
        cmocka_unit_test(mount_type_needs_040),
        cmocka_unit_test(host_path_and_digit_names_need_050),
        cmocka_unit_test(annotations_and_dotted_class_need_060),
        cmocka_unit_test(intel_rdt_and_gids_need_070),
        cmocka_unit_test(net_devices_and_new_rdt_fields_need_110),
        cmocka_unit_test(highest_feature_wins_and_first_one_is_named),
        cmocka_unit_test(generated_gpu_spec_is_050),
        cmocka_unit_test(wrong_types_are_ignored_not_fatal),
        cmocka_unit_test(set_min_version_keeps_the_field_first),
        cmocka_unit_test(known_versions_and_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
