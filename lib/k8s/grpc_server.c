#include "k8s/grpc_server.h"
#include "util/grow.h"

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Every completion-queue tag points at one of these; `kind` says which step completed. */
enum tag_kind { TAG_NEW, TAG_RECV, TAG_SEND, TAG_CLOSE, TAG_SHUTDOWN, TAG_CLIENT };

struct call;
struct tag {
    enum tag_kind kind;
    struct call *call;
    nvb_grpc_server *server;
    nvb_grpc_client_call *client;
};

struct call {
    nvb_grpc_server *server;
    grpc_call *call;
    grpc_call_details details;
    grpc_metadata_array md;
    grpc_byte_buffer *recv, *send;
    grpc_slice status_details;
    int cancelled;
    int refs;            /* batches in flight */
    bool stream, closed, sending;
    uint8_t *pending;    /* a stream's next message, waiting for the one being sent */
    size_t pending_len;
    struct tag t_new, t_recv, t_send, t_close;
};

struct nvb_grpc_server {
    grpc_server *srv;
    grpc_completion_queue *cq;
    char *path;
    nvb_grpc_handler handler;
    void *ctx;
    bool stopping, shut_down;
    size_t live_calls;
    struct call **streams;
    size_t n_streams, cap_streams;
    struct tag t_shutdown;
};

static gpr_timespec deadline_in(int ms)
{
    return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(ms, GPR_TIMESPAN));
}

static void call_free(struct call *c)
{
    nvb_grpc_server *s = c->server;
    for (size_t i = 0; i < s->n_streams; i++)
        if (s->streams[i] == c)
            s->streams[i] = s->streams[--s->n_streams];
    if (c->call)
        grpc_call_unref(c->call);
    grpc_call_details_destroy(&c->details);
    grpc_metadata_array_destroy(&c->md);
    if (c->recv)
        grpc_byte_buffer_destroy(c->recv);
    if (c->send)
        grpc_byte_buffer_destroy(c->send);
    grpc_slice_unref(c->status_details);
    free(c->pending);
    free(c);
    s->live_calls--;
}

static void call_unref(struct call *c)
{
    if (--c->refs == 0)
        call_free(c);
}

/* Ask gRPC for the next incoming call. */
static void request_next(nvb_grpc_server *s)
{
    struct call *c = calloc(1, sizeof *c);
    if (!c)
        return;
    c->server = s;
    c->status_details = grpc_empty_slice();
    grpc_call_details_init(&c->details);
    grpc_metadata_array_init(&c->md);
    c->t_new = (struct tag){TAG_NEW, c, s, NULL};
    c->t_recv = (struct tag){TAG_RECV, c, s, NULL};
    c->t_send = (struct tag){TAG_SEND, c, s, NULL};
    c->t_close = (struct tag){TAG_CLOSE, c, s, NULL};
    c->refs = 1;
    s->live_calls++;
    if (grpc_server_request_call(s->srv, &c->call, &c->details, &c->md, s->cq, s->cq, &c->t_new) != GRPC_CALL_OK)
        call_unref(c);
}

static bool start_batch(struct call *c, const grpc_op *ops, size_t n, struct tag *t)
{
    if (grpc_call_start_batch(c->call, ops, n, t, NULL) != GRPC_CALL_OK)
        return false;
    c->refs++;
    return true;
}

static grpc_byte_buffer *buffer_of(const uint8_t *data, size_t len)
{
    grpc_slice sl = grpc_slice_from_copied_buffer((const char *)data, len);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&sl, 1);
    grpc_slice_unref(sl);
    return bb;
}

/* A stream's next message, when none is in flight. */
static void stream_send(struct call *c, const uint8_t *data, size_t len)
{
    if (c->closed)
        return;
    if (c->sending) {
        uint8_t *copy = malloc(len ? len : 1);
        if (!copy)
            return;
        memcpy(copy, data, len);
        free(c->pending);
        c->pending = copy;
        c->pending_len = len;
        return;
    }
    c->send = buffer_of(data, len);
    grpc_op op = {.op = GRPC_OP_SEND_MESSAGE};
    op.data.send_message.send_message = c->send;
    c->sending = start_batch(c, &op, 1, &c->t_send);
}

static void on_new(struct call *c, bool ok)
{
    nvb_grpc_server *s = c->server;
    if (!ok) {
        call_unref(c);
        return;
    }
    if (!s->stopping)
        request_next(s);
    grpc_op ops[2] = {{.op = GRPC_OP_SEND_INITIAL_METADATA}, {.op = GRPC_OP_RECV_MESSAGE}};
    ops[1].data.recv_message.recv_message = &c->recv;
    start_batch(c, ops, 2, &c->t_recv);
    grpc_op close = {.op = GRPC_OP_RECV_CLOSE_ON_SERVER};
    close.data.recv_close_on_server.cancelled = &c->cancelled;
    start_batch(c, &close, 1, &c->t_close);
    call_unref(c); /* the TAG_NEW step */
}

static void on_recv(struct call *c, bool ok)
{
    nvb_grpc_server *s = c->server;
    nvb_grpc_reply reply = {.status = GRPC_STATUS_INTERNAL};
    if (ok && c->recv) {
        grpc_byte_buffer_reader r;
        grpc_slice req = grpc_empty_slice();
        if (grpc_byte_buffer_reader_init(&r, c->recv)) {
            req = grpc_byte_buffer_reader_readall(&r);
            grpc_byte_buffer_reader_destroy(&r);
        }
        char *method = grpc_slice_to_c_string(c->details.method);
        s->handler(s->ctx, method, GRPC_SLICE_START_PTR(req), GRPC_SLICE_LENGTH(req), &reply);
        gpr_free(method);
        grpc_slice_unref(req);
    } else if (ok) {
        snprintf(reply.message, sizeof reply.message, "the request carried no message");
    } else {
        call_unref(c); /* the client went away before asking */
        return;
    }
    if (reply.status == GRPC_STATUS_OK && reply.stream && s->n_streams >= NVB_GRPC_MAX_STREAMS) {
        /* The kubelet holds one; each costs memory for as long as it stays open. */
        free(reply.data);
        reply = (nvb_grpc_reply){.status = GRPC_STATUS_RESOURCE_EXHAUSTED};
        snprintf(reply.message, sizeof reply.message, "%d streams are open already", NVB_GRPC_MAX_STREAMS);
    }
    if (reply.status == GRPC_STATUS_OK && reply.stream) {
        c->stream = true;
        struct call **v = nvb_grow(s->streams, &s->cap_streams, s->n_streams, sizeof *v, 4);
        if (v) {
            s->streams = v;
            v[s->n_streams++] = c;
        }
        stream_send(c, reply.data, reply.len);
        free(reply.data);
        call_unref(c);
        return;
    }
    grpc_op ops[2] = {{.op = GRPC_OP_SEND_MESSAGE}, {.op = GRPC_OP_SEND_STATUS_FROM_SERVER}};
    size_t n = 0;
    if (reply.status == GRPC_STATUS_OK) {
        c->send = buffer_of(reply.data, reply.len);
        ops[n++].data.send_message.send_message = c->send;
    }
    free(reply.data);
    grpc_slice_unref(c->status_details);
    c->status_details = grpc_slice_from_copied_string(reply.status == GRPC_STATUS_OK ? "" : reply.message);
    grpc_op *st = &ops[n++];
    st->op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    st->data.send_status_from_server.status = (grpc_status_code)reply.status;
    st->data.send_status_from_server.status_details = &c->status_details;
    start_batch(c, ops, n, &c->t_send);
    call_unref(c);
}

static void on_send(struct call *c, bool ok)
{
    if (c->send) {
        grpc_byte_buffer_destroy(c->send);
        c->send = NULL;
    }
    c->sending = false;
    if (c->stream && ok && c->pending) {
        uint8_t *next = c->pending;
        c->pending = NULL;
        stream_send(c, next, c->pending_len);
        free(next);
    }
    call_unref(c);
}

static void on_close(struct call *c)
{
    c->closed = true;
    nvb_grpc_server *s = c->server;
    for (size_t i = 0; i < s->n_streams; i++)
        if (s->streams[i] == c)
            s->streams[i] = s->streams[--s->n_streams];
    call_unref(c);
}

/* ---- one outgoing unary call (the kubelet's Registration) ----------------------------------- */

struct nvb_grpc_client_call {
    struct tag t;
    grpc_channel *ch;
    grpc_call *call;
    grpc_byte_buffer *send, *recv;
    grpc_metadata_array initial, trailing;
    grpc_status_code status;
    grpc_slice details;
    char *what; /* "METHOD on PATH", for the message */
    nvb_grpc_done done;
    void *ctx;
};

static void client_free(nvb_grpc_client_call *c)
{
    if (c->recv)
        grpc_byte_buffer_destroy(c->recv);
    if (c->send)
        grpc_byte_buffer_destroy(c->send);
    grpc_slice_unref(c->details);
    grpc_metadata_array_destroy(&c->initial);
    grpc_metadata_array_destroy(&c->trailing);
    if (c->call)
        grpc_call_unref(c->call);
    if (c->ch)
        grpc_channel_destroy(c->ch);
    free(c->what);
    free(c);
}

static void client_done(nvb_grpc_client_call *c, bool ok)
{
    nvb_err err = {0};
    int status = ok ? (int)c->status : GRPC_STATUS_UNKNOWN;
    if (status != GRPC_STATUS_OK) {
        char *msg = grpc_slice_to_c_string(c->details);
        nvb_errf(&err, NVB_EXIT_RUNTIME, "%s: gRPC status %d: %s", c->what, status, *msg ? msg : "no message");
        gpr_free(msg);
    }
    nvb_grpc_done done = c->done;
    void *ctx = c->ctx;
    client_free(c);
    done(ctx, status == GRPC_STATUS_OK ? 0 : -1, &err);
}

nvb_grpc_client_call *nvb_grpc_unary_start(const char *path, const char *method, const uint8_t *req, size_t len,
                                           int timeout_ms, grpc_completion_queue *cq, nvb_grpc_done done, void *ctx,
                                           nvb_err *err)
{
    nvb_grpc_client_call *c = calloc(1, sizeof *c);
    char *target = NULL;
    if (!c || asprintf(&target, "unix:%s", path) < 0 || asprintf(&c->what, "%s on %s", method, path) < 0) {
        free(target);
        if (c)
            free(c->what);
        free(c);
        nvb_errf(err, NVB_EXIT_IO, "out of memory");
        return NULL;
    }
    c->t = (struct tag){TAG_CLIENT, NULL, NULL, c};
    c->done = done;
    c->ctx = ctx;
    c->status = GRPC_STATUS_UNKNOWN;
    c->details = grpc_empty_slice();
    grpc_metadata_array_init(&c->initial);
    grpc_metadata_array_init(&c->trailing);
    grpc_channel_credentials *creds = grpc_insecure_credentials_create();
    c->ch = grpc_channel_create(target, creds, NULL);
    grpc_channel_credentials_release(creds);
    free(target);
    grpc_slice m = grpc_slice_from_copied_string(method);
    c->call = grpc_channel_create_call(c->ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, m, NULL, deadline_in(timeout_ms), NULL);
    grpc_slice_unref(m);
    c->send = buffer_of(req, len);
    grpc_op ops[6] = {{.op = GRPC_OP_SEND_INITIAL_METADATA}, {.op = GRPC_OP_SEND_MESSAGE},
                      {.op = GRPC_OP_SEND_CLOSE_FROM_CLIENT}, {.op = GRPC_OP_RECV_INITIAL_METADATA},
                      {.op = GRPC_OP_RECV_MESSAGE}, {.op = GRPC_OP_RECV_STATUS_ON_CLIENT}};
    ops[1].data.send_message.send_message = c->send;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &c->initial;
    ops[4].data.recv_message.recv_message = &c->recv;
    ops[5].data.recv_status_on_client.status = &c->status;
    ops[5].data.recv_status_on_client.status_details = &c->details;
    ops[5].data.recv_status_on_client.trailing_metadata = &c->trailing;
    if (!c->call || grpc_call_start_batch(c->call, ops, 6, &c->t, NULL) != GRPC_CALL_OK) {
        nvb_errf(err, NVB_EXIT_RUNTIME, "%s: the gRPC call could not start", c->what);
        client_free(c);
        return NULL;
    }
    return c;
}

void nvb_grpc_unary_cancel(nvb_grpc_client_call *c)
{
    if (c)
        grpc_call_cancel(c->call, NULL);
}

int nvb_grpc_poll(grpc_completion_queue *cq, int timeout_ms)
{
    grpc_event ev = grpc_completion_queue_next(cq, deadline_in(timeout_ms), NULL);
    if (ev.type != GRPC_OP_COMPLETE)
        return 0;
    struct tag *t = ev.tag;
    switch (t->kind) {
    case TAG_NEW: on_new(t->call, ev.success); break;
    case TAG_RECV: on_recv(t->call, ev.success); break;
    case TAG_SEND: on_send(t->call, ev.success); break;
    case TAG_CLOSE: on_close(t->call); break;
    case TAG_SHUTDOWN: t->server->shut_down = true; break;
    case TAG_CLIENT: client_done(t->client, ev.success); break;
    }
    return 1;
}

nvb_grpc_server *nvb_grpc_server_start(const char *path, grpc_completion_queue *cq, nvb_grpc_handler handler,
                                       void *ctx, nvb_err *err)
{
    nvb_grpc_server *s = calloc(1, sizeof *s);
    char *addr = NULL;
    if (!s || !(s->path = strdup(path)) || asprintf(&addr, "unix:%s", path) < 0) {
        if (s)
            free(s->path);
        free(s);
        nvb_errf(err, NVB_EXIT_IO, "out of memory");
        return NULL;
    }
    s->cq = cq;
    s->handler = handler;
    s->ctx = ctx;
    s->t_shutdown = (struct tag){TAG_SHUTDOWN, NULL, s, NULL};
    s->srv = grpc_server_create(NULL, NULL);
    grpc_server_register_completion_queue(s->srv, cq, NULL);
    grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
    /* Whoever can connect can call every method: the socket is made 0600 (root's, for the
     * kubelet) from the start, never briefly open to others. gRPC binds it right here. */
    mode_t old_mask = umask(0177);
    int bound = grpc_server_add_http2_port(s->srv, addr, creds);
    umask(old_mask);
    grpc_server_credentials_release(creds);
    free(addr);
    if (!bound) {
        nvb_errf(err, NVB_EXIT_IO, "cannot serve gRPC on unix socket %s (is its folder missing or read-only?)", path);
        grpc_server_destroy(s->srv);
        free(s->path);
        free(s);
        return NULL;
    }
    grpc_server_start(s->srv);
    request_next(s);
    return s;
}

void nvb_grpc_server_broadcast(nvb_grpc_server *s, const uint8_t *data, size_t len)
{
    for (size_t i = 0; i < s->n_streams; i++)
        stream_send(s->streams[i], data, len);
}

size_t nvb_grpc_server_streams(const nvb_grpc_server *s)
{
    return s->n_streams;
}

void nvb_grpc_server_stop(nvb_grpc_server *s, grpc_completion_queue *cq)
{
    if (!s)
        return;
    s->stopping = true;
    grpc_server_shutdown_and_notify(s->srv, cq, &s->t_shutdown);
    grpc_server_cancel_all_calls(s->srv);
    /* Other servers' events arrive meanwhile too: nvb_grpc_poll handles them all. */
    while (!s->shut_down || s->live_calls > 0)
        nvb_grpc_poll(cq, 1000);
    grpc_server_destroy(s->srv);
    unlink(s->path);
    free(s->streams);
    free(s->path);
    free(s);
}
