/* GetPreferredAllocation: which of the free devices a container should get, so the kubelet
 * keeps a pod's GPUs on one NUMA node and spreads time-sliced replicas over GPUs. */
#include "k8s/api.h"
#include "k8s/rpc.h"

#include <grpc/status.h>
#include <stdlib.h>
#include <string.h>

struct choice {
    const nvb_dp_device **v;
    size_t n;
};

static bool chosen(const struct choice *c, const nvb_dp_device *d)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->v[i] == d)
            return true;
    return false;
}

static bool gpu_taken(const struct choice *c, unsigned gpu)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->v[i]->gpu == gpu)
            return true;
    return false;
}

/* The NUMA node to fill: the first must-include device's, else the one with most free
 * devices (lowest number on a tie); -1 when no device knows its node. */
static int target_node(const struct choice *must, const nvb_dp_device **avail, size_t n_avail)
{
    for (size_t i = 0; i < must->n; i++)
        if (must->v[i]->numa_node >= 0)
            return must->v[i]->numa_node;
    int best = -1;
    size_t best_count = 0;
    for (size_t i = 0; i < n_avail; i++) {
        int node = avail[i]->numa_node;
        size_t count = 0;
        for (size_t j = 0; j < n_avail; j++)
            count += avail[j]->numa_node == node;
        if (node >= 0 && (count > best_count || (count == best_count && node < best))) {
            best = node;
            best_count = count;
        }
    }
    return best;
}

/* Whether d's GPU has an NVLink to every GPU chosen so far (true when none is). */
static bool linked(const struct choice *c, const nvb_dp_device *d)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->v[i]->gpu != d->gpu && (c->v[i]->gpu >= 64 || !(d->peers & (1ull << c->v[i]->gpu))))
            return false;
    return true;
}

/* Add free devices until size: passes from most to least preferred (same node, a new GPU and
 * NVLinked to those chosen; same node and a new GPU; same node; a new GPU; anything). */
static void fill(struct choice *c, const nvb_dp_device **avail, size_t n_avail, int node, size_t size)
{
    for (int pass = 0; pass < 5 && c->n < size; pass++) {
        for (size_t i = 0; i < n_avail && c->n < size; i++) {
            const nvb_dp_device *d = avail[i];
            bool same_node = node < 0 || d->numa_node == node;
            bool new_gpu = !gpu_taken(c, d->gpu);
            bool ok = pass == 0   ? same_node && new_gpu && d->peers && linked(c, d)
                      : pass == 1 ? same_node && new_gpu
                      : pass == 2 ? same_node
                      : pass == 3 ? new_gpu
                                  : true;
            if (ok && !chosen(c, d))
                c->v[c->n++] = d;
        }
    }
}

static bool prefer_one(const nvb_dp_resource *r, const V1beta1__ContainerPreferredAllocationRequest *rq,
                       V1beta1__ContainerPreferredAllocationResponse *resp, nvb_grpc_reply *out)
{
    size_t cap = rq->n_available_deviceids + rq->n_must_include_deviceids + 1;
    const nvb_dp_device **avail = calloc(cap, sizeof *avail);
    struct choice c = {.v = calloc(cap, sizeof *c.v)};
    resp->deviceids = calloc(cap, sizeof *resp->deviceids);
    if (!avail || !c.v || !resp->deviceids) {
        free(avail);
        free(c.v);
        nvb_dp_rpc_fail(out, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        return false;
    }
    for (size_t i = 0; i < rq->n_must_include_deviceids; i++) {
        const nvb_dp_device *d = nvb_dp_resource_device(r, rq->must_include_deviceids[i]);
        if (!d) {
            nvb_dp_rpc_fail(out, GRPC_STATUS_INVALID_ARGUMENT,
                            "GetPreferredAllocation: unknown device id '%s' for resource %s",
                            rq->must_include_deviceids[i], r->name);
            free(avail);
            free(c.v);
            return false;
        }
        if (!chosen(&c, d))
            c.v[c.n++] = d;
    }
    /* Each device once: a request repeating one id 80,000 times would otherwise make the
     * node count below quadratic in it, seconds of the plugin's only thread. */
    bool *listed = calloc(r->n + 1, sizeof *listed);
    if (!listed) {
        free(avail);
        free(c.v);
        nvb_dp_rpc_fail(out, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        return false;
    }
    size_t n_avail = 0;
    for (size_t i = 0; i < rq->n_available_deviceids; i++) {
        const nvb_dp_device *d = nvb_dp_resource_device(r, rq->available_deviceids[i]);
        if (d && d->healthy && !listed[d - r->v] && !chosen(&c, d))
            avail[n_avail++] = d; /* unknown ids are not ours to offer */
        if (d)
            listed[d - r->v] = true;
    }
    free(listed);
    size_t size = rq->allocation_size > 0 ? (size_t)rq->allocation_size : 0;
    fill(&c, avail, n_avail, target_node(&c, avail, n_avail), size);
    for (size_t i = 0; i < c.n; i++)
        resp->deviceids[i] = c.v[i]->id;
    resp->n_deviceids = c.n;
    free(avail);
    free(c.v);
    return true;
}

void nvb_dp_rpc_preferred(const nvb_dp_resource *r, const uint8_t *req, size_t len, nvb_grpc_reply *out)
{
    V1beta1__PreferredAllocationRequest *rq = v1beta1__preferred_allocation_request__unpack(NULL, len, req);
    if (!rq) {
        nvb_dp_rpc_fail(out, GRPC_STATUS_INVALID_ARGUMENT,
                        "GetPreferredAllocation: the request is not a valid PreferredAllocationRequest");
        return;
    }
    size_t nc = rq->n_container_requests;
    V1beta1__ContainerPreferredAllocationResponse *resp = calloc(nc + 1, sizeof *resp);
    V1beta1__ContainerPreferredAllocationResponse **ptrs = calloc(nc + 1, sizeof *ptrs);
    bool ok = resp && ptrs;
    if (!ok)
        nvb_dp_rpc_fail(out, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    for (size_t c = 0; ok && c < nc; c++) {
        v1beta1__container_preferred_allocation_response__init(&resp[c]);
        ptrs[c] = &resp[c];
        ok = prefer_one(r, rq->container_requests[c], &resp[c], out);
    }
    if (ok) {
        V1beta1__PreferredAllocationResponse msg = V1BETA1__PREFERRED_ALLOCATION_RESPONSE__INIT;
        msg.n_container_responses = nc;
        msg.container_responses = ptrs;
        nvb_dp_rpc_pack(&msg.base, out);
    }
    for (size_t c = 0; resp && c < nc; c++)
        free(resp[c].deviceids);
    free(resp);
    free(ptrs);
    v1beta1__preferred_allocation_request__free_unpacked(rq, NULL);
}
