/* nvbind device-plugin: the Kubernetes device plugin daemon (docs/kubernetes.md). */
#pragma once
#include "host/host.h"
#include "k8s/resources.h"
#include "k8s/rpc.h"

typedef struct nvb_dp_opts {
    const char *kubelet_dir;       /* NULL = /var/lib/kubelet */
    const char *cdi_dir;           /* NULL = /var/run/cdi */
    unsigned strategy;             /* enum nvb_dp_strategy bits; 0 = CDI */
    nvb_dp_inventory_opts inv;     /* --mig-strategy, --replicas, --resource */
    nvb_discover_opts discover;    /* host root, driver root, library folders */
    const char *hook_path;         /* the nvbind binary the spec's hooks run */
    unsigned poll_ms;              /* how often the host is rediscovered; 0 = 1000 */
    const char *claims_dir;        /* nvbind's GPU claims ([isolation] state_dir); NULL = /run/nvbind */
} nvb_dp_opts;

/* Serve until SIGTERM or SIGINT (which the caller has blocked in every thread). 0 on a clean
 * stop, -1 with err set when the plugin cannot start. */
int nvb_device_plugin_run(const nvb_dp_opts *o, nvb_err *err);

/* The plugin's socket file name for a resource: nvbind-nvidia.com-gpu.sock. */
char *nvb_dp_socket_name(const char *resource);
/* Make way for a socket at path: a socket nobody listens on (a crashed plugin's) is removed;
 * one that answers, or a file that is no socket, is an error. 0 or -1 with err set. */
int nvb_dp_socket_clear(const char *path, nvb_err *err);
