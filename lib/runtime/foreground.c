#include "runtime/foreground.h"
#include "util/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static const int relayed[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};

/* Start the program in a child that first waits for the caller's go (a byte on a pipe), so
 * that spawned() can record the child's pid while it can do nothing yet. Should the caller
 * die before saying go, the child reads end-of-file and exits without running anything: no
 * program runs that nobody recorded. Returns 0 with *pid set, or an errno value (exec's own
 * failure included, reported through a close-on-exec pipe). */
static int spawn_gated(const nvb_fg_opts *o, const sigset_t *child_mask, const sigset_t *defaults, pid_t *pid)
{
    int go[2], fail[2];
    if (pipe2(go, O_CLOEXEC) < 0)
        return errno;
    if (pipe2(fail, O_CLOEXEC) < 0) {
        int e = errno;
        close(go[0]);
        close(go[1]);
        return e;
    }
    pid_t child = fork();
    if (child < 0) {
        int e = errno;
        close(go[0]);
        close(go[1]);
        close(fail[0]);
        close(fail[1]);
        return e;
    }
    if (child == 0) {
        /* Only async-signal-safe calls from here on. */
        close(go[1]);
        close(fail[0]);
        for (int sig = 1; sig < NSIG; sig++)
            if (sigismember(defaults, sig) == 1)
                signal(sig, SIG_DFL);
        sigprocmask(SIG_SETMASK, child_mask, NULL);
        if (o->pass_fd > 2)
            fcntl(o->pass_fd, F_SETFD, 0);
        char c;
        ssize_t n;
        do
            n = read(go[0], &c, 1);
        while (n < 0 && errno == EINTR);
        if (n != 1)
            _exit(127); /* the caller is gone: run nothing */
        execve(o->exe, o->argv, environ);
        int e = errno;
        ssize_t w = write(fail[1], &e, sizeof e);
        (void)w;
        _exit(127);
    }
    close(go[0]);
    close(fail[1]);
    o->spawned(o->spawned_ctx, child);
    ssize_t w;
    do
        w = write(go[1], "g", 1);
    while (w < 0 && errno == EINTR);
    close(go[1]);
    int e = 0;
    ssize_t n;
    do
        n = read(fail[0], &e, sizeof e);
    while (n < 0 && errno == EINTR);
    close(fail[0]);
    if (n == (ssize_t)sizeof e) {
        waitpid(child, NULL, 0);
        return e ? e : ENOEXEC;
    }
    *pid = child;
    return 0;
}

static int status_code(int status)
{
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}

int nvb_run_foreground(const nvb_fg_opts *o, int *forced, nvb_err *err)
{
    if (forced)
        *forced = 0;
    /* Block the signals we relay (and SIGCHLD) before the child exists, so none is lost
     * between the spawn and the wait; the child gets the old mask and default actions. */
    sigset_t wait_set, old;
    sigemptyset(&wait_set);
    for (size_t i = 0; i < sizeof relayed / sizeof relayed[0]; i++)
        sigaddset(&wait_set, relayed[i]);
    sigaddset(&wait_set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &wait_set, &old);

    /* The child starts with these signals unblocked and at their default actions, also
     * when the caller had blocked them itself (to guard its own clean-up). */
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t defaults, child_mask = old;
    sigemptyset(&defaults);
    for (size_t i = 0; i < sizeof relayed / sizeof relayed[0]; i++) {
        sigaddset(&defaults, relayed[i]);
        sigdelset(&child_mask, relayed[i]);
    }
    sigaddset(&defaults, SIGCHLD);
    sigdelset(&child_mask, SIGCHLD);
    posix_spawnattr_setsigmask(&attr, &child_mask);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    /* dup2 of a descriptor onto itself clears its close-on-exec flag in the child. */
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (o->pass_fd > 2)
        posix_spawn_file_actions_adddup2(&fa, o->pass_fd, o->pass_fd);
    pid_t pid = -1;
    int r = o->spawned ? spawn_gated(o, &child_mask, &defaults, &pid)
                       : posix_spawn(&pid, o->exe, &fa, &attr, o->argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (r != 0) {
        sigprocmask(SIG_SETMASK, &old, NULL);
        return nvb_errf_errno(err, NVB_EXIT_RUNTIME, r, "cannot start %s", o->exe);
    }

    unsigned signals = 0;
    long long deadline = -1;
    bool did_force = false;
    int status = 0;
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid)
            break;
        if (w < 0 && errno != EINTR) {
            status = 0;
            break; /* cannot happen for our own child; do not spin */
        }
        siginfo_t info;
        int sig;
        if (deadline >= 0 && !did_force) {
            long long left = deadline - nvb_mono_ms();
            if (left < 0)
                left = 0;
            struct timespec ts = {(time_t)(left / 1000), (long)(left % 1000) * 1000000L};
            sig = sigtimedwait(&wait_set, &info, &ts);
        } else {
            sig = sigwaitinfo(&wait_set, &info);
        }
        if (sig < 0) {
            if (errno == EAGAIN && deadline >= 0 && nvb_mono_ms() >= deadline && !did_force && o->force_stop) {
                did_force = true;
                o->force_stop(o->ctx, pid);
            }
            continue;
        }
        if (sig == SIGCHLD)
            continue;
        signals++;
        /* si_code > 0 means the kernel sent it (a terminal's Ctrl-C): the child, in our
         * process group, got its own copy. */
        if (info.si_code <= 0)
            kill(pid, sig);
        if (o->force_stop && !did_force) {
            if (signals >= 2) {
                did_force = true;
                o->force_stop(o->ctx, pid);
            } else if (deadline < 0) {
                deadline = nvb_mono_ms() + (o->grace_ms ? o->grace_ms : 10000);
            }
        }
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    if (forced)
        *forced = did_force;
    return status_code(status);
}
