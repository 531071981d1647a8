/* The device plugin daemon: one gRPC server per resource on its own socket in the kubelet's
 * device-plugins folder, registered with the kubelet, kept in step with the host by
 * rediscovering it, and stopped cleanly by SIGTERM. One completion queue, one thread. */
#include "k8s/api.h"
#include "k8s/state.h"
#include "util/cleanup.h"
#include "util/clock.h"
#include "util/shown.h"
#include "util/trust.h"

#include <errno.h>
#include <fcntl.h>
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

void nvb_dp_log(const char *fmt, ...)
{
    /* The kubelet's ids and the host's names are quoted as they came: one line each, shown as
     * written (util/shown.h), so an id with a newline cannot forge a line of its own. */
    va_list ap;
    va_start(ap, fmt);
    char *shown = nvb_shown_vasprintf(fmt, ap);
    va_end(ap);
    fprintf(stderr, "nvbind device-plugin: %s\n", shown ? shown : "(out of memory)");
    free(shown);
}

uint64_t nvb_dp_now_ms(void)
{
    return (uint64_t)nvb_mono_ms();
}

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
            nvb_dp_log("%s: device %s appeared (%s)", r->name, r->v[i].id, r->v[i].healthy ? "healthy" : "unhealthy");
        else if (before[i] != r->v[i].healthy)
            nvb_dp_log("%s: device %s is %s", r->name, r->v[i].id, r->v[i].healthy ? "healthy again" : "unhealthy");
    }
}

/* Rediscover; tell the kubelet about every device whose health changed. */
static void refresh(struct dp_state *st)
{
    nvb_err err = {0};
    nvb_dp_inventory now = {0};
    bool dirty = false;
    if (discover(st, &now, &err) < 0) {
        if (!st->discovery_failing)
            nvb_dp_log("host discovery failed, every device is unhealthy until it works again: %s", err.msg);
        st->discovery_failing = true;
        /* Nothing found: each known device is gone. */
    } else if (st->discovery_failing) {
        nvb_dp_log("host discovery works again");
        st->discovery_failing = false;
    }
    nvb_dp_health_apply(st, &now);
    for (size_t e = 0; e < st->n_eps; e++) {
        nvb_dp_resource *known = &st->known.v[st->eps[e].res];
        nvb_dp_resource empty = {0};
        const nvb_dp_resource *cur = nvb_dp_inventory_find(&now, known->name);
        size_t n_before = known->n;
        bool *before = calloc(n_before + 1, sizeof *before);
        for (size_t i = 0; before && i < n_before; i++)
            before[i] = known->v[i].healthy;
        int changed = nvb_dp_resource_merge(known, cur ? cur : &empty);
        dirty = dirty || changed > 0;
        if (changed > 0 && before) {
            log_health(known, before, n_before);
            broadcast(st, &st->eps[e]);
        }
        free(before);
    }
    for (size_t i = 0; i < now.n; i++)
        if (!nvb_dp_inventory_find(&st->known, now.v[i].name))
            nvb_dp_log("resource %s appeared on the host: restart the plugin to serve it", now.v[i].name);
    nvb_dp_inventory_clear(&now);
    /* Keep a spec already written in step with the host here, between RPCs, so that
     * Allocate finds it fresh and only checks that nobody touched it: at once when devices
     * changed, else every SPEC_CHECK_MS (driver files replaced with the GPUs unchanged). */
    nvb_dp_specs_refresh(st, dirty);
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
        nvb_dp_log("%s: ListAndWatch opened, %zu devices", r->name, r->n);
    } else if (strcmp(method, SERVICE "GetPreferredAllocation") == 0) {
        nvb_dp_rpc_preferred(r, req, len, out);
    } else if (strcmp(method, SERVICE "Allocate") == 0) {
        nvb_err err = {0};
        /* Another vendor's GPUs have no visible-devices variable: CDI names always. */
        unsigned strategy = r->env_name ? st->o->strategy : NVB_DP_STRATEGY_CDI;
        if ((strategy & NVB_DP_STRATEGY_CDI) && nvb_dp_spec_ensure(st, r->cdi_kind, &err) < 0) {
            nvb_dp_rpc_fail(out, GRPC_STATUS_INTERNAL, "Allocate: cannot write the CDI spec: %s", err.msg);
            nvb_dp_log("%s: %s", r->name, out->message);
            return;
        }
        char got[1024];
        nvb_dp_rpc_allocate(r, strategy, req, len, out, got, sizeof got);
        if (out->status != GRPC_STATUS_OK)
            nvb_dp_log("%s: refused: %s", r->name, out->message);
        else
            nvb_dp_log("%s: allocated %s", r->name, got);
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
        struct stat ss;
        if (stat(ep->sock_path, &ss) < 0)
            return nvb_errf_errno(err, NVB_EXIT_IO, errno, "%s: gone as soon as it was made", ep->sock_path);
        ep->sock_dev = ss.st_dev;
        ep->sock_ino = ss.st_ino;
        nvb_dp_log("%s: serving on %s", st->known.v[ep->res].name, ep->sock_path);
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

static void start_register(struct dp_state *st, size_t e);

/* Register's answer for st->eps[st->reg_index]: the next resource, or done, or a retry later. */
static void registered(void *ctx, int rc, const nvb_err *err)
{
    struct dp_state *st = ctx;
    st->reg_call = NULL;
    if (st->stopping)
        return;
    if (rc < 0) {
        nvb_dp_log("registration failed, retrying in %d ms: %s", REGISTER_RETRY_MS, err->msg);
        st->next_register_ms = nvb_dp_now_ms() + REGISTER_RETRY_MS;
        return;
    }
    nvb_dp_log("%s: registered with the kubelet (%s)", st->known.v[st->eps[st->reg_index].res].name, st->kubelet_sock);
    if (st->reg_index + 1 < st->n_eps) {
        start_register(st, st->reg_index + 1);
        return;
    }
    st->kubelet_dev = st->reg_kubelet.st_dev;
    st->kubelet_ino = st->reg_kubelet.st_ino;
    st->kubelet_ctime = st->reg_kubelet.st_ctim;
}

/* Ask the kubelet to take resource e. The answer comes through the completion queue the
 * plugin serves on: a kubelet (1.26 and later) dials the plugin and asks its options before it
 * answers, and a plugin waiting for that answer on a queue of its own would leave it unasked. */
static void start_register(struct dp_state *st, size_t e)
{
    struct endpoint *ep = &st->eps[e];
    V1beta1__DevicePluginOptions opts = V1BETA1__DEVICE_PLUGIN_OPTIONS__INIT;
    opts.get_preferred_allocation_available = 1;
    V1beta1__RegisterRequest rq = V1BETA1__REGISTER_REQUEST__INIT;
    rq.version = (char *)KUBELET_API_VERSION;
    rq.endpoint = ep->sock_name;
    rq.resource_name = st->known.v[ep->res].name;
    rq.options = &opts;
    nvb_grpc_reply msg = {0};
    nvb_dp_rpc_pack(&rq.base, &msg);
    nvb_err err = {0};
    st->reg_index = e;
    if (msg.status != GRPC_STATUS_OK)
        nvb_errf(&err, NVB_EXIT_IO, "out of memory");
    else
        st->reg_call = nvb_grpc_unary_start(st->kubelet_sock, "/" KUBELET_API_VERSION ".Registration/Register",
                                            msg.data, msg.len, REGISTER_TIMEOUT_MS, st->cq, registered, st, &err);
    free(msg.data);
    if (!st->reg_call)
        registered(st, -1, &err);
}

/* Ours by identity, not by name: a socket made anew in its place is not the one the kubelet
 * was told of. */
static bool sockets_ours(const struct dp_state *st)
{
    for (size_t e = 0; e < st->n_eps; e++) {
        struct stat ss;
        if (stat(st->eps[e].sock_path, &ss) < 0 || ss.st_dev != st->eps[e].sock_dev || ss.st_ino != st->eps[e].sock_ino)
            return false;
    }
    return true;
}

/* A kubelet that restarts makes kubelet.sock anew and forgets every plugin (it also removes
 * their sockets): serve afresh and register again. */
static int watch_kubelet(struct dp_state *st, nvb_err *err)
{
    struct stat kst;
    if (st->reg_call)
        return 0; /* registering: its answer (or its deadline) comes first */
    if (stat(st->kubelet_sock, &kst) < 0 || !S_ISSOCK(kst.st_mode))
        return 0; /* no kubelet now: wait for it */
    bool registered = st->kubelet_dev || st->kubelet_ino;
    bool same_kubelet = registered && kst.st_dev == st->kubelet_dev && kst.st_ino == st->kubelet_ino &&
                        kst.st_ctim.tv_sec == st->kubelet_ctime.tv_sec &&
                        kst.st_ctim.tv_nsec == st->kubelet_ctime.tv_nsec;
    /* Checked whether registered or not: a kubelet that restarted while Register was on its
     * way removed the sockets, and registering again without serving anew would fail for good. */
    bool ours_there = sockets_ours(st);
    if (same_kubelet && ours_there)
        return 0;
    if (!ours_there)
        nvb_dp_log("a plugin socket was removed or replaced: serving again and %s",
                   registered ? "re-registering" : "registering");
    else if (registered)
        nvb_dp_log("the kubelet restarted (%s was recreated): serving again and re-registering", st->kubelet_sock);
    else if (nvb_dp_now_ms() < st->next_register_ms)
        return 0;
    if (registered || !ours_there) {
        st->kubelet_dev = 0;
        st->kubelet_ino = 0;
        endpoints_stop(st);
        if (endpoints_start(st, err) < 0)
            return -1;
    }
    st->reg_kubelet = kst;
    start_register(st, 0);
    return 0;
}

/* ---- set-up and the loop ------------------------------------------------------------------- */

/* Under --strategy envvar a container gets its GPUs from nvbind-runtime through a variable
 * only NVIDIA's GPUs have: another vendor's resource would hand out devices the container
 * never sees. It is not served then (an error when --resource named it). */
static int envvar_only_filter(struct dp_state *st, nvb_err *err)
{
    if (st->o->strategy & NVB_DP_STRATEGY_CDI)
        return 0;
    size_t keep = 0;
    for (size_t i = 0; i < st->known.n; i++) {
        nvb_dp_resource *r = &st->known.v[i];
        if (r->env_name) {
            st->known.v[keep++] = *r;
            continue;
        }
        if (st->o->inv.only)
            return nvb_errf(err, NVB_EXIT_USAGE,
                            "--resource %s: --strategy envvar has no visible-devices variable for these GPUs; use "
                            "--strategy cdi or both",
                            r->name);
        nvb_dp_log("%s: not served: --strategy envvar has no visible-devices variable for these GPUs (use --strategy "
                   "cdi or both)",
                   r->name);
        nvb_dp_resource_clear(r);
    }
    st->known.n = keep;
    return 0;
}

static int state_init(struct dp_state *st, const nvb_dp_opts *o, nvb_err *err)
{
    st->o = o;
    const char *kdir = o->kubelet_dir ? o->kubelet_dir : "/var/lib/kubelet";
    if (asprintf(&st->plugin_dir, "%s/device-plugins", kdir) < 0 ||
        asprintf(&st->kubelet_sock, "%s/kubelet.sock", st->plugin_dir) < 0)
        return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    _cleanup_close_ int dfd = open(st->plugin_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return nvb_errf(err, NVB_EXIT_IO, "%s: no such folder (is --kubelet-dir %s the kubelet's root folder?)",
                        st->plugin_dir, kdir);
    /* Whoever else may write there could replace the plugin's socket (the kubelet's Allocate
     * then goes to them) or plant a kubelet.sock of their own. */
    if (nvb_trust_folder_fd(dfd, st->plugin_dir, "others could replace the plugin's socket or plant kubelet.sock",
                            err) < 0)
        return -1;
    if (discover(st, &st->known, err) < 0 || envvar_only_filter(st, err) < 0)
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
        nvb_dp_log("%s: %zu devices%s", st->known.v[i].name, st->known.v[i].n,
              st->known.v[i].shared ? " (time-sliced replicas)" : "");
    }
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
    nvb_dp_specs_free(st);
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
    /* NVML's XID watcher only once this plugin serves its sockets: a plugin that stops at
     * start-up (another one serves them) exits with no thread of it still loading NVML. */
    if (rc == 0)
        st.xid = nvb_dp_xid_start(st.host);
    unsigned poll_ms = o->poll_ms ? o->poll_ms : 1000;
    uint64_t next_refresh = nvb_dp_now_ms() + poll_ms, next_watch = 0;
    int sig = 0;
    while (rc == 0 && !(sig = stop_signal(sfd))) {
        uint64_t t = nvb_dp_now_ms();
        if (t >= next_watch) {
            rc = watch_kubelet(&st, err);
            next_watch = nvb_dp_now_ms() + KUBELET_WATCH_MS;
        }
        if (t >= next_refresh) {
            refresh(&st);
            next_refresh = nvb_dp_now_ms() + poll_ms;
        }
        /* Drain what is ready, then wait a little: the signal and the timers are polled. */
        while (nvb_grpc_poll(st.cq, 0))
            ;
        nvb_grpc_poll(st.cq, 100);
    }
    if (sig)
        nvb_dp_log("%s: stopping", strsignal(sig));
    st.stopping = true;
    nvb_grpc_unary_cancel(st.reg_call);
    while (st.reg_call)
        nvb_grpc_poll(st.cq, 1000);
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
