/* docker's daemon over its socket (runtime/docker_api.h): which socket the client would use
 * (and when only the client can tell), and one GET against a stand-in daemon listening on a
 * real unix socket in a child process. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "runtime/docker_api.h"

static char tmp[] = "/tmp/nvbind-docker-api-XXXXXX";

static void clear_env(void)
{
    unsetenv("DOCKER_HOST");
    unsetenv("DOCKER_CONTEXT");
    unsetenv("DOCKER_CONFIG");
    setenv("HOME", tmp, 1);
}

static void test_socket_the_client_would_use(void **unused)
{
    (void)unused;
    char path[256];
    clear_env();
    assert_int_equal(nvb_docker_api_socket(path, sizeof path), 0);
    assert_string_equal(path, "/var/run/docker.sock");
    setenv("DOCKER_HOST", "unix:///run/user/1000/docker.sock", 1);
    assert_int_equal(nvb_docker_api_socket(path, sizeof path), 0);
    assert_string_equal(path, "/run/user/1000/docker.sock");
    /* Other schemes, and contexts, name endpoints only the client knows how to reach. */
    setenv("DOCKER_HOST", "tcp://10.0.0.1:2376", 1);
    assert_int_equal(nvb_docker_api_socket(path, sizeof path), -1);
    setenv("DOCKER_HOST", "ssh://me@host", 1);
    assert_int_equal(nvb_docker_api_socket(path, sizeof path), -1);
    clear_env();
    setenv("DOCKER_CONTEXT", "remote", 1);
    assert_int_equal(nvb_docker_api_socket(path, sizeof path), -1);
    setenv("DOCKER_CONTEXT", "default", 1);
    assert_int_equal(nvb_docker_api_socket(path, sizeof path), 0);
    clear_env();
    char conf[512];
    snprintf(conf, sizeof conf, "%s/.docker", tmp);
    mkdir(conf, 0700);
    strcat(conf, "/config.json");
    FILE *f = fopen(conf, "w");
    fputs("{\"auths\": {}, \"currentContext\": \"rootless\"}", f);
    fclose(f);
    assert_int_equal(nvb_docker_api_socket(path, sizeof path), -1);
    f = fopen(conf, "w");
    fputs("{\"auths\": {}}", f);
    fclose(f);
    assert_int_equal(nvb_docker_api_socket(path, sizeof path), 0);
    unlink(conf);
    conf[strlen(conf) - strlen("/config.json")] = '\0';
    rmdir(conf); /* so that main's rmdir leaves nothing in /tmp */
}

/* A daemon that answers one connection with `reply` (after reading the request). */
static pid_t serve_once(const char *sock, const char *reply)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock);
    unlink(sock);
    int l = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(l >= 0);
    assert_int_equal(bind(l, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(l, 1), 0);
    pid_t pid = fork();
    if (pid == 0) {
        int c = accept(l, NULL, NULL);
        char req[1024];
        ssize_t n = read(c, req, sizeof req - 1);
        req[n > 0 ? n : 0] = '\0';
        /* Only the request nvbind means to send gets the reply. */
        if (strncmp(req, "GET /info HTTP/1.0\r\n", 20) == 0 && strstr(req, "\r\n\r\n"))
            (void)!write(c, reply, strlen(reply));
        close(c);
        _exit(0);
    }
    close(l);
    return pid;
}

static void test_get(void **unused)
{
    (void)unused;
    char sock[256], out[256];
    snprintf(sock, sizeof sock, "%s/docker.sock", tmp);
    pid_t p = serve_once(sock, "HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{\"ServerVersion\":\"20.10.24\"}\n");
    assert_int_equal(nvb_docker_api_get(sock, "/info", out, sizeof out, 5000), 0);
    assert_string_equal(out, "{\"ServerVersion\":\"20.10.24\"}\n");
    waitpid(p, NULL, 0);
    p = serve_once(sock, "HTTP/1.0 404 Not Found\r\n\r\n{\"message\":\"page not found\"}");
    assert_int_equal(nvb_docker_api_get(sock, "/info", out, sizeof out, 5000), 404);
    waitpid(p, NULL, 0);
    p = serve_once(sock, "SSH-2.0-OpenSSH_9.2\r\n");
    assert_int_equal(nvb_docker_api_get(sock, "/info", out, sizeof out, 5000), -1);
    waitpid(p, NULL, 0);
    /* Larger than the buffer: no half document. */
    char big[600];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    char reply[800];
    snprintf(reply, sizeof reply, "HTTP/1.0 200 OK\r\n\r\n%s", big);
    p = serve_once(sock, reply);
    assert_int_equal(nvb_docker_api_get(sock, "/info", out, sizeof out, 5000), -1);
    waitpid(p, NULL, 0);
    unlink(sock);
    assert_int_equal(nvb_docker_api_get(sock, "/info", out, sizeof out, 5000), -1); /* no daemon */
}

int main(void)
{
    if (!mkdtemp(tmp))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_socket_the_client_would_use),
        cmocka_unit_test(test_get),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    rmdir(tmp);
    return r;
}
