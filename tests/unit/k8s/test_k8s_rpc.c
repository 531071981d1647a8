/* lib/k8s: the inventory built from a host model and the RPCs as functions of it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <grpc/status.h>
#include <stdlib.h>
#include <string.h>

#include "k8s/api.h"
#include "k8s/resources.h"
#include "k8s/rpc.h"

/* Four GPUs, two per NUMA node; GPU 3 has two MIG devices of profile 1g.10gb. */
static nvb_mig_device migs[2] = {
    {.gpu_index = 3, .mig_index = 0, .uuid = (char *)"MIG-a", .profile = (char *)"1g.10gb"},
    {.gpu_index = 3, .mig_index = 1, .uuid = (char *)"MIG-b", .profile = (char *)"1g.10gb"},
};
static nvb_gpu gpus[4] = {
    {.index = 0, .uuid = (char *)"GPU-0", .numa_node = 0},
    {.index = 1, .uuid = (char *)"GPU-1", .numa_node = 0},
    {.index = 2, .uuid = (char *)"GPU-2", .numa_node = 1},
    {.index = 3, .uuid = (char *)"GPU-3", .numa_node = 1, .migs = migs, .n_migs = 2},
};
static nvb_host host = {.gpus = gpus, .n_gpus = 4};

static void test_inventory_mig_strategies(void **state)
{
    nvb_dp_inventory inv;
    nvb_err err = {0};
    nvb_dp_inventory_opts o = {.mig = NVB_DP_MIG_NONE};
    assert_int_equal(nvb_dp_inventory_build(&host, &o, &inv, &err), 0);
    assert_int_equal(inv.n, 1);
    assert_string_equal(inv.v[0].name, "nvidia.com/gpu");
    assert_int_equal(inv.v[0].n, 4);
    assert_string_equal(inv.v[0].v[3].cdi_name, "nvidia.com/gpu=GPU-3");
    nvb_dp_inventory_clear(&inv);

    o.mig = NVB_DP_MIG_MIXED;
    assert_int_equal(nvb_dp_inventory_build(&host, &o, &inv, &err), 0);
    assert_int_equal(inv.n, 2);
    nvb_dp_resource *m = nvb_dp_inventory_find(&inv, "nvidia.com/mig-1g.10gb");
    assert_non_null(m);
    assert_int_equal(m->n, 2);
    assert_string_equal(m->v[1].cdi_name, "nvidia.com/gpu=MIG-b");
    assert_int_equal(m->v[1].numa_node, 1);
    assert_int_equal(nvb_dp_inventory_find(&inv, "nvidia.com/gpu")->n, 3);
    nvb_dp_inventory_clear(&inv);

    o.mig = NVB_DP_MIG_SINGLE;
    assert_int_equal(nvb_dp_inventory_build(&host, &o, &inv, &err), 0);
    assert_int_equal(inv.n, 1);
    assert_int_equal(inv.v[0].n, 5);
    nvb_dp_inventory_clear(&inv);

    migs[1].profile = NULL; /* NVML did not name it */
    o.mig = NVB_DP_MIG_MIXED;
    assert_int_equal(nvb_dp_inventory_build(&host, &o, &inv, &err), -1);
    assert_string_equal(err.msg, "GPU 3: NVML did not name the profile of MIG device MIG-b (needed by --mig-strategy mixed)");
    migs[1].profile = (char *)"1g.10gb";
}

/* Other vendors' GPUs: a resource per kind, devices by bus id, no visible-devices variable;
 * nvbind.drm/<driver> only when --resource names it. */
static void test_inventory_other_vendors(void **state)
{
    nvb_drm_gpu drm[3] = {
        {.kind = "amd.com/gpu", .bus_id = (char *)"0000:c1:00.0", .index = 0, .numa_node = 1},
        {.kind = "amd.com/gpu", .bus_id = (char *)"0000:03:00.0", .index = 1, .numa_node = -1},
        {.kind = "nvbind.drm/nouveau", .bus_id = (char *)"0000:05:00.0", .numa_node = -1},
    };
    nvb_host h = host;
    h.drm_gpus = drm;
    h.n_drm_gpus = 3;
    nvb_dp_inventory inv;
    nvb_err err = {0};
    nvb_dp_inventory_opts o = {0};
    assert_int_equal(nvb_dp_inventory_build(&h, &o, &inv, &err), 0);
    assert_int_equal(inv.n, 2);
    assert_true(inv.v[0].nvidia);
    nvb_dp_resource *amd = nvb_dp_inventory_find(&inv, "amd.com/gpu");
    assert_non_null(amd);
    assert_false(amd->nvidia);
    assert_null(amd->env_name);
    assert_string_equal(amd->cdi_kind, "amd.com/gpu");
    assert_int_equal(amd->n, 2);
    assert_string_equal(amd->v[0].id, "0000:c1:00.0");
    assert_string_equal(amd->v[0].cdi_name, "amd.com/gpu=0000:c1:00.0");
    assert_int_equal(amd->v[0].numa_node, 1);
    assert_null(nvb_dp_inventory_find(&inv, "nvbind.drm/nouveau"));
    nvb_dp_inventory_clear(&inv);

    const char *only[] = {"nvbind.drm/nouveau", NULL};
    o.only = only;
    assert_int_equal(nvb_dp_inventory_build(&h, &o, &inv, &err), 0);
    assert_int_equal(inv.n, 1);
    assert_string_equal(inv.v[0].v[0].cdi_name, "nvbind.drm/nouveau=0000:05:00.0");
    nvb_dp_inventory_clear(&inv);
}

static void test_replicas_and_merge(void **state)
{
    nvb_dp_inventory known, now;
    nvb_err err = {0};
    nvb_dp_inventory_opts o = {.replicas = 2};
    assert_int_equal(nvb_dp_inventory_build(&host, &o, &known, &err), 0);
    assert_int_equal(known.v[0].n, 8);
    assert_true(known.v[0].shared);
    assert_string_equal(known.v[0].v[1].id, "GPU-0::1");
    assert_string_equal(known.v[0].v[1].uuid, "GPU-0");
    /* GPU 1 disappears: its two replicas turn unhealthy, stay listed. */
    host.n_gpus = 1;
    assert_int_equal(nvb_dp_inventory_build(&host, &o, &now, &err), 0);
    host.n_gpus = 4;
    assert_int_equal(nvb_dp_resource_merge(&known.v[0], &now.v[0]), 6);
    assert_int_equal(known.v[0].n, 8);
    assert_true(known.v[0].v[0].healthy);
    assert_false(known.v[0].v[2].healthy);
    assert_int_equal(nvb_dp_resource_merge(&known.v[0], &now.v[0]), 0);
    nvb_dp_inventory_clear(&now);
    nvb_dp_inventory_clear(&known);
    assert_true(nvb_dp_resource_name_valid("amd.com/gpu"));
    assert_false(nvb_dp_resource_name_valid("gpu"));
    assert_false(nvb_dp_resource_name_valid("nvidia/gpu"));
    assert_false(nvb_dp_resource_name_valid("nvidia.com/gpu/x"));
}

static V1beta1__PreferredAllocationResponse *prefer(const nvb_dp_resource *r, char **avail, size_t n_avail,
                                                    char **must, size_t n_must, int size)
{
    V1beta1__ContainerPreferredAllocationRequest c = V1BETA1__CONTAINER_PREFERRED_ALLOCATION_REQUEST__INIT;
    c.available_deviceids = avail;
    c.n_available_deviceids = n_avail;
    c.must_include_deviceids = must;
    c.n_must_include_deviceids = n_must;
    c.allocation_size = size;
    V1beta1__ContainerPreferredAllocationRequest *cp = &c;
    V1beta1__PreferredAllocationRequest rq = V1BETA1__PREFERRED_ALLOCATION_REQUEST__INIT;
    rq.container_requests = &cp;
    rq.n_container_requests = 1;
    uint8_t buf[1024];
    size_t len = v1beta1__preferred_allocation_request__pack(&rq, buf);
    nvb_grpc_reply out = {0};
    nvb_dp_rpc_preferred(r, buf, len, &out);
    assert_int_equal(out.status, GRPC_STATUS_OK);
    V1beta1__PreferredAllocationResponse *resp = v1beta1__preferred_allocation_response__unpack(NULL, out.len, out.data);
    free(out.data);
    assert_non_null(resp);
    return resp;
}

static void test_preferred_numa_then_spread(void **state)
{
    nvb_dp_inventory inv;
    nvb_err err = {0};
    nvb_dp_inventory_opts o = {.replicas = 2};
    assert_int_equal(nvb_dp_inventory_build(&host, &o, &inv, &err), 0);
    char *all[] = {(char *)"GPU-0::0", (char *)"GPU-0::1", (char *)"GPU-1::0", (char *)"GPU-1::1", (char *)"GPU-2::0", (char *)"GPU-2::1", (char *)"GPU-3::0", (char *)"GPU-3::1"};
    char *must[] = {(char *)"GPU-2::1"};
    V1beta1__PreferredAllocationResponse *r = prefer(&inv.v[0], all, 8, must, 1, 3);
    assert_int_equal(r->container_responses[0]->n_deviceids, 3);
    /* Node 1 first, a new GPU before a second replica of one. */
    assert_string_equal(r->container_responses[0]->deviceids[0], "GPU-2::1");
    assert_string_equal(r->container_responses[0]->deviceids[1], "GPU-3::0");
    assert_string_equal(r->container_responses[0]->deviceids[2], "GPU-2::0");
    v1beta1__preferred_allocation_response__free_unpacked(r, NULL);
    nvb_dp_inventory_clear(&inv);
}

static nvb_grpc_reply allocate(const nvb_dp_resource *r, unsigned strategy, char **ids, size_t n, char *summary)
{
    V1beta1__ContainerAllocateRequest c = V1BETA1__CONTAINER_ALLOCATE_REQUEST__INIT;
    c.devices_ids = ids;
    c.n_devices_ids = n;
    V1beta1__ContainerAllocateRequest *cp = &c;
    V1beta1__AllocateRequest rq = V1BETA1__ALLOCATE_REQUEST__INIT;
    rq.container_requests = &cp;
    rq.n_container_requests = 1;
    uint8_t buf[1024];
    size_t len = v1beta1__allocate_request__pack(&rq, buf);
    nvb_grpc_reply out = {0};
    nvb_dp_rpc_allocate(r, strategy, buf, len, &out, summary, 256);
    return out;
}

static void test_allocate(void **state)
{
    nvb_dp_inventory inv;
    nvb_err err = {0};
    nvb_dp_inventory_opts o = {.replicas = 2};
    assert_int_equal(nvb_dp_inventory_build(&host, &o, &inv, &err), 0);
    char summary[256];
    char *two_of_one[] = {(char *)"GPU-1::0", (char *)"GPU-1::1", (char *)"GPU-3::0"};
    nvb_grpc_reply out = allocate(&inv.v[0], NVB_DP_STRATEGY_CDI | NVB_DP_STRATEGY_ENVVAR, two_of_one, 3, summary);
    assert_int_equal(out.status, GRPC_STATUS_OK);
    assert_string_equal(summary, "GPU-1,GPU-3");
    V1beta1__AllocateResponse *r = v1beta1__allocate_response__unpack(NULL, out.len, out.data);
    free(out.data);
    V1beta1__ContainerAllocateResponse *c = r->container_responses[0];
    assert_int_equal(c->n_cdi_devices, 2);
    assert_string_equal(c->cdi_devices[0]->name, "nvidia.com/gpu=GPU-1");
    assert_string_equal(c->cdi_devices[1]->name, "nvidia.com/gpu=GPU-3");
    assert_int_equal(c->n_envs, 1);
    assert_string_equal(c->envs[0]->key, "NVIDIA_VISIBLE_DEVICES");
    assert_string_equal(c->envs[0]->value, "GPU-1,GPU-3");
    assert_int_equal(c->n_annotations, 1);
    assert_string_equal(c->annotations[0]->value, "shared");
    v1beta1__allocate_response__free_unpacked(r, NULL);

    char *unknown[] = {(char *)"GPU-0::0", (char *)"GPU-9"};
    out = allocate(&inv.v[0], NVB_DP_STRATEGY_CDI, unknown, 2, summary);
    assert_int_equal(out.status, GRPC_STATUS_INVALID_ARGUMENT);
    assert_string_equal(out.message, "Allocate: unknown device id 'GPU-9' for resource nvidia.com/gpu");
    assert_null(out.data);

    inv.v[0].v[4].healthy = false; /* GPU-2::0 */
    char *sick[] = {(char *)"GPU-2::0"};
    out = allocate(&inv.v[0], NVB_DP_STRATEGY_CDI, sick, 1, summary);
    assert_int_equal(out.status, GRPC_STATUS_FAILED_PRECONDITION);
    assert_non_null(strstr(out.message, "device 'GPU-2::0' of resource nvidia.com/gpu is unhealthy"));

    uint8_t garbage[] = {0xff, 0xff, 0xff};
    out = (nvb_grpc_reply){0};
    nvb_dp_rpc_allocate(&inv.v[0], NVB_DP_STRATEGY_CDI, garbage, sizeof garbage, &out, NULL, 0);
    assert_int_equal(out.status, GRPC_STATUS_INVALID_ARGUMENT);
    nvb_dp_inventory_clear(&inv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inventory_mig_strategies),
        cmocka_unit_test(test_inventory_other_vendors),
        cmocka_unit_test(test_replicas_and_merge),
        cmocka_unit_test(test_preferred_numa_then_spread),
        cmocka_unit_test(test_allocate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
