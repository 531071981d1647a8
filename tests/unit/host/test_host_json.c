/* `info --json` streams the host model; the C API builds the same document as a jansson
 * tree (nvb_host_to_json). Both must say the same thing, byte for byte once printed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/host_codec.h"
#include "host/host_json.h"

static void add_node(nvb_devnode_list *l, const char *path, unsigned major, unsigned minor)
{
    char host[256];
    snprintf(host, sizeof host, "/srv/h\xc3\xb4st%s", path);
    nvb_devnode n = {.path = (char *)path, .host_path = host, .type = 'c', .major = major, .minor = minor, .mode = 0660};
    assert_int_equal(nvb_devnode_list_add(l, &n), 0);
}

static void add_comp(nvb_host *h, enum nvb_component_kind kind, const char *path)
{
    h->comps = realloc(h->comps, (h->n_comps + 1) * sizeof *h->comps);
    assert_non_null(h->comps);
    char host[256];
    snprintf(host, sizeof host, "/srv/h\xc3\xb4st%s", path);
    h->comps[h->n_comps++] = (nvb_component){.kind = kind, .host_path = strdup(host), .container_path = strdup(path)};
}

/* Two GPUs: the first fully known (NVML, MIG), the second with nothing but /proc. */
static nvb_host *make_host(void)
{
    nvb_host *h = calloc(1, sizeof *h);
    h->root = strdup("/srv/h\xc3\xb4st");
    h->driver_root = strdup("/");
    h->driver_version = strdup("550.54.14");
    h->kmod = NVB_KMOD_PROPRIETARY;
    h->cuda_version = strdup("12.4");
    h->nvml_loaded = true;
    h->n_gpus = 2;
    h->gpus = calloc(2, sizeof *h->gpus);
    nvb_gpu *g = &h->gpus[0];
    *g = (nvb_gpu){.index = 0, .minor = 3, .vendor_id = 0x10de, .device_id = 0x20b2, .numa_node = 1,
                   .memory_mib = 81920, .cc_major = 8, .cc_minor = 0, .mig_mode = 1};
    g->uuid = strdup("GPU-d0c36ffa-e731-1c46-5188-fa56b6b2f16c");
    g->name = strdup("NVIDIA A100 \"SXM4\" 80GB\t\\");
    g->pci_bus_id = strdup("0000:01:00.0");
    g->brand = strdup("NVIDIA");
    add_node(&g->nodes, "/dev/nvidia3", 195, 3);
    add_node(&g->nodes, "/dev/dri/card0", 226, 0);
    g->n_migs = 1;
    g->migs = calloc(1, sizeof *g->migs);
    g->migs[0] = (nvb_mig_device){.gpu_index = 0, .mig_index = 0, .gi = 1, .ci = 0, .memory_mib = -1};
    g->migs[0].uuid = strdup("MIG-11111111-2222-3333-4444-555555555555");
    add_node(&g->migs[0].nodes, "/dev/nvidia-caps/nvidia-cap12", 509, 12);
    g = &h->gpus[1];
    *g = (nvb_gpu){.index = 1, .minor = 0, .numa_node = -1, .memory_mib = -1, .cc_major = -1, .cc_minor = -1,
                   .mig_mode = -1};
    g->uuid = strdup("GPU-ffffffff-e731-1c46-5188-fa56b6b2f16c");
    g->name = strdup("NVIDIA T4");
    g->pci_bus_id = strdup("0000:02:00.0");
    add_node(&h->nodes, "/dev/nvidiactl", 195, 255);
    add_node(&h->nodes, "/dev/nvidia-uvm", 510, 0);
    add_node(&h->cap_nodes, "/dev/nvidia-caps/nvidia-cap1", 509, 1);
    add_comp(h, NVB_COMP_LIBRARY, "/usr/lib/x86_64-linux-gnu/libcuda.so.550.54.14");
    add_comp(h, NVB_COMP_LIBRARY, "/usr/lib/i386-linux-gnu/libcuda.so.550.54.14");
    add_comp(h, NVB_COMP_BINARY, "/usr/bin/nvidia-smi");
    add_comp(h, NVB_COMP_IPC, "/run/nvidia-persistenced/socket");
    nvb_strv_push(&h->warnings, "GPU 1 (0000:02:00.0): /dev/nvidia0 is missing: No such file or directory");
    return h;
}

static void same_document(const nvb_host *h, bool detailed)
{
    json_t *tree = nvb_host_to_json(h, detailed);
    assert_non_null(tree);
    char *want = json_dumps(tree, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(tree);
    assert_non_null(want);
    nvb_jsonw w;
    nvb_jsonw_init(&w, 2, 64);
    nvb_host_write_json(&w, h, detailed);
    size_t len;
    char *got = nvb_jsonw_finish(&w, &len);
    assert_non_null(got);
    assert_int_equal(got[len - 1], '\n');
    got[len - 1] = '\0';
    assert_string_equal(got, want);
    free(got);
    free(want);
}

static void plain_and_detailed(void **state)
{
    (void)state;
    nvb_host *h = make_host();
    same_document(h, false);
    same_document(h, true);
    nvb_host_free(h);
}

static void empty_host(void **state)
{
    (void)state;
    nvb_host *h = calloc(1, sizeof *h);
    h->root = strdup("/");
    h->driver_root = strdup("/");
    h->driver_version = strdup("535.129.03");
    same_document(h, false);
    same_document(h, true);
    nvb_host_free(h);
}

/* Every vendor: a host of other drivers' GPUs only (driver null) and the drm_gpus array. */
static void vendors_host(void **state)
{
    (void)state;
    nvb_host *h = calloc(1, sizeof *h);
    h->root = strdup("/");
    h->driver_root = strdup("/");
    h->drm_gpus = calloc(2, sizeof *h->drm_gpus);
    h->n_drm_gpus = 2;
    h->drm_gpus[0] = (nvb_drm_gpu){.kind = "amd.com/gpu", .vendor = "amd", .driver = strdup("amdgpu"),
                                   .bus_id = strdup("0000:03:00.0"), .vendor_id = 0x1002, .device_id = 0x744c,
                                   .numa_node = 0, .render_minor = 128, .kfd_node = 1, .kfd_gpu_id = 41111};
    h->drm_gpus[1] = (nvb_drm_gpu){.kind = "intel.com/gpu", .vendor = "intel", .driver = strdup("i915"),
                                   .bus_id = strdup("0000:00:02.0"), .vendor_id = 0x8086, .device_id = 0xa780,
                                   .numa_node = -1, .render_minor = 129, .kfd_node = -1};
    char render[] = "/dev/dri/renderD128", kfd[] = "/dev/kfd";
    nvb_devnode n = {.path = render, .host_path = render, .type = 'c', .major = 226, .minor = 128, .mode = 0666};
    nvb_devnode_list_add(&h->drm_gpus[0].nodes, &n);
    n.path = n.host_path = kfd;
    nvb_devnode_list_add(&h->drm_gpus[0].nodes, &n);
    same_document(h, false);
    same_document(h, true);
    json_t *tree = nvb_host_to_json(h, false);
    assert_true(json_is_null(json_object_get(tree, "driver")));
    json_t *amd = json_array_get(json_object_get(tree, "drm_gpus"), 0);
    assert_string_equal(json_string_value(json_object_get(amd, "vendor_id")), "0x1002");
    assert_int_equal(json_integer_value(json_object_get(amd, "kfd_node")), 1);
    assert_int_equal(json_array_size(json_object_get(amd, "device_nodes")), 2);
    assert_true(json_is_null(json_object_get(json_array_get(json_object_get(tree, "drm_gpus"), 1), "numa_node")));
    json_decref(tree);
    nvb_host_free(h);
}

/* The host cache's record (host_codec.c): a model read back is the model written, in both
 * documents and in its own record; every cut of the record is refused. */
static void round_trip(nvb_host *h)
{
    nvb_bytes_out a = {0}, b = {0};
    nvb_host_encode(&a, h);
    assert_false(a.oom);
    nvb_bytes_in in = {a.v, a.v + a.n, false};
    nvb_host *back = nvb_host_decode(&in);
    assert_non_null(back);
    nvb_host_encode(&b, back);
    assert_int_equal(a.n, b.n);
    assert_memory_equal(a.v, b.v, a.n);
    for (int detailed = 0; detailed < 2; detailed++) {
        json_t *t1 = nvb_host_to_json(h, detailed), *t2 = nvb_host_to_json(back, detailed);
        char *s1 = json_dumps(t1, JSON_PRESERVE_ORDER), *s2 = json_dumps(t2, JSON_PRESERVE_ORDER);
        assert_string_equal(s1, s2);
        free(s1);
        free(s2);
        json_decref(t1);
        json_decref(t2);
    }
    for (size_t cut = 0; cut < a.n; cut++) {
        nvb_bytes_in part = {a.v, a.v + cut, false};
        assert_null(nvb_host_decode(&part));
    }
    nvb_host_free(back);
    free(a.v);
    free(b.v);
}

static void codec(void **state)
{
    (void)state;
    nvb_host *h = make_host();
    h->comps[0].soname = strdup("libcuda.so.1");
    h->comps[0].caps = NVB_CAP_COMPUTE | NVB_CAP_UTILITY;
    h->comps[3].is_dir = true;
    round_trip(h);
    nvb_host_free(h);
    h = calloc(1, sizeof *h);
    h->root = strdup("/");
    h->driver_root = strdup("/");
    h->wsl2 = true;
    h->wslg_pulse = strdup("/mnt/wslg/PulseServer");
    char dxg[] = "/dev/dxg";
    nvb_devnode n = {.path = dxg, .host_path = dxg, .type = 'c', .major = 10, .minor = 63, .mode = 0666};
    nvb_devnode_list_add(&h->wsl2_nodes, &n);
    round_trip(h);
    h->drm_gpus = calloc(1, sizeof *h->drm_gpus);
    h->n_drm_gpus = 1;
    h->drm_gpus[0] = (nvb_drm_gpu){.driver = strdup("xe"), .bus_id = strdup("0000:00:02.0"), .vendor_id = 0x8086,
                                   .numa_node = -1, .render_minor = 129, .kfd_node = -1};
    h->drm_gpus[0].vendor = "intel";
    h->drm_gpus[0].kind = "intel.com/gpu";
    round_trip(h);
    nvb_host_free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(plain_and_detailed),
        cmocka_unit_test(empty_host),
        cmocka_unit_test(vendors_host),
        cmocka_unit_test(codec),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
