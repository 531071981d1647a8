/* Every vendor through the C API (issue 13): the compatibility check, nvbind_get_gpu_info and
 * spec generation on fake hosts of AMD (with KFD topology), Intel, nouveau and NVIDIA + Intel
 * hybrid layouts. What is expected comes from the builder's manifest ("drm_gpus"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "api_test_util.h"

typedef struct layout {
    const char *options; /* fakehost.py build options */
    tu_host host;
} layout;

static layout layouts[] = {
    {"--no-driver --gpus 0 --drm-gpus amd,amd-mi210,amd-nokfd", {0}},
    {"--no-driver --gpus 0 --drm-gpus intel,intel-xe", {0}},
    {"--no-driver --gpus 0 --drm-gpus nouveau", {0}},
    {"--drm-gpus intel", {0}}, /* a laptop: NVIDIA dGPU under its driver, Intel iGPU */
};
#define N_LAYOUTS (sizeof layouts / sizeof *layouts)

static int setup(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_LAYOUTS; i++)
        if (tu_host_build(&layouts[i].host, layouts[i].options) < 0)
            return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_LAYOUTS; i++)
        tu_host_free(&layouts[i].host);
    return 0;
}

static nvbind_gpu_manager *manager(const layout *l)
{
    nvbind_manager_options o = tu_options(&l->host);
    nvbind_error *err = NULL;
    nvbind_gpu_manager *m = nvbind_gpu_manager_new(NULL, &o, &err);
    if (!m)
        fail_msg("manager: %s", nvbind_error_message(err));
    return m;
}

static json_t *drm_gpus(const layout *l)
{
    return json_object_get(l->host.manifest, "drm_gpus");
}

static bool has_nvidia(const layout *l)
{
    return json_object_get(l->host.manifest, "driver") && !json_is_null(json_object_get(l->host.manifest, "driver"));
}

/* The device nodes of spec device `name`, space-separated, in spec order. */
static void device_nodes(const nvbind_cdi_spec *s, const char *name, char *out, size_t size)
{
    out[0] = '\0';
    for (size_t i = 0; i < nvbind_cdi_spec_device_count(s); i++) {
        if (strcmp(nvbind_cdi_spec_device_name(s, i), name) != 0)
            continue;
        const nvbind_cdi_edits *e = nvbind_cdi_spec_device_edits(s, i);
        for (size_t j = 0; j < nvbind_cdi_edits_device_node_count(e); j++) {
            nvbind_cdi_device_node n;
            assert_int_equal(nvbind_cdi_edits_device_node(e, j, &n), 0);
            snprintf(out + strlen(out), size - strlen(out), "%s%s", out[0] ? " " : "", n.path);
        }
        return;
    }
    fail_msg("the spec has no device %s", name);
}

static void manifest_nodes(json_t *g, char *out, size_t size)
{
    out[0] = '\0';
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(g, "device_nodes"), i, p)
        snprintf(out + strlen(out), size - strlen(out), "%s%s", i ? " " : "", json_string_value(p));
}

static void test_compatibility(void **state)
{
    (void)state;
    for (size_t k = 0; k < N_LAYOUTS; k++) {
        nvbind_gpu_manager *m = manager(&layouts[k]);
        nvbind_compatibility *c = nvbind_check_bolt_gpu_compatibility(m, NULL);
        TU_NON_NULL(c);
        assert_true(c->gpus_available);
        assert_int_equal(c->other_gpu_count, json_array_size(drm_gpus(&layouts[k])));
        assert_int_equal(c->gpu_count, has_nvidia(&layouts[k]) ? 1 : 0);
        /* A host without NVIDIA's driver is not "not ready: install the NVIDIA driver". */
        for (size_t i = 0; i < c->check_count; i++)
            if (c->checks[i].level == NVBIND_CHECK_ERROR)
                assert_true(strcmp(c->checks[i].name, "driver") != 0 && strncmp(c->checks[i].name, "gpu:", 4) != 0);
        if (!has_nvidia(&layouts[k]))
            assert_string_equal(c->driver_version, "");
        nvbind_compatibility_free(c);
        nvbind_gpu_manager_free(m);
    }
}

static void test_gpu_info(void **state)
{
    (void)state;
    for (size_t k = 0; k < N_LAYOUTS; k++) {
        nvbind_gpu_manager *m = manager(&layouts[k]);
        nvbind_error *err = NULL;
        nvbind_gpu_list *l = nvbind_get_gpu_info(m, &err);
        if (!l)
            fail_msg("%s: %s", layouts[k].options, nvbind_error_message(err));
        json_t *want = drm_gpus(&layouts[k]);
        assert_int_equal(l->count, has_nvidia(&layouts[k]) ? 1 : 0);
        assert_int_equal(l->other_count, json_array_size(want));
        for (size_t i = 0; i < l->other_count; i++) {
            const nvbind_other_gpu *g = &l->others[i];
            json_t *w = json_array_get(want, i);
            assert_string_equal(g->kind, json_string_value(json_object_get(w, "kind")));
            assert_int_equal(g->index, json_integer_value(json_object_get(w, "index")));
            assert_string_equal(g->pci_bus_id, json_string_value(json_object_get(w, "pci_bus_id")));
            assert_string_equal(g->driver, json_string_value(json_object_get(w, "driver")));
            assert_string_equal(g->vendor, json_string_value(json_object_get(w, "vendor")));
            char id[16];
            snprintf(id, sizeof id, "0x%04x", g->vendor_id);
            assert_string_equal(id, json_string_value(json_object_get(w, "vendor_id")));
            json_t *kfd = json_object_get(w, "kfd_node");
            assert_int_equal(g->kfd_node, json_is_null(kfd) ? -1 : json_integer_value(kfd));
            char got[512] = "", exp[512];
            for (size_t j = 0; j < g->node_count; j++)
                snprintf(got + strlen(got), sizeof got - strlen(got), "%s%s", j ? " " : "", g->nodes[j]);
            manifest_nodes(w, exp, sizeof exp);
            assert_string_equal(got, exp);
        }
        nvbind_gpu_list_free(l);
        nvbind_gpu_manager_free(m);
    }
}

static void test_spec_per_kind(void **state)
{
    (void)state;
    for (size_t k = 0; k < N_LAYOUTS; k++) {
        nvbind_gpu_manager *m = manager(&layouts[k]);
        size_t i;
        json_t *w;
        json_array_foreach(drm_gpus(&layouts[k]), i, w) {
            const char *kind = json_string_value(json_object_get(w, "kind"));
            nvbind_error *err = NULL;
            nvbind_cdi_spec *s = nvbind_generate_cdi_spec_for_kind(m, kind, &err);
            if (!s)
                fail_msg("%s: %s", kind, nvbind_error_message(err));
            assert_string_equal(nvbind_cdi_spec_kind(s), kind);
            /* Nodes only: the image brings its own user space. */
            const nvbind_cdi_edits *shared = nvbind_cdi_spec_edits(s);
            assert_int_equal(nvbind_cdi_edits_mount_count(shared) + nvbind_cdi_edits_hook_count(shared) +
                                 nvbind_cdi_edits_env_count(shared),
                             0);
            char got[512], exp[512], idx[16];
            manifest_nodes(w, exp, sizeof exp);
            snprintf(idx, sizeof idx, "%lld", (long long)json_integer_value(json_object_get(w, "index")));
            device_nodes(s, idx, got, sizeof got);
            assert_string_equal(got, exp);
            device_nodes(s, json_string_value(json_object_get(w, "pci_bus_id")), got, sizeof got);
            assert_string_equal(got, exp);
            device_nodes(s, "all", got, sizeof got); /* every node of every GPU, /dev/kfd once */
            size_t j;
            json_t *p;
            json_array_foreach(json_object_get(w, "device_nodes"), j, p) {
                char word[128];
                snprintf(word, sizeof word, "%s ", json_string_value(p));
                strcat(got, " ");
                assert_non_null(strstr(got, word));
                got[strlen(got) - 1] = '\0';
            }
            char *kfd = strstr(got, "/dev/kfd");
            assert_true(!kfd || !strstr(kfd + 1, "/dev/kfd"));
            nvbind_cdi_spec_free(s);
        }
        nvbind_gpu_manager_free(m);
    }
}

/* The NVIDIA specs on a host without NVIDIA's driver say why (exit 3) and what it has. */
static void test_nvidia_specs_say_so(void **state)
{
    (void)state;
    nvbind_gpu_manager *m = manager(&layouts[0]);
    nvbind_error *err = NULL;
    assert_null(nvbind_generate_gaming_cdi_spec(m, &err));
    assert_int_equal(nvbind_error_code(err), 3);
    assert_non_null(strstr(nvbind_error_message(err), "amd.com/gpu"));
    nvbind_error_free(err);
    err = NULL;
    assert_null(nvbind_generate_cdi_spec_for_kind(m, "intel.com/gpu", &err));
    assert_int_equal(nvbind_error_code(err), 2);
    nvbind_error_free(err);
    nvbind_gpu_manager_free(m);
}

/* Hybrid laptop: the NVIDIA spec never carries the Intel iGPU's nodes, and the other way round. */
static void test_hybrid_specs_apart(void **state)
{
    (void)state;
    const layout *l = &layouts[3];
    nvbind_gpu_manager *m = manager(l);
    nvbind_cdi_spec *nv = nvbind_generate_cdi_spec_for_kind(m, "nvidia.com/gpu", NULL);
    nvbind_cdi_spec *in = nvbind_generate_cdi_spec_for_kind(m, "intel.com/gpu", NULL);
    TU_NON_NULL(nv);
    TU_NON_NULL(in);
    char *nv_text = nvbind_cdi_spec_to_json(nv, NULL), *in_text = nvbind_cdi_spec_to_json(in, NULL);
    TU_NON_NULL(nv_text);
    TU_NON_NULL(in_text);
    json_t *intel = json_array_get(drm_gpus(l), 0);
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(intel, "device_nodes"), i, p) {
        char quoted[128];
        snprintf(quoted, sizeof quoted, "\"%s\"", json_string_value(p));
        assert_null(strstr(nv_text, quoted));
        assert_non_null(strstr(in_text, quoted));
    }
    assert_null(strstr(in_text, "/dev/nvidia"));
    nvbind_string_free(nv_text);
    nvbind_string_free(in_text);
    nvbind_cdi_spec_free(nv);
    nvbind_cdi_spec_free(in);
    nvbind_gpu_manager_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compatibility),
        cmocka_unit_test(test_gpu_info),
        cmocka_unit_test(test_spec_per_kind),
        cmocka_unit_test(test_nvidia_specs_say_so),
        cmocka_unit_test(test_hybrid_specs_apart),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
