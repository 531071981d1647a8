/* cdi generate's direct JSON writer must print exactly what the jansson path prints:
 * nvb_cdi_to_json(nvb_cdi_generate(...)), byte for byte, for every shape of host and
 * option that changes the spec (naming, kind, capabilities, extra edits, MIG, no GPU). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdi/cdi.h"
#include "host/host.h"
#include "policy/cdi_generate.h"
#include "policy/edits.h"

static void add_node(nvb_devnode_list *l, const char *path, unsigned major, unsigned minor, unsigned mode)
{
    char host[256];
    snprintf(host, sizeof host, "/srv/fake host/\"root\"%s", path); /* a space and quotes to escape */
    nvb_devnode n = {.path = (char *)path, .host_path = host, .type = 'c', .major = major, .minor = minor,
                     .mode = mode};
    assert_int_equal(nvb_devnode_list_add(l, &n), 0);
}

static void add_comp(nvb_host *h, enum nvb_component_kind kind, const char *container, unsigned caps,
                     const char *soname)
{
    if (h->n_comps == h->cap_comps) {
        h->cap_comps = h->cap_comps ? h->cap_comps * 2 : 16;
        h->comps = realloc(h->comps, h->cap_comps * sizeof *h->comps);
        assert_non_null(h->comps);
    }
    char host[512];
    snprintf(host, sizeof host, "/run/nvidia/driver%s", container);
    h->comps[h->n_comps++] = (nvb_component){
        .kind = kind, .host_path = strdup(host), .container_path = strdup(container), .caps = caps,
        .is_dir = kind == NVB_COMP_IPC && !soname, .soname = soname ? strdup(soname) : NULL};
}

/* A host with n_gpus GPUs (the first with two MIG devices when mig), shared nodes, every
 * kind of component; names with non-ASCII and control characters. */
static nvb_host *make_host(size_t n_gpus, bool mig)
{
    nvb_host *h = calloc(1, sizeof *h);
    h->root = strdup("/srv/fake host");
    h->driver_root = strdup("/run/nvidia/driver");
    h->driver_version = strdup("550.54.14");
    h->kmod = NVB_KMOD_OPEN;
    h->gpus = calloc(n_gpus ? n_gpus : 1, sizeof *h->gpus);
    h->n_gpus = n_gpus;
    for (size_t i = 0; i < n_gpus; i++) {
        nvb_gpu *g = &h->gpus[i];
        char s[128];
        g->index = (unsigned)i;
        g->minor = (unsigned)(n_gpus - 1 - i);
        snprintf(s, sizeof s, "GPU-%08zx-e731-1c46-5188-fa56b6b2f16c", i);
        g->uuid = strdup(s);
        g->name = strdup("NVIDIA A100 \xc3\xa9\tbeta"); /* é and a tab */
        snprintf(s, sizeof s, "0000:%02zx:00.0", i + 1);
        g->pci_bus_id = strdup(s);
        snprintf(s, sizeof s, "/dev/nvidia%u", g->minor);
        add_node(&g->nodes, s, 195, g->minor, 0666);
        snprintf(s, sizeof s, "/dev/dri/card%zu", i);
        add_node(&g->nodes, s, 226, (unsigned)i, 0660);
        snprintf(s, sizeof s, "/dev/dri/renderD%zu", 128 + i);
        add_node(&g->nodes, s, 226, (unsigned)(128 + i), 0666);
        g->memory_mib = -1;
        if (mig && i == 0) {
            g->n_migs = 2;
            g->migs = calloc(2, sizeof *g->migs);
            for (unsigned m = 0; m < 2; m++) {
                g->migs[m] = (nvb_mig_device){.gpu_index = 0, .mig_index = m, .gi = m + 1, .ci = 0, .memory_mib = 4864};
                snprintf(s, sizeof s, "MIG-%u1234567-89ab-cdef-0123-456789abcdef", m);
                g->migs[m].uuid = strdup(s);
                snprintf(s, sizeof s, "/dev/nvidia-caps/nvidia-cap%u", 10 + m);
                add_node(&g->migs[m].nodes, s, 509, 10 + m, 0444);
            }
        }
    }
    if (n_gpus) {
        add_node(&h->nodes, "/dev/nvidiactl", 195, 255, 0666);
        add_node(&h->nodes, "/dev/nvidia-modeset", 195, 254, 0666);
        add_node(&h->nodes, "/dev/nvidia-uvm", 510, 0, 0666);
        add_node(&h->nodes, "/dev/nvidia-uvm-tools", 510, 1, 0666);
    }
    add_comp(h, NVB_COMP_LIBRARY, "/usr/lib/x86_64-linux-gnu/libcuda.so.550.54.14", NVB_CAP_COMPUTE, "libcuda.so.1");
    add_comp(h, NVB_COMP_LIBRARY, "/usr/lib/x86_64-linux-gnu/libGLX_nvidia.so.550.54.14", NVB_CAP_GRAPHICS,
             "libGLX_nvidia.so.0");
    add_comp(h, NVB_COMP_LIBRARY, "/usr/lib/i386-linux-gnu/libcuda.so.550.54.14",
             NVB_CAP_COMPUTE | NVB_CAP_COMPAT32, "libcuda.so.1");
    add_comp(h, NVB_COMP_LIBRARY, "/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.550.54.14", NVB_CAP_UTILITY,
             "libnvidia-ml.so.1");
    add_comp(h, NVB_COMP_LIBRARY, "/usr/lib/x86_64-linux-gnu/libnvidia-ngx.so.550.54.14", NVB_CAP_NGX, NULL);
    add_comp(h, NVB_COMP_BINARY, "/usr/bin/nvidia-smi", NVB_CAP_UTILITY, NULL);
    add_comp(h, NVB_COMP_FIRMWARE, "/lib/firmware/nvidia/550.54.14/gsp_ga10x.bin", NVB_CAP_UTILITY | NVB_CAP_COMPUTE,
             NULL);
    add_comp(h, NVB_COMP_CONFIG, "/usr/share/vulkan/icd.d/nvidia_icd.json", NVB_CAP_GRAPHICS, NULL);
    add_comp(h, NVB_COMP_IPC, "/run/nvidia-persistenced/socket", NVB_CAP_UTILITY | NVB_CAP_COMPUTE, "sock");
    add_comp(h, NVB_COMP_IPC, "/tmp/nvidia-mps", NVB_CAP_COMPUTE, NULL);
    return h;
}

/* Both writers on the same host and options: identical text, and the version expected. */
static void same_text(const nvb_host *h, const nvb_cdi_gen_opts *o, const char *want_version)
{
    nvb_err e1 = {0}, e2 = {0};
    json_t *spec = nvb_cdi_generate(h, o, &e1);
    assert_non_null(spec);
    char *want = nvb_cdi_to_json(spec);
    assert_non_null(want);
    assert_string_equal(json_string_value(json_object_get(spec, "cdiVersion")), want_version);
    json_decref(spec);
    size_t len = 0;
    char *got = nvb_cdi_generate_json(h, o, &len, &e2);
    if (!got)
        fail_msg("nvb_cdi_generate_json: %s", e2.msg);
    assert_int_equal(len, strlen(got));
    assert_string_equal(got, want);
    free(got);
    free(want);
}

static void default_spec(void **state)
{
    (void)state;
    nvb_host *h = make_host(3, false);
    nvb_cdi_gen_opts o = {.hook_path = "/usr/bin/nvbind"};
    same_text(h, &o, "0.5.0");
    nvb_host_free(h);
}

static void every_naming(void **state)
{
    (void)state;
    nvb_host *h = make_host(2, true);
    static const unsigned namings[] = {
        NVB_NAMING_INDEX, NVB_NAMING_UUID, NVB_NAMING_TYPE_INDEX,
        NVB_NAMING_INDEX | NVB_NAMING_UUID | NVB_NAMING_TYPE_INDEX, NVB_NAMING_UUID | NVB_NAMING_TYPE_INDEX};
    for (size_t i = 0; i < sizeof namings / sizeof namings[0]; i++) {
        nvb_cdi_gen_opts o = {.naming = namings[i], .hook_path = "/opt/nvbind/bin/nvbind"};
        same_text(h, &o, "0.5.0");
    }
    nvb_host_free(h);
}

static void kinds_caps_extras(void **state)
{
    (void)state;
    nvb_host *h = make_host(1, false);
    nvb_edits extra = {0};
    assert_int_equal(nvb_edits_setenv(&extra, "BOLT_GPU_ENABLED", "1"), 0);
    assert_int_equal(nvb_edits_setenv(&extra, "NVIDIA_VISIBLE_DEVICES", "all"), 0); /* replaces "void" */
    assert_int_equal(nvb_edits_add_mount(&extra, "/srv/x", "/x", true), 0);
    nvb_cdi_gen_opts o = {.kind = "example.com/gpu.v2", .hook_path = "/usr/bin/nvbind"};
    same_text(h, &o, "0.6.0"); /* '.' in the class */
    o = (nvb_cdi_gen_opts){.kind = "nvidia.com/gpu-bolt", .caps = NVB_CAP_COMPUTE | NVB_CAP_UTILITY,
                           .extra = &extra, .naming = NVB_NAMING_UUID};
    same_text(h, &o, "0.5.0"); /* no hooks, compute only, capsule environment */
    o.caps = NVB_CAP_ALL;
    same_text(h, &o, "0.5.0");
    nvb_edits_clear(&extra);
    nvb_host_free(h);
}

static void no_gpu(void **state)
{
    (void)state;
    /* No GPU and no node: no device at all, nothing that needs more than the base version. */
    nvb_host *h = make_host(0, false);
    nvb_cdi_gen_opts o = {.hook_path = "/usr/bin/nvbind"};
    same_text(h, &o, "0.3.0");
    nvb_host_free(h);
}

static void bad_input_is_an_error(void **state)
{
    (void)state;
    nvb_host *h = make_host(1, false);
    nvb_err err = {0};
    nvb_cdi_gen_opts o = {.kind = "not a kind"};
    assert_null(nvb_cdi_generate_json(h, &o, NULL, &err));
    assert_int_equal(err.exit_code, NVB_EXIT_USAGE);
    /* A host path that is not UTF-8 cannot be written as JSON: refused, as the tree refuses it. */
    free(h->comps[0].host_path);
    h->comps[0].host_path = strdup("/usr/lib/libcuda\xff.so");
    o = (nvb_cdi_gen_opts){0};
    memset(&err, 0, sizeof err);
    assert_null(nvb_cdi_generate_json(h, &o, NULL, &err));
    assert_non_null(strstr(err.msg, "UTF-8"));
    assert_null(nvb_cdi_generate(h, &o, &err));
    nvb_host_free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(default_spec),
        cmocka_unit_test(every_naming),
        cmocka_unit_test(kinds_caps_extras),
        cmocka_unit_test(no_gpu),
        cmocka_unit_test(bad_input_is_an_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
