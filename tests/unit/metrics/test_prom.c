/* The Prometheus text of a snapshot: dcgm-exporter's labels, values NVML did not give left
 * out, label values escaped, and the containers' series. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "../common/test_util.h"
#include "metrics/prom.h"

static nvb_host *one_gpu(const char *name)
{
    nvb_host *h = calloc(1, sizeof *h);
    h->gpus = calloc(1, sizeof *h->gpus);
    h->n_gpus = 1;
    h->gpus[0] = (nvb_gpu){.index = 0, .minor = 3, .uuid = strdup("GPU-x"), .name = strdup(name),
                           .pci_bus_id = strdup("0000:c1:00.0")};
    return h;
}

static nvb_gpu_sample blank_sample(void)
{
    return (nvb_gpu_sample){.found = true, .gpu_util = 7, .mem_util = -1, .fb_used_mib = -1, .fb_free_mib = -1,
                            .fb_total_mib = -1, .temp_c = -1, .power_mw = 71005, .energy_mj = -1,
                            .sm_clock_mhz = -1, .mem_clock_mhz = -1, .pcie_tx_kbps = -1, .pcie_rx_kbps = -1,
                            .xid_last = -1, .xid_count = -1};
}

static void test_gpu_series(void **state)
{
    nvb_host *h = one_gpu("Tesla \"T4\"\\x\nnext");
    nvb_gpu_sample g = blank_sample();
    nvb_snapshot s = {.host = h, .nvml_up = true, .gpus = &g};
    snprintf(s.hostname, sizeof s.hostname, "node1");
    char *text = nvb_prom_render(&s, NULL, NULL);
    assert_non_null(text);
    assert_non_null(strstr(text, "# TYPE DCGM_FI_DEV_GPU_UTIL gauge\n"
                                 "DCGM_FI_DEV_GPU_UTIL{gpu=\"0\",UUID=\"GPU-x\",pci_bus_id=\"00000000:C1:00.0\","
                                 "device=\"nvidia3\",modelName=\"Tesla \\\"T4\\\"\\\\x\\nnext\",Hostname=\"node1\"} 7\n"));
    assert_non_null(strstr(text, "} 71.005\n"));
    /* What NVML did not answer has no series, not a -1. */
    assert_null(strstr(text, "DCGM_FI_DEV_GPU_TEMP"));
    assert_null(strstr(text, "} -1"));
    assert_non_null(strstr(text, "\nnvbind_nvml_up 1\n"));
    free(text);
    nvb_prom_opts o = {.snake_case_labels = true};
    text = nvb_prom_render(&s, &o, NULL);
    assert_non_null(strstr(text, ",model_name=\"Tesla"));
    assert_null(strstr(text, "modelName"));
    /* XIDs only when a sampler watched them (--interval). */
    assert_null(strstr(text, "XID"));
    free(text);
    g.xid_last = 79;
    g.xid_count = 2;
    text = nvb_prom_render(&s, &o, NULL);
    assert_non_null(strstr(text, "# TYPE DCGM_FI_DEV_XID_ERRORS gauge\nDCGM_FI_DEV_XID_ERRORS{gpu=\"0\""));
    assert_non_null(strstr(text, "Hostname=\"node1\"} 79\n# HELP nvbind_gpu_xid_errors_total"));
    assert_non_null(strstr(text, "# TYPE nvbind_gpu_xid_errors_total counter\nnvbind_gpu_xid_errors_total{gpu=\"0\""));
    /* NVML down: no GPU series at all. */
    s.nvml_up = false;
    free(text);
    text = nvb_prom_render(&s, NULL, NULL);
    assert_null(strstr(text, "DCGM_"));
    assert_non_null(strstr(text, "\nnvbind_nvml_up 0\n"));
    assert_non_null(strstr(text, "\nnvbind_gpus 1\n"));
    free(text);
    nvb_host_free(h);
}

static void test_container_series(void **state)
{
    nvb_host *h = one_gpu("T4");
    nvb_gpu_sample g = blank_sample();
    nvb_container_use uses[] = {{.gpu = 0, .container = "nvbind-1-a", .used_bytes = 1048576, .n_procs = 2},
                                {.gpu = 0, .container = "4b825dc642cb", .pod = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
                                 .used_bytes = 5, .n_procs = 1}};
    nvb_snapshot s = {.host = h, .nvml_up = true, .gpus = &g, .uses = uses, .n_uses = 2};
    snprintf(s.hostname, sizeof s.hostname, "node1");
    char *text = nvb_prom_render(&s, NULL, NULL);
    assert_non_null(strstr(text, "nvbind_container_gpu_memory_used_bytes{gpu=\"0\",UUID=\"GPU-x\",container=\"nvbind-1-a\","
                                 "Hostname=\"node1\"} 1048576\n"));
    assert_non_null(strstr(text, "nvbind_container_gpu_processes{gpu=\"0\",UUID=\"GPU-x\",container=\"4b825dc642cb\","
                                 "pod=\"0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0\",Hostname=\"node1\"} 1\n"));
    free(text);
    nvb_host_free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_gpu_series), cmocka_unit_test(test_container_series)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
