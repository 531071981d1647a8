#include "util/spawn.h"
#include "util/cleanup.h"
#include "util/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

char *nvb_find_executable(const char *name)
{
    /* A path is kept as written (made absolute when it is not): a multi-call program
     * chooses what it is by the name it runs as (crun linked as krun), so its links must
     * not be followed to where they lead. */
    if (strchr(name, '/')) {
        if (access(name, X_OK) != 0)
            return NULL;
        if (name[0] == '/')
            return strdup(name);
        char cwd[4096], *out = NULL;
        return getcwd(cwd, sizeof cwd) && asprintf(&out, "%s/%s", cwd, name) >= 0 ? out : NULL;
    }
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    for (const char *p = path; *p;) {
        const char *e = strchrnul(p, ':');
        char buf[4096];
        int n = snprintf(buf, sizeof buf, "%.*s/%s", (int)(e - p), p, name);
        struct stat st;
        if (n > 0 && (size_t)n < sizeof buf && e > p && stat(buf, &st) == 0 && S_ISREG(st.st_mode) &&
            access(buf, X_OK) == 0)
            return strdup(buf);
        p = *e ? e + 1 : e;
    }
    return NULL;
}

/* Start one capture: stdout and stderr into a pipe, stdin from /dev/null. The read end, or
 * -1 when it could not start. */
static int capture_start(char *const argv[], pid_t *pid)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    int r = posix_spawnp(pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (r != 0) {
        close(fds[0]);
        return -1;
    }
    return fds[0];
}

/* Append what fd has to c's buffer; false once it is closed (or failed). */
static bool capture_read(nvb_capture *c, int fd)
{
    char buf[4096];
    ssize_t got = read(fd, buf, sizeof buf);
    if (got < 0 && errno == EINTR)
        return true;
    if (got <= 0)
        return false;
    if (c->out && c->n + 1 < c->outlen) {
        size_t take = (size_t)got < c->outlen - 1 - c->n ? (size_t)got : c->outlen - 1 - c->n;
        memcpy(c->out + c->n, buf, take);
        c->n += take;
    }
    return true;
}

static int capture_status(pid_t pid, bool timed_out)
{
    if (timed_out)
        kill(pid, SIGKILL);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (timed_out)
        return -2;
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}

void nvb_run_capture_all(nvb_capture *c, size_t n, unsigned timeout_ms)
{
    struct pollfd pfd[NVB_CAPTURE_MAX];
    pid_t pid[NVB_CAPTURE_MAX];
    size_t open_fds = 0;
    n = n < NVB_CAPTURE_MAX ? n : NVB_CAPTURE_MAX;
    for (size_t i = 0; i < n; i++) {
        c[i].n = 0;
        c[i].rc = -1; /* stays so when it cannot start */
        pfd[i] = (struct pollfd){.fd = capture_start(c[i].argv, &pid[i]), .events = POLLIN};
        open_fds += pfd[i].fd >= 0;
    }
    int64_t deadline = nvb_mono_ms() + timeout_ms;
    bool timed_out = false;
    while (open_fds > 0) {
        int64_t left = deadline - nvb_mono_ms();
        int pr = left > 0 ? poll(pfd, n, (int)left) : 0;
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0) {
            timed_out = true;
            break;
        }
        for (size_t i = 0; i < n; i++) {
            if (pfd[i].fd < 0 || !pfd[i].revents || capture_read(&c[i], pfd[i].fd))
                continue;
            close(pfd[i].fd);
            pfd[i].fd = -1; /* poll skips negative descriptors */
            open_fds--;
            c[i].rc = capture_status(pid[i], false);
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (c[i].out && c[i].outlen)
            c[i].out[c[i].n] = '\0';
        if (pfd[i].fd >= 0) { /* still open: past the deadline */
            close(pfd[i].fd);
            c[i].rc = capture_status(pid[i], timed_out);
        }
    }
}

int nvb_run_capture(char *const argv[], unsigned timeout_ms, char *out, size_t outlen)
{
    nvb_capture c = {.argv = argv, .out = out, .outlen = outlen, .rc = -1};
    nvb_run_capture_all(&c, 1, timeout_ms);
    return c.rc;
}
