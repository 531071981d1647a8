/* What the device plugin advertises: the host model turned into kubelet resources
 * (nvidia.com/gpu, nvidia.com/mig-1g.10gb, ...), each a list of devices with the CDI name
 * and the visible-devices value a container gets for it. A plain function of the host model. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "host/host.h"
#include "util/error.h"

enum nvb_dp_mig_strategy {
    NVB_DP_MIG_NONE,    /* MIG devices are not advertised: every GPU is a whole nvidia.com/gpu */
    NVB_DP_MIG_SINGLE,  /* MIG devices are advertised as nvidia.com/gpu */
    NVB_DP_MIG_MIXED,   /* MIG devices are advertised as nvidia.com/mig-<profile> */
};

typedef struct nvb_dp_device {
    char *id;          /* what the kubelet sees: the UUID (other vendors: the PCI bus id), or
                        * "ID::N" for replica N */
    char *uuid;        /* the GPU or MIG device behind it (other vendors: the bus id) */
    char *cdi_name;    /* fully qualified CDI name, e.g. nvidia.com/gpu=GPU-... */
    int numa_node;     /* -1 when unknown */
    unsigned gpu;      /* the (parent) GPU's index: devices of one GPU share it */
    uint64_t peers;    /* NVLink: bit i set when GPU index i is linked to this device's GPU */
    bool healthy;
} nvb_dp_device;

typedef struct nvb_dp_resource {
    char *name;               /* the kubelet resource name, e.g. nvidia.com/gpu */
    const char *env_name;     /* the visible-devices variable (--strategy envvar), NULL: none */
    char *cdi_kind;           /* the CDI spec its devices are named in: nvidia.com/gpu, amd.com/gpu */
    bool nvidia;              /* NVIDIA's: device.gpu is an NVIDIA GPU index (NVLink, XID, claims) */
    bool shared;              /* advertised with replicas (time-slicing) */
    nvb_dp_device *v;
    size_t n, cap;
} nvb_dp_resource;

typedef struct nvb_dp_inventory {
    nvb_dp_resource *v;
    size_t n, cap;
} nvb_dp_inventory;

typedef struct nvb_dp_inventory_opts {
    enum nvb_dp_mig_strategy mig;
    unsigned replicas;                /* 0 or 1: no time-slicing */
    const char *const *only;          /* NULL-terminated resource names to serve; NULL: all but
                                       * nvbind.drm/<driver>, served only when named */
} nvb_dp_inventory_opts;

/* Build the inventory of host h (every vendor's backend adds its resources). Resources
 * with no device are left out. 0, or -1 with err set. */
int nvb_dp_inventory_build(const nvb_host *h, const nvb_dp_inventory_opts *o, nvb_dp_inventory *out, nvb_err *err);
void nvb_dp_inventory_clear(nvb_dp_inventory *inv);
/* Free one resource's devices and names. */
void nvb_dp_resource_clear(nvb_dp_resource *r);

/* The resource named name, NULL when none. */
nvb_dp_resource *nvb_dp_inventory_find(nvb_dp_inventory *inv, const char *name);
/* The device with advertised id `id`, NULL when the resource has none. */
const nvb_dp_device *nvb_dp_resource_device(const nvb_dp_resource *r, const char *id);

/* Fold the current discovery `now` into `known` (the devices advertised so far): a device
 * that disappeared stays, marked unhealthy, so the kubelet stops handing it out; one that
 * came back is healthy again; new ones are added. Returns how many devices changed health or
 * appeared (0: nothing to tell the kubelet), -1 when out of memory. */
int nvb_dp_resource_merge(nvb_dp_resource *known, const nvb_dp_resource *now);

/* Resource names a backend may add, for --resource's check. */
bool nvb_dp_resource_name_valid(const char *name);
