/* A small gRPC server over the gRPC core C library, on one unix socket: unary methods and
 * server streams (the two shapes the device plugin API uses), driven by one completion queue
 * the caller polls. It knows nothing of the device plugin: a handler turns a method name and
 * request bytes into a reply. */
#pragma once
#include <grpc/grpc.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

typedef struct nvb_grpc_reply {
    int status;           /* grpc_status_code; GRPC_STATUS_OK (0) to send data */
    char message[512];    /* the status message when status is not OK */
    uint8_t *data;        /* malloc'd serialized reply (the stream's first message); taken */
    size_t len;
    bool stream;          /* keep the call open: later nvb_grpc_server_broadcast messages follow */
} nvb_grpc_reply;

typedef void (*nvb_grpc_handler)(void *ctx, const char *method, const uint8_t *req, size_t len,
                                 nvb_grpc_reply *out);

typedef struct nvb_grpc_server nvb_grpc_server;

/* Streams one server keeps open at most; a further one is refused (RESOURCE_EXHAUSTED). */
#define NVB_GRPC_MAX_STREAMS 64

/* Serve on unix socket `path` (created by gRPC with mode 0600; the caller removes a stale one
 * first). Calls complete on cq. NULL with err set when the socket cannot be bound. */
nvb_grpc_server *nvb_grpc_server_start(const char *path, grpc_completion_queue *cq, nvb_grpc_handler handler,
                                       void *ctx, nvb_err *err);
/* Send data to every open stream (the latest message wins when one is still being sent). */
void nvb_grpc_server_broadcast(nvb_grpc_server *s, const uint8_t *data, size_t len);
/* Open streams now. */
size_t nvb_grpc_server_streams(const nvb_grpc_server *s);
/* Cancel every call, shut the server down (polling cq until its calls are gone), free it
 * and remove its socket. NULL is a no-op. */
void nvb_grpc_server_stop(nvb_grpc_server *s, grpc_completion_queue *cq);

/* Wait up to timeout_ms for one event on cq and handle it. 1: handled one, 0: timed out. */
int nvb_grpc_poll(grpc_completion_queue *cq, int timeout_ms);

/* One unary call to a unix-socket server (the kubelet's Registration), on cq: it completes
 * in a later nvb_grpc_poll, which then calls done(ctx, 0 or -1, err) once, err saying the gRPC
 * status and message, and frees the call. The reply bytes are dropped. The caller goes on
 * serving meanwhile: the kubelet calls back into the plugin (GetDevicePluginOptions) before
 * it answers Register. NULL with err set when the call cannot start (done is not called). */
typedef struct nvb_grpc_client_call nvb_grpc_client_call;
typedef void (*nvb_grpc_done)(void *ctx, int rc, const nvb_err *err);
nvb_grpc_client_call *nvb_grpc_unary_start(const char *path, const char *method, const uint8_t *req, size_t len,
                                           int timeout_ms, grpc_completion_queue *cq, nvb_grpc_done done, void *ctx,
                                           nvb_err *err);
/* End the call now: done still follows, from nvb_grpc_poll, with a failure. */
void nvb_grpc_unary_cancel(nvb_grpc_client_call *c);
