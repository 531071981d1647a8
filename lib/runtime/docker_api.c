/* docker's daemon over its unix socket: see docker_api.h. */
#include "runtime/docker_api.h"
#include "util/cleanup.h"
#include "util/clock.h"
#include "util/fileio.h"

#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* A docker context other than the default one names its own endpoint: the client's. */
static bool context_chosen(void)
{
    const char *ctx = getenv("DOCKER_CONTEXT");
    if (ctx && *ctx)
        return strcmp(ctx, "default") != 0;
    const char *dir = getenv("DOCKER_CONFIG");
    const char *home = getenv("HOME");
    char path[4096];
    if (dir && *dir)
        snprintf(path, sizeof path, "%s/config.json", dir);
    else if (home && *home)
        snprintf(path, sizeof path, "%s/.docker/config.json", home);
    else
        return false;
    _cleanup_free_ char *text = nvb_read_file(path, 1 << 20, NULL);
    if (!text)
        return false;
    json_error_t je;
    json_t *conf = json_loads(text, 0, &je);
    const char *cur = json_string_value(json_object_get(conf, "currentContext"));
    bool chosen = cur && *cur && strcmp(cur, "default") != 0;
    json_decref(conf);
    return chosen || !conf; /* a config.json it cannot read: leave it to the client */
}

int nvb_docker_api_socket(char *path, size_t len)
{
    const char *host = getenv("DOCKER_HOST");
    const char *sock = "/var/run/docker.sock";
    if (host && *host) {
        if (strncmp(host, "unix://", 7) != 0 || host[7] != '/')
            return -1;
        sock = host + 7;
    } else if (context_chosen()) {
        return -1;
    }
    if (strlen(sock) >= len || strlen(sock) >= sizeof(((struct sockaddr_un *)0)->sun_path))
        return -1;
    snprintf(path, len, "%s", sock);
    return 0;
}

static int connect_unix(const char *socket_path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", socket_path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

/* Read until the daemon closes (HTTP/1.0: no chunks, the end is the close) or out is full. */
static ssize_t read_all(int fd, char *out, size_t len, unsigned timeout_ms)
{
    size_t n = 0;
    int64_t deadline = nvb_mono_ms() + timeout_ms;
    for (;;) {
        int64_t left = deadline - nvb_mono_ms();
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int pr = left > 0 ? poll(&p, 1, (int)left) : 0;
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0 || n + 1 >= len)
            return -1; /* past the deadline, or larger than out */
        ssize_t got = read(fd, out + n, len - 1 - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return -1;
        if (got == 0)
            break;
        n += (size_t)got;
    }
    out[n] = '\0';
    return (ssize_t)n;
}

int nvb_docker_api_connect(const char *socket_path)
{
    return connect_unix(socket_path);
}

int nvb_docker_api_send(const char *socket_path, const char *what)
{
    return nvb_docker_api_request(connect_unix(socket_path), what);
}

int nvb_docker_api_request(int fd, const char *what)
{
    if (fd < 0)
        return -1;
    char req[512];
    int rl = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: docker\r\nUser-Agent: nvbind\r\n\r\n", what);
    /* send, not write: a daemon that hung up must not end nvbind with SIGPIPE. The request is
     * far below a socket buffer, so one call sends it whole or fails. */
    if (rl <= 0 || (size_t)rl >= sizeof req || send(fd, req, (size_t)rl, MSG_NOSIGNAL) != rl) {
        close(fd);
        return -1;
    }
    return fd;
}

int nvb_docker_api_receive(int fd, char *out, size_t len, unsigned timeout_ms)
{
    if (fd < 0)
        return -1;
    ssize_t n = read_all(fd, out, len, timeout_ms);
    close(fd);
    if (n < 0)
        return -1;
    /* "HTTP/1.x 200 OK\r\n...\r\n\r\nBODY" */
    char *body = strstr(out, "\r\n\r\n");
    int status = 0;
    if (strncmp(out, "HTTP/1.", 7) != 0 || sscanf(out + 8, " %3d", &status) != 1 || status < 100 || !body)
        return -1;
    body += 4;
    memmove(out, body, strlen(body) + 1);
    return status == 200 ? 0 : status;
}

int nvb_docker_api_get(const char *socket_path, const char *what, char *out, size_t len, unsigned timeout_ms)
{
    return nvb_docker_api_receive(nvb_docker_api_send(socket_path, what), out, len, timeout_ms);
}
