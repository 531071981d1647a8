/* The device plugin daemon: one gRPC server per resource on its own socket in the kubelet's
 * device-plugins folder, registered with the kubelet, kept in step with the host by
 * rediscovering it, and stopped cleanly by SIGTERM. One completion queue, one thread. */
#include "k8s/plugin.h"
#include "k8s/api.h"
#include "k8s/xid.h"
#include "isolation/claims.h"
#include "policy/cdi_generate.h"
#include "runtime/spec_install.h"
#include "util/cleanup.h"
#include "util/clock.h"

#include <errno.h>
#include <grpc/grpc.h>
#include <grpc/status.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#define KUBELET_API_VERSION "v1beta1"
#define REGISTER_TIMEOUT_MS 5000
#define REGISTER_RETRY_MS 2000
#define KUBELET_WATCH_MS 200
#define SPEC_CHECK_MS 30000

struct dp_state;

struct endpoint {
    struct dp_state *st;
    size_t res;             /* index into st->known */
    char *sock_name, *sock_path;
    nvb_grpc_server *srv;
};

struct dp_state {
    const nvb_dp_opts *o;
    grpc_completion_queue *cq;
    nvb_host *host;             /* the latest discovery; NULL while it fails */
    nvb_dp_inventory known;     /* every device advertised since start, with its health */
    struct endpoint *eps;
    size_t n_eps;
    char *plugin_dir, *kubelet_sock;
    dev_t kubelet_dev;          /* the kubelet.sock registered with; 0/0: not registered */
    ino_t kubelet_ino;
    struct timespec kubelet_ctime;  /* with the inode: a new socket may reuse a freed inode */
    uint64_t next_register_ms;
    bool spec_dirty;            /* devices changed since the spec was written */
    uint64_t next_spec_check_ms;  /* when the spec is next regenerated and compared anyway */
    struct stat spec_st;        /* the spec file as written, to see it removed or replaced */
    char *spec_path;
    bool discovery_failing;
    nvb_dp_xid *xid;            /* NVML's XID events; NULL without NVML */
    nvb_strv xid_failed;        /* UUIDs of GPUs that reported a critical XID: unhealthy for good */
    nvb_strv held;              /* "UUID\tcontainer" of devices held exclusively outside Kubernetes */
    uint64_t peers[64];         /* NVLink peers of each GPU index, from NVML */
};

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("nvbind device-plugin: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static uint64_t now_ms(void)
{
    return (uint64_t)nvb_mono_ms();
}

static int spec_ensure(struct dp_state *st, nvb_err *err);

/* ---- the host ------------------------------------------------------------------------------ */

static int discover(struct dp_state *st, nvb_dp_inventory *inv, nvb_err *err)
{
    nvb_host *h = nvb_host_discover(&st->o->discover, err);
    if (!h)
        return -1;
    if (nvb_dp_inventory_build(h, &st->o->inv, inv, err) < 0) {
        nvb_host_free(h);
        return -1;
    }
    nvb_host_free(st->host);
    st->host = h;
    return 0;
}

static void broadcast(struct dp_state *st, struct endpoint *ep)
{
    nvb_grpc_reply msg = {0};
    nvb_dp_rpc_list(&st->known.v[ep->res], &msg);
    if (msg.status == GRPC_STATUS_OK && ep->srv)
        nvb_grpc_server_broadcast(ep->srv, msg.data, msg.len);
    free(msg.data);
}

static void log_health(const nvb_dp_resource *r, const bool *before, size_t n_before)
{
    for (size_t i = 0; i < r->n; i++) {
        if (i >= n_before)
            logf_("%s: device %s appeared (%s)", r->name, r->v[i].id, r->v[i].healthy ? "healthy" : "unhealthy");
        else if (before[i] != r->v[i].healthy)
            logf_("%s: device %s is %s", r->name, r->v[i].id, r->v[i].healthy ? "healthy again" : "unhealthy");
    }
}

/* Take the XID events NVML delivered; a GPU with one stays unhealthy until the plugin restarts
 * (the GPU needs a reset or a reboot, which restarts the plugin too). */
static void take_xids(struct dp_state *st)
{
    nvb_strv events = {0};
    nvb_dp_xid_take(st->xid, &events);
    for (size_t i = 0; i < events.n; i++) {
        char uuid[128];
        unsigned long long xid = 0;
        if (sscanf(events.v[i], "%127s %llu", uuid, &xid) != 2)
            continue;
        logf_("GPU %s reported XID %llu: unhealthy from now on", uuid, xid);
        if (!nvb_strv_contains(&st->xid_failed, uuid))
            nvb_strv_push(&st->xid_failed, uuid);
    }
    nvb_strv_free(&events);
}

static int gpu_index_by(const nvb_host *h, const char *uuid, const char *bus_id)
{
    for (size_t g = 0; h && g < h->n_gpus; g++)
        if ((uuid && strcmp(h->gpus[g].uuid, uuid) == 0) || (bus_id && strcmp(h->gpus[g].pci_bus_id, bus_id) == 0))
            return (int)h->gpus[g].index;
    return -1;
}

/* Record the NVLinks NVML reported, as GPU index bit masks. */
static void take_links(struct dp_state *st)
{
    nvb_strv links = {0};
    nvb_dp_xid_take_links(st->xid, &links);
    for (size_t i = 0; i < links.n; i++) {
        char uuid[128], bus[64];
        if (sscanf(links.v[i], "%127s %63s", uuid, bus) != 2)
            continue;
        int a = gpu_index_by(st->host, uuid, NULL), b = gpu_index_by(st->host, NULL, bus);
        if (a < 0 || b < 0 || a >= 64 || b >= 64)
            continue;
        if (!(st->peers[a] & (1ull << b)))
            logf_("NVLink: GPU %d - GPU %d", a, b);
        st->peers[a] |= 1ull << b;
        st->peers[b] |= 1ull << a;
    }
    nvb_strv_free(&links);
}

static void mark_peers(const struct dp_state *st, nvb_dp_inventory *now)
{
    for (size_t r = 0; r < now->n; r++)
        for (size_t i = 0; i < now->v[r].n; i++)
            if (now->v[r].v[i].gpu < 64)
                now->v[r].v[i].peers = st->peers[now->v[r].v[i].gpu];
}

/* Devices of GPUs that reported a critical XID are unhealthy, whatever discovery says. */
static void mark_xid_failed(const struct dp_state *st, nvb_dp_inventory *now)
{
    if (!st->xid_failed.n || !st->host)
        return;
    for (size_t g = 0; g < st->host->n_gpus; g++) {
        if (!nvb_strv_contains(&st->xid_failed, st->host->gpus[g].uuid))
            continue;
        for (size_t r = 0; r < now->n; r++)
            for (size_t i = 0; i < now->v[r].n; i++)
                if (now->v[r].v[i].gpu == st->host->gpus[g].index)
                    now->v[r].v[i].healthy = false;
    }
}

/* Whether device d (of GPU gpu_uuid) is in record r: the device itself, its parent GPU, or
 * (a whole GPU) one of its MIG devices. */
static bool record_covers(const nvb_claim_record *r, const nvb_dp_device *d, const char *gpu_uuid)
{
    return strcmp(r->uuid, d->uuid) == 0 || (gpu_uuid && strcmp(r->uuid, gpu_uuid) == 0) ||
           (r->parent_uuid && strcmp(r->parent_uuid, d->uuid) == 0);
}

static const char *gpu_uuid_of(const nvb_host *h, unsigned index)
{
    for (size_t g = 0; h && g < h->n_gpus; g++)
        if (h->gpus[g].index == index)
            return h->gpus[g].uuid;
    return NULL;
}

/* A GPU another container holds exclusively through nvbind (nvbind run, nvbind-runtime on this
 * node, outside Kubernetes) must not be handed to a pod: it is unhealthy while held. */
static void mark_claimed(struct dp_state *st, nvb_dp_inventory *now)
{
    nvb_claim_list l = {0};
    nvb_err err = {0};
    nvb_strv held = {0};
    if (nvb_claims_list(st->o->claims_dir, &l, &err) < 0) {
        nvb_claim_list_free(&l);
        return; /* unreadable claims: the kubelet's own bookkeeping still holds */
    }
    for (size_t c = 0; c < l.n; c++) {
        const nvb_claim_record *r = &l.v[c];
        if (r->mode != NVB_CLAIM_EXCLUSIVE || !r->n_holders)
            continue;
        for (size_t k = 0; k < now->n; k++)
            for (size_t i = 0; i < now->v[k].n; i++) {
                nvb_dp_device *d = &now->v[k].v[i];
                if (record_covers(r, d, gpu_uuid_of(st->host, d->gpu)))
                    d->healthy = false;
            }
        char line[512];
        snprintf(line, sizeof line, "%s\t%s", r->uuid, r->holders[0].container);
        if (!nvb_strv_contains(&st->held, line))
            logf_("%s is held exclusively by container %s (nvbind claims): unhealthy while held", r->uuid,
                  r->holders[0].container);
        nvb_strv_push(&held, line);
    }
    nvb_strv_free(&st->held);
    st->held = held;
    nvb_claim_list_free(&l);
}

/* Rediscover; tell the kubelet about every device whose health changed. */
static void refresh(struct dp_state *st)
{
    nvb_err err = {0};
    nvb_dp_inventory now = {0};
    take_xids(st);
    if (discover(st, &now, &err) < 0) {
        if (!st->discovery_failing)
            logf_("host discovery failed, every device is unhealthy until it works again: %s", err.msg);
        st->discovery_failing = true;
        /* Nothing found: each known device is gone. */
    } else if (st->discovery_failing) {
        logf_("host discovery works again");
        st->discovery_failing = false;
    }
    take_links(st);
    mark_peers(st, &now);
    mark_xid_failed(st, &now);
    mark_claimed(st, &now);
    for (size_t e = 0; e < st->n_eps; e++) {
        nvb_dp_resource *known = &st->known.v[st->eps[e].res];
        nvb_dp_resource empty = {0};
        const nvb_dp_resource *cur = nvb_dp_inventory_find(&now, known->name);
        size_t n_before = known->n;
        bool *before = calloc(n_before + 1, sizeof *before);
        for (size_t i = 0; before && i < n_before; i++)
            before[i] = known->v[i].healthy;
        int changed = nvb_dp_resource_merge(known, cur ? cur : &empty);
        if (changed > 0)
            st->spec_dirty = true;
        if (changed > 0 && before) {
            log_health(known, before, n_before);
            broadcast(st, &st->eps[e]);
        }
        free(before);
    }
    for (size_t i = 0; i < now.n; i++)
        if (!nvb_dp_inventory_find(&st->known, now.v[i].name))
            logf_("resource %s appeared on the host: restart the plugin to serve it", now.v[i].name);
    nvb_dp_inventory_clear(&now);
    /* Keep a spec already written in step with the host here, between RPCs, so that
     * Allocate finds it fresh and only checks that nobody touched it: at once when devices
     * changed, else every SPEC_CHECK_MS (driver files replaced with the GPUs unchanged). */
    if (st->spec_path && st->host && (st->spec_dirty || now_ms() >= st->next_spec_check_ms)) {
        nvb_err serr = {0};
        if (spec_ensure(st, &serr) < 0)
            logf_("cannot refresh the CDI spec: %s", serr.msg);
    }
}

/* ---- the CDI spec -------------------------------------------------------------------------- */

static bool spec_unchanged(const struct dp_state *st)
{
    struct stat now;
    return st->spec_path && !st->spec_dirty && stat(st->spec_path, &now) == 0 &&
           now.st_ino == st->spec_st.st_ino && now.st_dev == st->spec_st.st_dev &&
           now.st_size == st->spec_st.st_size && now.st_mtim.tv_sec == st->spec_st.st_mtim.tv_sec &&
           now.st_mtim.tv_nsec == st->spec_st.st_mtim.tv_nsec;
}

/* Write or refresh nvbind's spec in the CDI folder, unless it is the one written for this
 * discovery and nobody touched it since. */
static int spec_ensure(struct dp_state *st, nvb_err *err)
{
    if (spec_unchanged(st))
        return 0;
    if (!st->host)
        return nvb_errf(err, NVB_EXIT_NO_DRIVER, "the host's GPUs cannot be discovered now");
    nvb_spec_install_opts so = {.dir = st->o->cdi_dir, .naming = NVB_NAMING_UUID, .hook_path = st->o->hook_path};
    char *path = NULL;
    int r = nvb_spec_install(st->host, &so, &path, err);
    if (r < 0)
        return -1;
    if (r != NVB_SPEC_FRESH)
        logf_("CDI spec %s %s", path, r == NVB_SPEC_CREATED ? "written" : "refreshed");
    free(st->spec_path);
    st->spec_path = path;
    st->spec_dirty = false;
    st->next_spec_check_ms = now_ms() + SPEC_CHECK_MS;
    if (stat(path, &st->spec_st) < 0)
        st->spec_path = (free(st->spec_path), NULL);
    return 0;
}

/* ---- the RPCs ------------------------------------------------------------------------------ */

#define SERVICE "/" KUBELET_API_VERSION ".DevicePlugin/"

static void handle(void *ctx, const char *method, const uint8_t *req, size_t len, nvb_grpc_reply *out)
{
    struct endpoint *ep = ctx;
    struct dp_state *st = ep->st;
    const nvb_dp_resource *r = &st->known.v[ep->res];
    if (strcmp(method, SERVICE "GetDevicePluginOptions") == 0) {
        nvb_dp_rpc_options(out);
    } else if (strcmp(method, SERVICE "ListAndWatch") == 0) {
        nvb_dp_rpc_list(r, out);
        out->stream = true;
        logf_("%s: ListAndWatch opened, %zu devices", r->name, r->n);
    } else if (strcmp(method, SERVICE "GetPreferredAllocation") == 0) {
        nvb_dp_rpc_preferred(r, req, len, out);
    } else if (strcmp(method, SERVICE "Allocate") == 0) {
        nvb_err err = {0};
        if ((st->o->strategy & NVB_DP_STRATEGY_CDI) && spec_ensure(st, &err) < 0) {
            nvb_dp_rpc_fail(out, GRPC_STATUS_INTERNAL, "Allocate: cannot write the CDI spec: %s", err.msg);
            logf_("%s: %s", r->name, out->message);
            return;
        }
        char got[1024];
        nvb_dp_rpc_allocate(r, st->o->strategy, req, len, out, got, sizeof got);
        if (out->status != GRPC_STATUS_OK)
            logf_("%s: refused: %s", r->name, out->message);
        else
            logf_("%s: allocated %s", r->name, got);
    } else if (strcmp(method, SERVICE "PreStartContainer") == 0) {
        nvb_dp_rpc_empty(out);
    } else {
        nvb_dp_rpc_fail(out, GRPC_STATUS_UNIMPLEMENTED, "%s: no such method", method);
    }
}

/* ---- serving and registering --------------------------------------------------------------- */

static int endpoints_start(struct dp_state *st, nvb_err *err)
{
    for (size_t e = 0; e < st->n_eps; e++) {
        struct endpoint *ep = &st->eps[e];
        if (nvb_dp_socket_clear(ep->sock_path, err) < 0)
            return -1;
        if (!(ep->srv = nvb_grpc_server_start(ep->sock_path, st->cq, handle, ep, err)))
            return -1;
        logf_("%s: serving on %s", st->known.v[ep->res].name, ep->sock_path);
    }
    return 0;
}

static void endpoints_stop(struct dp_state *st)
{
    for (size_t e = 0; e < st->n_eps; e++) {
        nvb_grpc_server_stop(st->eps[e].srv, st->cq);
        st->eps[e].srv = NULL;
    }
}

static int register_one(struct dp_state *st, struct endpoint *ep, nvb_err *err)
{
    V1beta1__DevicePluginOptions opts = V1BETA1__DEVICE_PLUGIN_OPTIONS__INIT;
    opts.get_preferred_allocation_available = 1;
    V1beta1__RegisterRequest rq = V1BETA1__REGISTER_REQUEST__INIT;
    rq.version = (char *)KUBELET_API_VERSION;
    rq.endpoint = ep->sock_name;
    rq.resource_name = st->known.v[ep->res].name;
    rq.options = &opts;
    nvb_grpc_reply msg = {0};
    nvb_dp_rpc_pack(&rq.base, &msg);
    if (msg.status != GRPC_STATUS_OK)
        return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    int r = nvb_grpc_unary_call(st->kubelet_sock, "/" KUBELET_API_VERSION ".Registration/Register", msg.data, msg.len,
                                REGISTER_TIMEOUT_MS, err);
    free(msg.data);
    return r;
}

/* Register every resource with the kubelet whose socket is st (its identity remembered). */
static void register_all(struct dp_state *st, const struct stat *kst)
{
    for (size_t e = 0; e < st->n_eps; e++) {
        nvb_err err = {0};
        if (register_one(st, &st->eps[e], &err) < 0) {
            logf_("registration failed, retrying in %d ms: %s", REGISTER_RETRY_MS, err.msg);
            st->next_register_ms = now_ms() + REGISTER_RETRY_MS;
            return;
        }
        logf_("%s: registered with the kubelet (%s)", st->known.v[st->eps[e].res].name, st->kubelet_sock);
    }
    st->kubelet_dev = kst->st_dev;
    st->kubelet_ino = kst->st_ino;
    st->kubelet_ctime = kst->st_ctim;
}

/* A kubelet that restarts makes kubelet.sock anew and forgets every plugin (it also removes
 * their sockets): serve afresh and register again. */
static int watch_kubelet(struct dp_state *st, nvb_err *err)
{
    struct stat kst;
    if (stat(st->kubelet_sock, &kst) < 0 || !S_ISSOCK(kst.st_mode))
        return 0; /* no kubelet now: wait for it */
    bool registered = st->kubelet_dev || st->kubelet_ino;
    if (registered && kst.st_dev == st->kubelet_dev && kst.st_ino == st->kubelet_ino &&
        kst.st_ctim.tv_sec == st->kubelet_ctime.tv_sec && kst.st_ctim.tv_nsec == st->kubelet_ctime.tv_nsec) {
        bool ours_there = true;
        for (size_t e = 0; e < st->n_eps; e++)
            ours_there = ours_there && access(st->eps[e].sock_path, F_OK) == 0;
        if (ours_there)
            return 0;
        logf_("a plugin socket was removed: serving again and re-registering");
    } else if (registered) {
        logf_("the kubelet restarted (%s was recreated): serving again and re-registering", st->kubelet_sock);
    } else if (now_ms() < st->next_register_ms) {
        return 0;
    }
    if (registered) {
        st->kubelet_dev = 0;
        st->kubelet_ino = 0;
        endpoints_stop(st);
        if (endpoints_start(st, err) < 0)
            return -1;
    }
    register_all(st, &kst);
    return 0;
}

/* ---- set-up and the loop ------------------------------------------------------------------- */

static int state_init(struct dp_state *st, const nvb_dp_opts *o, nvb_err *err)
{
    st->o = o;
    const char *kdir = o->kubelet_dir ? o->kubelet_dir : "/var/lib/kubelet";
    if (asprintf(&st->plugin_dir, "%s/device-plugins", kdir) < 0 ||
        asprintf(&st->kubelet_sock, "%s/kubelet.sock", st->plugin_dir) < 0)
        return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    struct stat dst;
    if (stat(st->plugin_dir, &dst) < 0 || !S_ISDIR(dst.st_mode))
        return nvb_errf(err, NVB_EXIT_IO, "%s: no such folder (is --kubelet-dir %s the kubelet's root folder?)",
                        st->plugin_dir, kdir);
    if (discover(st, &st->known, err) < 0)
        return -1;
    if (st->known.n == 0)
        return nvb_errf(err, NVB_EXIT_NO_DRIVER, "no device to advertise on this host (with these --resource names)");
    st->eps = calloc(st->known.n, sizeof *st->eps);
    if (!st->eps)
        return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    for (size_t i = 0; i < st->known.n; i++) {
        struct endpoint *ep = &st->eps[st->n_eps++];
        ep->st = st;
        ep->res = i;
        ep->sock_name = nvb_dp_socket_name(st->known.v[i].name);
        if (!ep->sock_name || asprintf(&ep->sock_path, "%s/%s", st->plugin_dir, ep->sock_name) < 0)
            return nvb_errf(err, NVB_EXIT_IO, "out of memory");
        logf_("%s: %zu devices%s", st->known.v[i].name, st->known.v[i].n,
              st->known.v[i].shared ? " (time-sliced replicas)" : "");
    }
    st->xid = nvb_dp_xid_start(st->host);
    return 0;
}

static void state_free(struct dp_state *st)
{
    nvb_dp_xid_stop(st->xid);
    nvb_strv_free(&st->xid_failed);
    nvb_strv_free(&st->held);
    for (size_t e = 0; e < st->n_eps; e++) {
        free(st->eps[e].sock_name);
        free(st->eps[e].sock_path);
    }
    free(st->eps);
    nvb_dp_inventory_clear(&st->known);
    nvb_host_free(st->host);
    free(st->plugin_dir);
    free(st->kubelet_sock);
    free(st->spec_path);
}

/* SIGTERM or SIGINT pending? The caller blocked them, so they wait here for us. */
static int stop_signal(int sfd)
{
    struct signalfd_siginfo si;
    return read(sfd, &si, sizeof si) == (ssize_t)sizeof si ? (int)si.ssi_signo : 0;
}

int nvb_device_plugin_run(const nvb_dp_opts *o, nvb_err *err)
{
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    int sfd = signalfd(-1, &stop, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sfd < 0)
        return nvb_errf_errno(err, NVB_EXIT_IO, errno, "signalfd");
    struct dp_state st = {0};
    grpc_init();
    st.cq = grpc_completion_queue_create_for_next(NULL);
    int rc = state_init(&st, o, err);
    if (rc == 0)
        rc = endpoints_start(&st, err);
    unsigned poll_ms = o->poll_ms ? o->poll_ms : 1000;
    uint64_t next_refresh = now_ms() + poll_ms, next_watch = 0;
    int sig = 0;
    while (rc == 0 && !(sig = stop_signal(sfd))) {
        uint64_t t = now_ms();
        if (t >= next_watch) {
            rc = watch_kubelet(&st, err);
            next_watch = now_ms() + KUBELET_WATCH_MS;
        }
        if (t >= next_refresh) {
            refresh(&st);
            next_refresh = now_ms() + poll_ms;
        }
        /* Drain what is ready, then wait a little: the signal and the timers are polled. */
        while (nvb_grpc_poll(st.cq, 0))
            ;
        nvb_grpc_poll(st.cq, 100);
    }
    if (sig)
        logf_("%s: stopping", strsignal(sig));
    endpoints_stop(&st);
    state_free(&st);
    grpc_completion_queue_shutdown(st.cq);
    while (grpc_completion_queue_next(st.cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type != GRPC_QUEUE_SHUTDOWN)
        ;
    grpc_completion_queue_destroy(st.cq);
    grpc_shutdown();
    close(sfd);
    return rc;
}
