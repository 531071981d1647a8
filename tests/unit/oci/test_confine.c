/* The ldconfig sandbox's layers, each applied in a forked child that then probes what it
 * can still do. The child answers with its exit status: 0 all held, 77 not testable
 * here, anything else the number of the failed check (its message is on stderr). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <linux/capability.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "oci/confine.h"
#include "oci_test_util.h"

#define SKIP_STATUS 77
#define CHECK(n, cond)                                                                                         \
    do {                                                                                                       \
        if (!(cond)) {                                                                                         \
            fprintf(stderr, "check %d failed: %s (errno %d)\n", (n), #cond, errno);                           \
            _exit(n);                                                                                          \
        }                                                                                                      \
    } while (0)

static void run_in_child(void (*fn)(void))
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        fn();
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (WIFSIGNALED(status))
        fail_msg("child killed by signal %d", WTERMSIG(status));
    if (WEXITSTATUS(status) == SKIP_STATUS) {
        skip();
        return;
    }
    if (WEXITSTATUS(status) != 0)
        fail_msg("check %d failed in the child", WEXITSTATUS(status));
}

static uint64_t cap_effective(void)
{
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
    struct __user_cap_data_struct d[2];
    memset(d, 0, sizeof d);
    syscall(SYS_capget, &h, d);
    return (uint64_t)d[0].effective | ((uint64_t)d[1].effective << 32);
}

static void caps_child(void)
{
    if (!(cap_effective() & (1ULL << CAP_SETPCAP)))
        _exit(SKIP_STATUS);
    nvb_err err = {0};
    CHECK(1, nvb_caps_keep_only(1ULL << CAP_DAC_OVERRIDE, &err) == 0);
    CHECK(2, cap_effective() == (1ULL << CAP_DAC_OVERRIDE));
    CHECK(3, prctl(PR_CAPBSET_READ, CAP_DAC_OVERRIDE, 0, 0, 0) == 1);
    CHECK(4, prctl(PR_CAPBSET_READ, CAP_SYS_ADMIN, 0, 0, 0) == 0);
    CHECK(5, prctl(PR_CAPBSET_READ, CAP_SYS_CHROOT, 0, 0, 0) == 0);
    CHECK(6, chroot("/") == -1 && errno == EPERM);
}

static void test_caps(void **unused)
{
    (void)unused;
    run_in_child(caps_child);
}

static int exe_fd_for_tests(void)
{
    return open("/sbin/ldconfig", O_RDONLY | O_CLOEXEC);
}

static void seccomp_child(void)
{
    int exe = exe_fd_for_tests();
    if (exe < 0)
        _exit(SKIP_STATUS);
    nvb_err err = {0};
    CHECK(1, prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0);
    int r = nvb_seccomp_confine(exe, &err);
    if (r == 0)
        _exit(SKIP_STATUS);
    CHECK(2, r == 1);
    CHECK(3, unshare(CLONE_NEWNS) == -1 && errno == EPERM);
    CHECK(4, mount("none", "/tmp", "tmpfs", 0, NULL) == -1 && errno == EPERM);
    CHECK(5, syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0) == -1 && errno == EPERM);
    char *const argv[] = {(char *)"true", NULL};
    char *const envp[] = {NULL};
    CHECK(6, execve("/bin/true", argv, envp) == -1 && errno == EPERM);
    int other = open("/bin/true", O_RDONLY | O_CLOEXEC);
    CHECK(7, syscall(SYS_execveat, other, "", argv, envp, AT_EMPTY_PATH) == -1 && errno == EPERM);
    /* Plain fork still works, and so does executing the one allowed fd. */
    pid_t pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 1);
        char *const v[] = {(char *)"ldconfig", (char *)"-V", NULL};
        syscall(SYS_execveat, exe, "", v, envp, AT_EMPTY_PATH);
        _exit(99);
    }
    CHECK(8, pid > 0);
    int status = 0;
    CHECK(9, waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* fsync and its kin answer "done" without running: the kernel would refuse fd -1 (EBADF). */
    CHECK(10, fsync(-1) == 0);
    CHECK(11, fdatasync(-1) == 0);
    CHECK(12, syscall(SYS_syncfs, -1) == 0);
}

static void test_seccomp(void **unused)
{
    (void)unused;
    run_in_child(seccomp_child);
}

static char *g_dir;

static void landlock_child(void)
{
    char *inside = t_printf("%s/inside", g_dir);
    char *outside_file = t_printf("%s/outside/secret", g_dir);
    int rootfd = open(inside, O_PATH | O_DIRECTORY | O_CLOEXEC);
    int exe = exe_fd_for_tests();
    CHECK(1, rootfd >= 0);
    if (exe < 0)
        _exit(SKIP_STATUS);
    nvb_err err = {0};
    CHECK(2, prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0);
    int r = nvb_landlock_confine(rootfd, exe, &err);
    if (r == 0)
        _exit(SKIP_STATUS);
    CHECK(3, r == 1);
    CHECK(4, open(outside_file, O_RDONLY) == -1 && errno == EACCES);
    char *in_file = t_printf("%s/lib.so", inside);
    int fd = open(in_file, O_RDONLY);
    CHECK(5, fd >= 0);
    close(fd);
    char *new_file = t_printf("%s/etc/ld.so.cache~", inside);
    fd = open(new_file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(6, fd >= 0);
    close(fd);
    char *new_name = t_printf("%s/etc/ld.so.cache", inside);
    CHECK(7, rename(new_file, new_name) == 0);
    /* Writing beside the root, and executing anything but the allowed file: refused. */
    char *beside = t_printf("%s/outside/new", g_dir);
    CHECK(8, open(beside, O_WRONLY | O_CREAT, 0644) == -1 && errno == EACCES);
    char *const argv[] = {(char *)"true", NULL};
    char *const envp[] = {NULL};
    CHECK(9, execve("/bin/true", argv, envp) == -1 && errno == EACCES);
}

static void test_landlock(void **unused)
{
    (void)unused;
    g_dir = t_mkdtemp();
    char *p = t_printf("%s/inside/etc", g_dir);
    t_mkdirs(p);
    free(p);
    p = t_printf("%s/outside", g_dir);
    t_mkdirs(p);
    free(p);
    p = t_printf("%s/outside/secret", g_dir);
    t_write(p, "secret\n");
    free(p);
    p = t_printf("%s/inside/lib.so", g_dir);
    t_write(p, "lib\n");
    free(p);
    run_in_child(landlock_child);
    t_rm_rf(g_dir);
    free(g_dir);
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

static void hide_child(void)
{
    /* Everything happens in the child's own mount namespace: nothing to clean up. */
    if (geteuid() != 0 || unshare(CLONE_NEWNS) != 0)
        _exit(SKIP_STATUS);
    CHECK(1, mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0);
    char *root = t_printf("%s/root", g_dir);
    char *proc = t_printf("%s/proc", root);
    char *sys = t_printf("%s/sys", root);
    char *deep = t_printf("%s/a/b/proc", root);
    char *sysdeep = t_printf("%s/sys/kernel/debug", root);
    t_mkdirs(proc);
    t_mkdirs(sys);
    t_mkdirs(deep);
    CHECK(2, mount("proc", proc, "proc", 0, NULL) == 0);
    CHECK(3, mount("sysfs", sys, "sysfs", 0, NULL) == 0);
    CHECK(4, mount("proc", deep, "proc", 0, NULL) == 0);
    CHECK(5, count_entries(proc) > 10);
    int rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    char *canon = realpath(root, NULL);
    nvb_err err = {0};
    if (nvb_hide_kernel_mounts(rootfd, canon, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        _exit(6);
    }
    CHECK(7, count_entries(proc) == 2);
    CHECK(8, count_entries(sys) == 2);
    CHECK(9, count_entries(deep) == 2);
    CHECK(10, access(sysdeep, F_OK) == -1);
    char *inproc = t_printf("%s/new", proc);
    CHECK(11, mkdir(inproc, 0755) == -1 && errno == EROFS);
    /* The host's own /proc is untouched (it is outside the root). */
    CHECK(12, count_entries("/proc") > 10);
}

static void test_hide_kernel_mounts(void **unused)
{
    (void)unused;
    g_dir = t_mkdtemp();
    run_in_child(hide_child);
    t_rm_rf(g_dir);
    free(g_dir);
}

static void rlimit_child(void)
{
    nvb_err err = {0};
    CHECK(1, nvb_rlimits_confine(&err) == 0);
    struct rlimit rl;
    CHECK(2, getrlimit(RLIMIT_CORE, &rl) == 0 && rl.rlim_max == 0);
    CHECK(3, getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max <= 1024);
    CHECK(4, getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_max != RLIM_INFINITY);
}

static void test_rlimits(void **unused)
{
    (void)unused;
    run_in_child(rlimit_child);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_caps),    cmocka_unit_test(test_seccomp),
        cmocka_unit_test(test_landlock), cmocka_unit_test(test_hide_kernel_mounts),
        cmocka_unit_test(test_rlimits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
