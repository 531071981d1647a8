/* docker's daemon asked directly over its unix socket, the way its client does: one HTTP
 * request instead of starting the client (a Go program of tens of MB: tens of ms idle,
 * hundreds on a loaded machine) for every probe. Only where nvbind can tell which daemon the
 * client would talk to; everywhere else (a TCP or SSH DOCKER_HOST, docker contexts) the caller
 * asks the client. */
#pragma once
#include <stddef.h>

/* The daemon's socket the client would use: DOCKER_HOST's unix:// path, else
 * /var/run/docker.sock. 0 with path set, -1 when the client must be asked (DOCKER_HOST of
 * another scheme, DOCKER_CONTEXT other than "default", or a currentContext in the client's
 * config.json under DOCKER_CONFIG or ~/.docker). */
int nvb_docker_api_socket(char *path, size_t len);

/* GET `what` (e.g. "/info") from the daemon at socket within timeout_ms: 0 with the JSON body
 * in out (NUL-terminated); the HTTP status when it is not 200 (404: no such container), the
 * body in out; -1 when no answer came (no daemon, not HTTP, a reply larger than out). */
int nvb_docker_api_get(const char *socket_path, const char *what, char *out, size_t len, unsigned timeout_ms);

/* The same in two halves, so the daemon works while the caller does: send the request (a
 * connected socket, or -1 when the daemon is not there), later receive the reply (as
 * nvb_docker_api_get returns; fd -1 gives -1). receive closes fd. */
int nvb_docker_api_send(const char *socket_path, const char *what);
/* send's two halves: connect (a connected socket or -1), then send the request on it (fd, or
 * -1 with fd closed; fd -1 gives -1). */
int nvb_docker_api_connect(const char *socket_path);
int nvb_docker_api_request(int fd, const char *what);
int nvb_docker_api_receive(int fd, char *out, size_t len, unsigned timeout_ms);
