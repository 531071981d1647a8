/* Internal to the device plugin daemon (plugin.c, health.c, spec.c): the state they share. */
#pragma once
#include <grpc/grpc.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "k8s/grpc_server.h"
#include "k8s/plugin.h"
#include "k8s/xid.h"
#include "util/strv.h"

#define KUBELET_API_VERSION "v1beta1"
#define REGISTER_TIMEOUT_MS 5000
#define REGISTER_RETRY_MS 2000
#define KUBELET_WATCH_MS 200
#define SPEC_CHECK_MS 30000

struct dp_state;

/* A CDI spec the plugin wrote (nvidia.com/gpu, amd.com/gpu, ...), as written. */
struct dp_spec {
    char *kind;
    char *path;
    bool dirty;                 /* devices changed since the spec was written */
    uint64_t next_check_ms;     /* when the spec is next regenerated and compared anyway */
    struct stat st;             /* the spec file as written, to see it removed or replaced */
};

/* One resource's gRPC server and socket. */
struct endpoint {
    struct dp_state *st;
    size_t res;             /* index into st->known */
    char *sock_name, *sock_path;
    nvb_grpc_server *srv;
    dev_t sock_dev;         /* the socket as served, to tell it from one made anew in its place */
    ino_t sock_ino;
};

struct dp_state {
    const nvb_dp_opts *o;
    grpc_completion_queue *cq;
    nvb_host *host;             /* the latest discovery that worked */
    nvb_dp_inventory known;     /* every device advertised since start, with its health */
    struct endpoint *eps;
    size_t n_eps;
    char *plugin_dir, *kubelet_sock;
    dev_t kubelet_dev;          /* the kubelet.sock registered with; 0/0: not registered */
    ino_t kubelet_ino;
    struct timespec kubelet_ctime;  /* with the inode: a new socket may reuse a freed inode */
    uint64_t next_register_ms;
    nvb_grpc_client_call *reg_call; /* Register in flight, for eps[reg_index]; NULL when none */
    size_t reg_index;
    struct stat reg_kubelet;    /* the kubelet.sock it goes to, remembered once all are taken */
    bool stopping;
    struct dp_spec *specs;      /* one per CDI kind Allocate has answered with */
    size_t n_specs, cap_specs;
    bool discovery_failing;
    nvb_dp_xid *xid;            /* NVML's XID events; NULL without NVML */
    nvb_strv xid_failed;        /* UUIDs of GPUs that reported a critical XID: unhealthy for good */
    nvb_strv held;              /* "UUID\tcontainer" of devices held exclusively outside Kubernetes */
    uint64_t peers[64];         /* NVLink peers of each GPU index, from NVML */
};

/* One line on stderr: "nvbind device-plugin: <what happened>". */
void nvb_dp_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Milliseconds on the monotonic clock. */
uint64_t nvb_dp_now_ms(void);

/* Health beyond discovery, applied to a fresh inventory before it is merged: NVLink peers
 * (from NVML), GPUs with a critical XID (for good), devices held exclusively through nvbind's
 * claims (while held). */
void nvb_dp_health_apply(struct dp_state *st, nvb_dp_inventory *now);

/* Write or refresh nvbind's spec of CDI kind `kind` in the CDI folder, unless the one written
 * last is still current and untouched. 0, or -1 with err set. */
int nvb_dp_spec_ensure(struct dp_state *st, const char *kind, nvb_err *err);
/* After a device change (dirty) or every SPEC_CHECK_MS: bring every spec written so far in
 * step with the host, logging what fails. */
void nvb_dp_specs_refresh(struct dp_state *st, bool dirty);
void nvb_dp_specs_free(struct dp_state *st);
