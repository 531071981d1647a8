#include "oci/ldconfig_run.h"
#include "oci/confine.h"
#include "util/asan.h"
#include "util/cleanup.h"
#include "util/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* Everything the child needs, prepared by the parent before it starts the child. */
typedef struct child_args {
    const nvb_ldconfig_job *job;
    const char *root_canon;
    char *const *argv;
    int devnull;
    int report; /* write end of the error pipe (close-on-exec) */
    pid_t parent;
} child_args;

/* Send err up the pipe and end the child. Only async-signal-safe calls. */
__attribute__((noreturn)) static void child_fail(const child_args *a, const nvb_err *err)
{
    unsigned char code = (unsigned char)(err->exit_code ? err->exit_code : NVB_EXIT_RUNTIME);
    size_t len = strnlen(err->msg, sizeof err->msg);
    char buf[1 + sizeof err->msg];
    buf[0] = (char)code;
    memcpy(buf + 1, err->msg, len);
    ssize_t w = write(a->report, buf, 1 + len);
    (void)w;
    _exit(127);
}

/* Handlers first, then the mask: the child starts with every signal blocked (spawn_child),
 * and a handler of ours must never run in it, on memory it shares with us. */
static void reset_signals(void)
{
    for (int s = 1; s < NSIG; s++)
        if (s != SIGKILL && s != SIGSTOP)
            signal(s, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

__attribute__((noreturn)) static void child_main(const child_args *a)
{
    nvb_err err = {0};
    const nvb_ldconfig_job *job = a->job;

    /* Die with the hook: a runtime that gives up on us must not leave ldconfig behind. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != a->parent)
        _exit(127);
    reset_signals();
    if (a->devnull >= 0)
        dup2(a->devnull, STDIN_FILENO);
    dup2(STDERR_FILENO, STDOUT_FILENO); /* the hook's stdout stays ours */

    /* A private mount namespace: what is covered below is seen by ldconfig only, and
     * nothing mounted here propagates to the container or the host. */
    if (unshare(CLONE_NEWNS) < 0) {
        nvb_errf_errno(&err, NVB_EXIT_RUNTIME, errno, "ldconfig sandbox: private mount namespace");
        child_fail(a, &err);
    }
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
        nvb_errf_errno(&err, NVB_EXIT_RUNTIME, errno, "ldconfig sandbox: making mounts private");
        child_fail(a, &err);
    }
    /* The fd the parent opened belongs to the old namespace's mounts; open the root again
     * here, and make sure it is the same folder. */
    int root = open(a->root_canon, O_PATH | O_DIRECTORY | O_CLOEXEC);
    struct stat st_new, st_old;
    if (root < 0 || fstat(root, &st_new) < 0 || fstat(job->root_fd, &st_old) < 0) {
        nvb_errf_errno(&err, NVB_EXIT_RUNTIME, errno, "ldconfig sandbox: container root %s", a->root_canon);
        child_fail(a, &err);
    }
    if (st_new.st_dev != st_old.st_dev || st_new.st_ino != st_old.st_ino) {
        nvb_errf(&err, NVB_EXIT_RUNTIME, "ldconfig sandbox: container root %s changed while the hook ran",
                 a->root_canon);
        child_fail(a, &err);
    }
    if (nvb_hide_kernel_mounts(root, a->root_canon, &err) < 0 || nvb_rlimits_confine(&err) < 0)
        child_fail(a, &err);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
        nvb_errf_errno(&err, NVB_EXIT_RUNTIME, errno, "ldconfig sandbox: no_new_privs");
        child_fail(a, &err);
    }
    if (nvb_landlock_confine(root, job->exe_fd, &err) < 0)
        child_fail(a, &err);
    if (fchdir(root) < 0 || chroot(".") < 0 || chdir("/") < 0) {
        nvb_errf_errno(&err, NVB_EXIT_RUNTIME, errno, "ldconfig sandbox: chroot into %s", a->root_canon);
        child_fail(a, &err);
    }
    close(root);
    /* Whatever the runtime left open must not reach ldconfig. */
    if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) < 0) {
        for (int fd = 3; fd < 1024; fd++)
            if (fd != a->report && fd != job->exe_fd)
                close(fd);
    }
    if (nvb_caps_keep_only(1ULL << CAP_DAC_OVERRIDE, &err) < 0 || nvb_seccomp_confine(job->exe_fd, &err) < 0)
        child_fail(a, &err);

    static char *const envp[] = {(char *)"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};
    syscall(SYS_execveat, job->exe_fd, "", a->argv, envp, AT_EMPTY_PATH);
    nvb_errf_errno(&err, NVB_EXIT_RUNTIME, errno, "host ldconfig %s: cannot execute it", job->exe_path);
    child_fail(a, &err);
}

#ifndef NVB_ASAN
static int child_entry(void *arg)
{
    child_main(arg);
}
#endif

/* The sandbox child shares our memory until its exec (CLONE_VM | CLONE_VFORK, on a stack of
 * its own), as posix_spawn's does: a fork would copy the page tables and then take a
 * copy-on-write fault for every page either side writes before the exec, 1.2 to 2.3 ms and
 * 37 faults of the hook on a virtual machine. While it runs we are suspended, so nothing
 * writes our memory at the same time; it changes only what is its own (its file table,
 * root, mount namespace, credentials, limits and signal handlers are copies) and runs none
 * of the container's code before the exec replaces the shared memory with ldconfig's.
 * Every signal is blocked across the start, so no handler of ours runs in the child. Its
 * stack ends in a page that cannot be touched: an overflow faults instead of writing our
 * memory. The time limit starts at the exec; what the child does before it (its own mount
 * namespace, paths opened O_PATH) is what the hook itself did before, without a limit.
 * AddressSanitizer builds fork: ASan cannot follow a child that never returns from a stack
 * of its own, and would report errors that are not there. */
static pid_t spawn_child(child_args *a, int *err_no)
{
#ifdef NVB_ASAN
    pid_t pid = fork();
    if (pid == 0)
        child_main(a);
    *err_no = errno;
    return pid;
#else
    enum { CHILD_STACK = 256 << 10 };
    long page = sysconf(_SC_PAGESIZE);
    void *stack = mmap(NULL, CHILD_STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED || mprotect(stack, (size_t)page, PROT_NONE) < 0) {
        *err_no = errno;
        if (stack != MAP_FAILED)
            munmap(stack, CHILD_STACK);
        return -1;
    }
    sigset_t all, old;
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, &old);
    pid_t pid = clone(child_entry, (char *)stack + CHILD_STACK, CLONE_VM | CLONE_VFORK | SIGCHLD, a);
    *err_no = errno;
    sigprocmask(SIG_SETMASK, &old, NULL);
    munmap(stack, CHILD_STACK); /* the child has exec'd or exited: CLONE_VFORK */
    return pid;
#endif
}

/* Wait for pid at most timeout_ms; on expiry kill it. Returns 0 with *status set, 1 when
 * it timed out (killed and reaped), -1 on error. */
static int wait_bounded(pid_t pid, unsigned timeout_ms, int *status)
{
    long long deadline = nvb_mono_ms() + timeout_ms;
    _cleanup_close_ int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    for (;;) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid)
            return 0;
        if (r < 0 && errno != EINTR)
            return -1;
        long long left = deadline - nvb_mono_ms();
        if (left <= 0)
            break;
        if (pidfd >= 0) {
            struct pollfd p = {.fd = pidfd, .events = POLLIN};
            poll(&p, 1, (int)(left > 1000 ? 1000 : left));
        } else {
            struct timespec ts = {.tv_sec = 0, .tv_nsec = 5 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    kill(pid, SIGKILL);
    while (waitpid(pid, status, 0) < 0 && errno == EINTR)
        ;
    return 1;
}

int nvb_ldconfig_run(const nvb_ldconfig_job *job, nvb_err *err)
{
    /* argv: fixed options, then the folders. -i: never read the image's aux-cache (one
     * less container file parsed); -C/-f: the defaults, spelt out. */
    static const char *const fixed[] = {"ldconfig", "-i", "-C", "/etc/ld.so.cache", "-f", "/etc/ld.so.conf"};
    size_t nfixed = sizeof fixed / sizeof fixed[0];
    _cleanup_free_ char **argv = calloc(nfixed + job->nfolders + 1, sizeof *argv);
    if (!argv)
        return nvb_errf_errno(err, NVB_EXIT_IO, ENOMEM, "ldconfig");
    for (size_t i = 0; i < nfixed; i++)
        argv[i] = (char *)fixed[i];
    for (size_t i = 0; i < job->nfolders; i++)
        argv[nfixed + i] = (char *)job->folders[i];

    /* /proc/self/mountinfo names mount points by their real path. */
    _cleanup_free_ char *root_canon = realpath(job->root_path, NULL);
    if (!root_canon)
        return nvb_errf_errno(err, NVB_EXIT_IO, errno, "container root %s", job->root_path);

    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) < 0)
        return nvb_errf_errno(err, NVB_EXIT_IO, errno, "ldconfig: pipe");
    _cleanup_close_ int report_r = pipefd[0];
    _cleanup_close_ int report_w = pipefd[1];
    _cleanup_close_ int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);

    /* Not dumpable: no process in the container may open our /proc entries (root, cwd,
     * fds lead to the host) without CAP_SYS_PTRACE. */
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);

    child_args a = {
        .job = job, .root_canon = root_canon, .argv = argv, .devnull = devnull, .report = report_w,
        .parent = getpid(),
    };
    fflush(NULL);
    int err_no;
    pid_t pid = spawn_child(&a, &err_no);
    if (pid < 0)
        return nvb_errf_errno(err, NVB_EXIT_RUNTIME, err_no, "ldconfig: starting the sandbox");
    close(report_w);
    report_w = -1;

    int status = 0;
    int w = wait_bounded(pid, job->timeout_ms, &status);
    if (w < 0)
        return nvb_errf_errno(err, NVB_EXIT_RUNTIME, errno, "host ldconfig %s: waiting for it", job->exe_path);
    if (w == 1)
        return nvb_errf(err, NVB_EXIT_RUNTIME, "host ldconfig %s: did not finish within %u ms; killed",
                        job->exe_path, job->timeout_ms);

    char msg[1 + sizeof err->msg];
    ssize_t n;
    do
        n = read(report_r, msg, sizeof msg - 1);
    while (n < 0 && errno == EINTR);
    if (n > 1) {
        msg[n] = '\0';
        return nvb_errf(err, (unsigned char)msg[0], "%s", msg + 1);
    }
    if (WIFSIGNALED(status))
        return nvb_errf(err, NVB_EXIT_RUNTIME, "host ldconfig %s: killed by signal %d", job->exe_path,
                        WTERMSIG(status));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return nvb_errf(err, NVB_EXIT_RUNTIME, "host ldconfig %s: exited with status %d", job->exe_path,
                        WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    return 0;
}
