/* The device plugin's RPCs as plain functions: request bytes in, nvb_grpc_reply out
 * (serialized reply or a gRPC status with a message saying what was wrong and why). */
#pragma once
#include "k8s/grpc_server.h"
#include "k8s/resources.h"

enum nvb_dp_strategy {
    NVB_DP_STRATEGY_CDI = 1u << 0,     /* CDIDevices: nvidia.com/gpu=<UUID> */
    NVB_DP_STRATEGY_ENVVAR = 1u << 1,  /* NVIDIA_VISIBLE_DEVICES for nodes that run nvbind-runtime */
};

/* GetDevicePluginOptions: GetPreferredAllocation is offered, PreStartContainer is not. */
void nvb_dp_rpc_options(nvb_grpc_reply *out);
/* ListAndWatch's message: every device of r with its health and NUMA node. */
void nvb_dp_rpc_list(const nvb_dp_resource *r, nvb_grpc_reply *out);
/* GetPreferredAllocation: the must-include devices, then devices on their NUMA node (or the
 * node with most devices free), each on a GPU not yet picked before a second replica of one. */
void nvb_dp_rpc_preferred(const nvb_dp_resource *r, const uint8_t *req, size_t len, nvb_grpc_reply *out);
/* Allocate: per container, the CDI names and/or visible-devices variable of its devices.
 * Unknown or unhealthy ids are refused (INVALID_ARGUMENT, FAILED_PRECONDITION). On success
 * summary (when not NULL) names what each container got: "GPU-a,GPU-b; GPU-c". */
void nvb_dp_rpc_allocate(const nvb_dp_resource *r, unsigned strategy, const uint8_t *req, size_t len,
                         nvb_grpc_reply *out, char *summary, size_t summary_len);
/* PreStartContainer: nothing to do. */
void nvb_dp_rpc_empty(nvb_grpc_reply *out);

/* Set an error status on out; returns nothing so handlers can end with it. */
void nvb_dp_rpc_fail(nvb_grpc_reply *out, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

struct ProtobufCMessage;
/* Serialize msg into out (status OK), or fail with RESOURCE_EXHAUSTED when out of memory. */
void nvb_dp_rpc_pack(const struct ProtobufCMessage *msg, nvb_grpc_reply *out);
