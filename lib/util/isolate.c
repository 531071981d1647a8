/* A job in the nvbind-helper helper (isolate.h). The helper is found, never searched for in
 * PATH: next to this executable, or in the folder the build installed it to; either must be
 * a file nvb_trust_path trusts, since it runs with this process's rights. A helper that does
 * not answer in time is killed, not left running as a stuck worker thread would be. The
 * answer's length is fixed by the job, so a whole answer is the only success. */
#include "util/isolate.h"
#include "util/cleanup.h"
#include "util/clock.h"
#include "util/trust.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef NVB_HELPER_DIR
#define NVB_HELPER_DIR "/usr/local/libexec/nvbind"
#endif
#define HELPER_NAME "nvbind-helper"
#define HELPER_MAX_INPUT (1u << 20)

extern char **environ;

static bool wanted;

void nvb_isolate_in_helper(void)
{
    wanted = true;
}

bool nvb_isolate_wanted(void)
{
    return wanted;
}

/* The helper's path into buf: next to /proc/self/exe, else in NVB_HELPER_DIR. */
static bool find_helper(char *buf, size_t len, char *why, size_t why_len)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash && (size_t)snprintf(buf, len, "%.*s/" HELPER_NAME, (int)(slash - self), self) < len &&
            access(buf, X_OK) == 0)
            return nvb_trust_path(buf, geteuid(), why, why_len) == 0;
    }
    if ((size_t)snprintf(buf, len, "%s/" HELPER_NAME, NVB_HELPER_DIR) < len && access(buf, X_OK) == 0)
        return nvb_trust_path(buf, geteuid(), why, why_len) == 0;
    snprintf(why, why_len, HELPER_NAME " is neither next to this program nor in " NVB_HELPER_DIR);
    return false;
}

/* Writes in, then reads out_len bytes, both before the deadline. 1 done, 0 deadline, -1 the
 * helper closed its end early. */
static int exchange(int to, int from, const char *in, size_t in_len, char *out, size_t out_len, int64_t deadline)
{
    size_t sent = 0, got = 0;
    if (in_len == 0) {
        close(to);
        to = -1;
    }
    while (got < out_len) {
        int64_t left = deadline - nvb_mono_ms();
        if (left <= 0) {
            if (to >= 0)
                close(to);
            return 0;
        }
        struct pollfd p[2] = {{.fd = from, .events = POLLIN}, {.fd = to, .events = POLLOUT}};
        int r = poll(p, to >= 0 ? 2 : 1, (int)(left > INT_MAX ? INT_MAX : left));
        if (r < 0 && errno != EINTR)
            break;
        if (r <= 0)
            continue;
        if (to >= 0 && p[1].revents) {
            ssize_t w = (p[1].revents & POLLOUT) ? write(to, in + sent, in_len - sent) : -1;
            if (w > 0)
                sent += (size_t)w;
            if (w < 0 || sent == in_len) {
                close(to);
                to = -1;
            }
        }
        if (p[0].revents) {
            ssize_t rd = read(from, out + got, out_len - got);
            if (rd == 0 || (rd < 0 && errno != EINTR && errno != EAGAIN))
                break;
            if (rd > 0)
                got += (size_t)rd;
        }
    }
    if (to >= 0)
        close(to);
    return got == out_len ? 1 : -1;
}

int nvb_isolated_call(const char *kind, const void *in, size_t in_len, void *out, size_t out_len, unsigned timeout_ms,
                      char *why, size_t why_len)
{
    char helper[PATH_MAX];
    if (!find_helper(helper, sizeof helper, why, why_len))
        return -1;
    int to[2], from[2];
    if (pipe2(to, O_CLOEXEC) < 0) {
        snprintf(why, why_len, "pipe: %s", strerror(errno));
        return -1;
    }
    if (pipe2(from, O_CLOEXEC) < 0) {
        snprintf(why, why_len, "pipe: %s", strerror(errno));
        close(to[0]);
        close(to[1]);
        return -1;
    }
    /* A helper that dies must not end this process by SIGPIPE on the write. */
    struct sigaction ign = {.sa_handler = SIG_IGN}, old;
    sigaction(SIGPIPE, &ign, &old);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, to[0], STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&fa, from[1], STDOUT_FILENO);
    char *argv[] = {helper, (char *)kind, NULL};
    pid_t pid;
    int e = posix_spawn(&pid, helper, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(to[0]);
    close(from[1]);
    int rc = -1;
    if (e != 0) {
        snprintf(why, why_len, "%s: %s", helper, strerror(e));
        close(to[1]);
    } else {
        rc = exchange(to[1], from[0], in, in_len, out, out_len, nvb_mono_ms() + timeout_ms);
        /* Killed in every case: after a whole answer nothing it does matters (NVML's own
         * shutdown may linger), and one that did not answer in time is stuck. */
        kill(pid, SIGKILL);
        int st;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
            ;
        if (rc < 0)
            snprintf(why, why_len, "%s %s: no whole answer (%s %d)", helper, kind,
                     WIFSIGNALED(st) ? "signal" : "exit status", WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
    }
    close(from[0]);
    sigaction(SIGPIPE, &old, NULL);
    return rc;
}

int nvb_isolated_serve(int argc, char **argv, const nvb_isolated_kind *kinds, size_t n_kinds, int out_fd)
{
    const nvb_isolated_kind *k = NULL;
    for (size_t i = 0; argc == 2 && i < n_kinds; i++)
        if (strcmp(argv[1], kinds[i].name) == 0)
            k = &kinds[i];
    if (!k) {
        fprintf(stderr, HELPER_NAME ": run by nvbind with a job's name, its input on stdin\n");
        return 2;
    }
    _cleanup_free_ char *in = malloc(HELPER_MAX_INPUT);
    size_t len = 0;
    ssize_t r;
    while (in && len < HELPER_MAX_INPUT && ((r = read(STDIN_FILENO, in + len, HELPER_MAX_INPUT - len)) > 0 || (r < 0 && errno == EINTR)))
        if (r > 0)
            len += (size_t)r;
    void *out = NULL;
    size_t out_len = 0;
    if (!in || k->serve(in, len, &out, &out_len) < 0) {
        fprintf(stderr, HELPER_NAME ": %s: not a job's input\n", k->name);
        return 2;
    }
    size_t done = 0;
    while (done < out_len && ((r = write(out_fd, (char *)out + done, out_len - done)) > 0 || (r < 0 && errno == EINTR)))
        if (r > 0)
            done += (size_t)r;
    free(out);
    return done == out_len ? 0 : 1;
}
