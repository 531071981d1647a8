/* The default seccomp profile of a capsule (linux.seccomp in its config.json).
 *
 * Where the facts come from: the system call names are those docker's default profile
 * (moby, profiles/seccomp/default.json) and podman's (containers/common, seccomp.json) allow
 * a container that has the default capabilities, which is the set nvbind gives. Left out, as
 * docker leaves them out without CAP_SYS_ADMIN and the other capabilities nvbind does not
 * grant: namespaces (unshare, setns, clone with namespace flags), mounts (mount, umount2,
 * pivot_root, the fsopen family, open_tree, move_mount, mount_setattr), the kernel keyring
 * (add_key, keyctl, request_key), bpf, perf_event_open, userfaultfd, module loading, kexec,
 * reboot, swapon/swapoff, acct, quotactl, lookup_dcookie, name_to_handle_at,
 * open_by_handle_at, kcmp, ioperm/iopl, syslog, the clock setters, io_uring (docker blocks it
 * since 25.0) and the obsolete calls (uselib, ustat, sysfs, vm86, nfsservctl, ...). Anything
 * not listed fails with EPERM; runc answers ENOSYS for calls newer than any listed here, so
 * that a C library falls back as it would on an older kernel. */
#include "runtime/oci_seccomp.h"

#include <stdio.h>
#include <sys/utsname.h>

static const char *const allowed[] = {
    "_llseek", "_newselect", "accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk", "cachestat",
    "capget", "capset", "chdir", "chmod", "chown", "chown32", "chroot", "clock_adjtime", "clock_adjtime64",
    "clock_getres", "clock_getres_time64", "clock_gettime", "clock_gettime64", "clock_nanosleep",
    "clock_nanosleep_time64", "close", "close_range", "connect", "copy_file_range", "creat", "dup", "dup2", "dup3",
    "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_pwait", "epoll_pwait2", "epoll_wait",
    "epoll_wait_old", "eventfd", "eventfd2", "execve", "execveat", "exit", "exit_group", "faccessat", "faccessat2",
    "fadvise64", "fadvise64_64", "fallocate", "fanotify_mark", "fchdir", "fchmod", "fchmodat", "fchmodat2",
    "fchown", "fchown32", "fchownat", "fcntl", "fcntl64", "fdatasync", "fgetxattr", "flistxattr", "flock", "fork",
    "fremovexattr", "fsetxattr", "fstat", "fstat64", "fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate",
    "ftruncate64", "futex", "futex_requeue", "futex_time64", "futex_wait", "futex_waitv", "futex_wake", "futimesat",
    "get_mempolicy", "get_robust_list", "get_thread_area", "getcpu", "getcwd", "getdents", "getdents64", "getegid",
    "getegid32", "geteuid", "geteuid32", "getgid", "getgid32", "getgroups", "getgroups32", "getitimer",
    "getpeername", "getpgid", "getpgrp", "getpid", "getppid", "getpriority", "getrandom", "getresgid",
    "getresgid32", "getresuid", "getresuid32", "getrlimit", "getrusage", "getsid", "getsockname", "getsockopt",
    "gettid", "gettimeofday", "getuid", "getuid32", "getxattr", "inotify_add_watch", "inotify_init",
    "inotify_init1", "inotify_rm_watch", "io_cancel", "io_destroy", "io_getevents", "io_pgetevents",
    "io_pgetevents_time64", "io_setup", "io_submit", "ioctl", "ioprio_get", "ioprio_set", "ipc", "kill",
    "landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self", "lchown", "lchown32", "lgetxattr",
    "link", "linkat", "listen", "listxattr", "llistxattr", "lremovexattr", "lseek", "lsetxattr", "lstat", "lstat64",
    "madvise", "map_shadow_stack", "mbind", "membarrier", "memfd_create", "memfd_secret", "mincore", "mkdir",
    "mkdirat", "mknod", "mknodat", "mlock", "mlock2", "mlockall", "mmap", "mmap2", "mprotect", "mq_getsetattr",
    "mq_notify", "mq_open", "mq_timedreceive", "mq_timedreceive_time64", "mq_timedsend", "mq_timedsend_time64",
    "mq_unlink", "mremap", "mseal", "msgctl", "msgget", "msgrcv", "msgsnd", "msync", "munlock", "munlockall",
    "munmap", "nanosleep", "newfstatat", "open", "openat", "openat2", "pause", "pidfd_getfd", "pidfd_open",
    "pidfd_send_signal", "pipe", "pipe2", "pkey_alloc", "pkey_free", "pkey_mprotect", "poll", "ppoll",
    "ppoll_time64", "prctl", "pread64", "preadv", "preadv2", "prlimit64", "process_mrelease", "pselect6",
    "pselect6_time64", "pwrite64", "pwritev", "pwritev2", "read", "readahead", "readdir", "readlink", "readlinkat",
    "readv", "recv", "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg", "remap_file_pages", "removexattr",
    "rename", "renameat", "renameat2", "restart_syscall", "rmdir", "rseq", "rt_sigaction", "rt_sigpending",
    "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait",
    "rt_sigtimedwait_time64", "rt_tgsigqueueinfo", "sched_get_priority_max", "sched_get_priority_min",
    "sched_getaffinity", "sched_getattr", "sched_getparam", "sched_getscheduler", "sched_rr_get_interval",
    "sched_rr_get_interval_time64", "sched_setaffinity", "sched_setattr", "sched_setparam", "sched_setscheduler",
    "sched_yield", "seccomp", "select", "semctl", "semget", "semop", "semtimedop", "semtimedop_time64", "send",
    "sendfile", "sendfile64", "sendmmsg", "sendmsg", "sendto", "set_mempolicy", "set_mempolicy_home_node",
    "set_robust_list", "set_thread_area", "set_tid_address", "setfsgid", "setfsgid32", "setfsuid", "setfsuid32",
    "setgid", "setgid32", "setgroups", "setgroups32", "setitimer", "setpgid", "setpriority", "setregid",
    "setregid32", "setresgid", "setresgid32", "setresuid", "setresuid32", "setreuid", "setreuid32", "setrlimit",
    "setsid", "setsockopt", "setuid", "setuid32", "setxattr", "shmat", "shmctl", "shmdt", "shmget", "shutdown",
    "sigaction", "sigaltstack", "signal", "signalfd", "signalfd4", "sigpending", "sigprocmask", "sigreturn",
    "sigsuspend", "socket", "socketcall", "socketpair", "splice", "stat", "stat64", "statfs", "statfs64", "statx",
    "symlink", "symlinkat", "sync", "sync_file_range", "syncfs", "sysinfo", "tee", "tgkill", "time", "timer_create",
    "timer_delete", "timer_getoverrun", "timer_gettime", "timer_gettime64", "timer_settime", "timer_settime64",
    "timerfd", "timerfd_create", "timerfd_gettime", "timerfd_gettime64", "timerfd_settime", "timerfd_settime64",
    "times", "tkill", "truncate", "truncate64", "ugetrlimit", "umask", "uname", "unlink", "unlinkat", "utime",
    "utimensat", "utimensat_time64", "utimes", "vfork", "wait4", "waitid", "waitpid", "write", "writev",
    NULL,
};

/* Architecture-specific calls the same profiles allow, and the architectures a native
 * kernel also runs (a 64-bit x86 kernel runs 32-bit and x32 programs). */
#if defined(__x86_64__)
static const char *const arch_allowed[] = {"arch_prctl", "modify_ldt", NULL};
static const char *const arches[] = {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", NULL};
#elif defined(__i386__)
static const char *const arch_allowed[] = {"modify_ldt", NULL};
static const char *const arches[] = {"SCMP_ARCH_X86", NULL};
#elif defined(__aarch64__)
static const char *const arch_allowed[] = {"arm_fadvise64_64", "arm_sync_file_range", "breakpoint", "cacheflush",
                                           "set_tls", "sync_file_range2", NULL};
static const char *const arches[] = {"SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM", NULL};
#else
/* Elsewhere: the common list, for the runtime's native architecture only. */
static const char *const arch_allowed[] = {NULL};
static const char *const arches[] = {NULL};
#endif

/* Debuggers (strace, gdb, a profiler) need these; before Linux 4.8 a traced process could
 * change its system call after seccomp had checked it, so docker allows them from 4.8 on. */
static const char *const ptrace_calls[] = {"ptrace", "process_vm_readv", "process_vm_writev", NULL};

/* personality(2) personas docker allows: PER_LINUX, PER_LINUX32, UNAME26, UNAME26|PER_LINUX32
 * and the query 0xffffffff. Others (READ_IMPLIES_EXEC, ADDR_NO_RANDOMIZE...) weaken the
 * memory protections of the programs the container runs. */
static const json_int_t personas[] = {0x0, 0x8, 0x20000, 0x20008, 0xffffffff};

/* clone(2) flags that make namespaces: CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS,
 * CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET. The flags are argument 0 on
 * x86 and arm (s390 swaps the first two arguments; nvbind builds no profile for it). */
#define NAMESPACE_CLONE_FLAGS 0x7E020000

#define EPERM_RET 1
#define ENOSYS_RET 38

static int append_names(json_t *names, const char *const *v)
{
    for (; *v; v++)
        if (json_array_append_new(names, json_string(*v)) < 0)
            return -1;
    return 0;
}

static json_t *rule_with_arg(const char *name, json_int_t index, json_int_t value, const char *op)
{
    return json_pack("{s:[s], s:s, s:[{s:I, s:I, s:I, s:s}]}", "names", name, "action", "SCMP_ACT_ALLOW", "args",
                     "index", index, "value", value, "valueTwo", (json_int_t)0, "op", op);
}

static json_t *allow_rule(bool allow_ptrace)
{
    json_t *names = json_array();
    if (!names || append_names(names, allowed) < 0 || append_names(names, arch_allowed) < 0 ||
        (allow_ptrace && append_names(names, ptrace_calls) < 0)) {
        json_decref(names);
        return NULL;
    }
    return json_pack("{s:o, s:s}", "names", names, "action", "SCMP_ACT_ALLOW");
}

static json_t *syscall_rules(bool allow_ptrace)
{
    json_t *rules = json_array();
    if (!rules)
        return NULL;
    bool ok = json_array_append_new(rules, allow_rule(allow_ptrace)) == 0 &&
              json_array_append_new(rules, rule_with_arg("clone", 0, NAMESPACE_CLONE_FLAGS, "SCMP_CMP_MASKED_EQ")) == 0 &&
              json_array_append_new(rules, json_pack("{s:[s], s:s, s:i}", "names", "clone3", "action", "SCMP_ACT_ERRNO",
                                                     "errnoRet", ENOSYS_RET)) == 0;
    for (size_t i = 0; ok && i < sizeof personas / sizeof personas[0]; i++)
        ok = json_array_append_new(rules, rule_with_arg("personality", 0, personas[i], "SCMP_CMP_EQ")) == 0;
    if (!ok) {
        json_decref(rules);
        return NULL;
    }
    return rules;
}

json_t *nvb_oci_seccomp_default(bool allow_ptrace)
{
    json_t *arch = json_array();
    if (!arch || append_names(arch, arches) < 0) {
        json_decref(arch);
        return NULL;
    }
    return json_pack("{s:s, s:i, s:o, s:o}", "defaultAction", "SCMP_ACT_ERRNO", "defaultErrnoRet", EPERM_RET,
                     "architectures", arch, "syscalls", syscall_rules(allow_ptrace));
}

bool nvb_oci_seccomp_ptrace_safe(void)
{
    struct utsname u;
    unsigned major = 0, minor = 0;
    if (uname(&u) < 0 || sscanf(u.release, "%u.%u", &major, &minor) != 2)
        return false;
    return major > 4 || (major == 4 && minor >= 8);
}
