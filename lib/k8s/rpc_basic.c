/* The small RPCs: options, the ListAndWatch message, PreStartContainer, and packing. */
#include "k8s/rpc.h"
#include "k8s/api.h"

#include <grpc/status.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void nvb_dp_rpc_fail(nvb_grpc_reply *out, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->message, sizeof out->message, fmt, ap);
    va_end(ap);
    out->status = status;
    free(out->data);
    out->data = NULL;
    out->len = 0;
}

void nvb_dp_rpc_pack(const struct ProtobufCMessage *msg, nvb_grpc_reply *out)
{
    size_t n = protobuf_c_message_get_packed_size(msg);
    out->data = malloc(n ? n : 1);
    if (!out->data) {
        nvb_dp_rpc_fail(out, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    out->len = protobuf_c_message_pack(msg, out->data);
    out->status = GRPC_STATUS_OK;
}

void nvb_dp_rpc_options(nvb_grpc_reply *out)
{
    V1beta1__DevicePluginOptions o = V1BETA1__DEVICE_PLUGIN_OPTIONS__INIT;
    o.get_preferred_allocation_available = 1;
    nvb_dp_rpc_pack(&o.base, out);
}

void nvb_dp_rpc_empty(nvb_grpc_reply *out)
{
    V1beta1__PreStartContainerResponse r = V1BETA1__PRE_START_CONTAINER_RESPONSE__INIT;
    nvb_dp_rpc_pack(&r.base, out);
}

void nvb_dp_rpc_list(const nvb_dp_resource *r, nvb_grpc_reply *out)
{
    V1beta1__Device *devs = calloc(r->n + 1, sizeof *devs);
    V1beta1__Device **ptrs = calloc(r->n + 1, sizeof *ptrs);
    V1beta1__TopologyInfo *topo = calloc(r->n + 1, sizeof *topo);
    V1beta1__NUMANode *numa = calloc(r->n + 1, sizeof *numa);
    V1beta1__NUMANode **numa_ptrs = calloc(r->n + 1, sizeof *numa_ptrs);
    if (!devs || !ptrs || !topo || !numa || !numa_ptrs) {
        nvb_dp_rpc_fail(out, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < r->n; i++) {
        const nvb_dp_device *d = &r->v[i];
        v1beta1__device__init(&devs[i]);
        devs[i].id = d->id;
        devs[i].health = (char *)(d->healthy ? "Healthy" : "Unhealthy");
        if (d->numa_node >= 0) {
            /* The kubelet's topology manager aligns on this; unknown stays unset. */
            v1beta1__numanode__init(&numa[i]);
            numa[i].id = d->numa_node;
            numa_ptrs[i] = &numa[i];
            v1beta1__topology_info__init(&topo[i]);
            topo[i].n_nodes = 1;
            topo[i].nodes = &numa_ptrs[i];
            devs[i].topology = &topo[i];
        }
        ptrs[i] = &devs[i];
    }
    V1beta1__ListAndWatchResponse msg = V1BETA1__LIST_AND_WATCH_RESPONSE__INIT;
    msg.n_devices = r->n;
    msg.devices = ptrs;
    nvb_dp_rpc_pack(&msg.base, out);
done:
    free(devs);
    free(ptrs);
    free(topo);
    free(numa);
    free(numa_ptrs);
}
