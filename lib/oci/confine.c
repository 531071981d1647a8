#include "oci/confine.h"
#include "oci/mountinfo.h"
#include "oci/safepath.h"
#include "util/cleanup.h"
#include "util/fileio.h"
#include "util/strv.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* ---- hiding kernel interface mounts ---------------------------------------------------- */

#ifndef RESOLVE_NO_SYMLINKS
#define RESOLVE_NO_SYMLINKS 0x04
#define RESOLVE_NO_MAGICLINKS 0x02
#define RESOLVE_IN_ROOT 0x10
#endif

/* A fresh read-only, empty tmpfs mounted over the directory fd target. */
static int cover_with_tmpfs(int target, const char *cpath, nvb_err *err)
{
    _cleanup_close_ int fs = fsopen("tmpfs", FSOPEN_CLOEXEC);
    if (fs >= 0) {
        if (fsconfig(fs, FSCONFIG_SET_STRING, "size", "4k", 0) < 0 ||
            fsconfig(fs, FSCONFIG_SET_STRING, "mode", "0555", 0) < 0 ||
            fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
            return nvb_errf_errno(err, NVB_EXIT_RUNTIME, errno, "hiding container %s: tmpfs", cpath);
        _cleanup_close_ int mnt = fsmount(fs, FSMOUNT_CLOEXEC,
                                          MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
                                              MOUNT_ATTR_NOEXEC);
        if (mnt < 0 || move_mount(mnt, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
            return nvb_errf_errno(err, NVB_EXIT_RUNTIME, errno, "hiding container %s: mount", cpath);
        return 0;
    }
    if (errno != ENOSYS)
        return nvb_errf_errno(err, NVB_EXIT_RUNTIME, errno, "hiding container %s: fsopen", cpath);
    /* Kernels before 5.2: the classic call on the fd's /proc path (the host's /proc). */
    char proc_path[64];
    snprintf(proc_path, sizeof proc_path, "/proc/self/fd/%d", target);
    if (mount("tmpfs", proc_path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=0555") < 0)
        return nvb_errf_errno(err, NVB_EXIT_RUNTIME, errno, "hiding container %s: mount", cpath);
    return 0;
}

int nvb_hide_kernel_mounts(int rootfd, const char *root_canon, nvb_err *err)
{
    _cleanup_free_ char *text = nvb_read_file("/proc/self/mountinfo", 64 * 1024 * 1024, NULL);
    if (!text)
        return nvb_errf_errno(err, NVB_EXIT_RUNTIME, errno, "/proc/self/mountinfo");
    nvb_strv paths = {0};
    if (nvb_mounts_to_hide(text, root_canon, &paths, err) < 0) {
        nvb_strv_free(&paths);
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < paths.n && rc == 0; i++) {
        const char *cpath = paths.v[i];
        /* No symlinks at all: a mount point the kernel lists is a real path. Paths under a
         * mount already covered no longer resolve (ENOENT): nothing left to hide there. */
        _cleanup_close_ int fd = nvb_openat2(rootfd, cpath + 1, O_PATH | O_CLOEXEC | O_NOFOLLOW, 0,
                                             RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
        if (fd < 0) {
            if (errno == ENOENT || errno == ENOTDIR)
                continue;
            rc = nvb_errf_errno(err, NVB_EXIT_RUNTIME, errno, "hiding container %s", cpath);
            break;
        }
        struct stat st;
        if (fstat(fd, &st) < 0) {
            rc = nvb_errf_errno(err, NVB_EXIT_RUNTIME, errno, "hiding container %s", cpath);
            break;
        }
        if (S_ISDIR(st.st_mode)) {
            rc = cover_with_tmpfs(fd, cpath, err);
        } else {
            char proc_path[64];
            snprintf(proc_path, sizeof proc_path, "/proc/self/fd/%d", fd);
            if (umount2(proc_path, MNT_DETACH) < 0)
                rc = nvb_errf_errno(err, NVB_EXIT_RUNTIME, errno, "hiding container %s: umount", cpath);
        }
    }
    nvb_strv_free(&paths);
    return rc;
}

/* ---- Landlock ---------------------------------------------------------------------- */

/* The ABI, spelt out so older kernel headers still build this (the kernel checks sizes). */
struct nvb_ll_ruleset_attr {
    uint64_t handled_access_fs;
    uint64_t handled_access_net;
    uint64_t scoped;
};
struct nvb_ll_path_beneath_attr {
    uint64_t allowed_access;
    int32_t parent_fd;
} __attribute__((packed));

#define NVB_LL_CREATE_RULESET_VERSION (1U << 0)
#define NVB_LL_RULE_PATH_BENEATH 1
#define NVB_LL_FS_EXECUTE (1ULL << 0)
#define NVB_LL_FS_READ_FILE (1ULL << 2)
#define NVB_LL_FS_V1 ((1ULL << 13) - 1) /* EXECUTE .. MAKE_SYM */
#define NVB_LL_FS_REFER (1ULL << 13)    /* ABI 2 */
#define NVB_LL_FS_TRUNCATE (1ULL << 14) /* ABI 3 */
#define NVB_LL_FS_IOCTL_DEV (1ULL << 15) /* ABI 5 */
#define NVB_LL_NET_TCP (3ULL)           /* ABI 4: BIND_TCP | CONNECT_TCP */
#define NVB_LL_SCOPES (3ULL)            /* ABI 6: ABSTRACT_UNIX_SOCKET | SIGNAL */

#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#define SYS_landlock_add_rule 445
#define SYS_landlock_restrict_self 446
#endif

int nvb_landlock_confine(int rootfd, int exefd, nvb_err *err)
{
    long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, NVB_LL_CREATE_RULESET_VERSION);
    if (abi < 0) {
        if (errno == ENOSYS || errno == EOPNOTSUPP)
            return 0;
        return nvb_errf_errno(err, NVB_EXIT_RUNTIME, errno, "landlock");
    }
    struct nvb_ll_ruleset_attr attr = {.handled_access_fs = NVB_LL_FS_V1};
    if (abi >= 2)
        attr.handled_access_fs |= NVB_LL_FS_REFER;
    if (abi >= 3)
        attr.handled_access_fs |= NVB_LL_FS_TRUNCATE;
    if (abi >= 5)
        attr.handled_access_fs |= NVB_LL_FS_IOCTL_DEV;
    if (abi >= 4)
        attr.handled_access_net = NVB_LL_NET_TCP;
    if (abi >= 6)
        attr.scoped = NVB_LL_SCOPES;
    _cleanup_close_ int rs = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof attr, 0);
    if (rs < 0)
        return nvb_errf_errno(err, NVB_EXIT_RUNTIME, errno, "landlock: create ruleset");

    struct nvb_ll_path_beneath_attr beneath_root = {
        .allowed_access = attr.handled_access_fs & ~NVB_LL_FS_EXECUTE,
        .parent_fd = rootfd,
    };
    if (syscall(SYS_landlock_add_rule, rs, NVB_LL_RULE_PATH_BENEATH, &beneath_root, 0) < 0)
        return nvb_errf_errno(err, NVB_EXIT_RUNTIME, errno, "landlock: allow the container root");
    struct nvb_ll_path_beneath_attr the_exe = {
        .allowed_access = NVB_LL_FS_EXECUTE | NVB_LL_FS_READ_FILE,
        .parent_fd = exefd,
    };
    if (syscall(SYS_landlock_add_rule, rs, NVB_LL_RULE_PATH_BENEATH, &the_exe, 0) < 0)
        return nvb_errf_errno(err, NVB_EXIT_RUNTIME, errno, "landlock: allow the host executable");
    if (syscall(SYS_landlock_restrict_self, rs, 0) < 0)
        return nvb_errf_errno(err, NVB_EXIT_RUNTIME, errno, "landlock: restrict");
    return 1;
}

/* ---- capabilities ------------------------------------------------------------------ */

int nvb_caps_keep_only(uint64_t keep, nvb_err *err)
{
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    if (syscall(SYS_capget, &hdr, data) < 0)
        return nvb_errf_errno(err, NVB_EXIT_RUNTIME, errno, "capget");
    uint64_t eff = (uint64_t)data[0].effective | ((uint64_t)data[1].effective << 32);
    uint64_t perm = (uint64_t)data[0].permitted | ((uint64_t)data[1].permitted << 32);

    /* The bounding set limits what an exec'd program may gain: as uid 0 a program starts
     * with all of it, so trimming it is what really limits the helper. Without
     * CAP_SETPCAP (an unprivileged caller) nothing can be gained anyway under
     * no_new_privs. */
    if (eff & (1ULL << CAP_SETPCAP)) {
        for (int cap = 0; cap < 64; cap++) {
            if (keep & (1ULL << cap))
                continue;
            if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
                if (errno == EINVAL)
                    break; /* past the kernel's last capability */
                return nvb_errf_errno(err, NVB_EXIT_RUNTIME, errno, "dropping capability %d from the bounding set",
                                      cap);
            }
        }
    }
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        return nvb_errf_errno(err, NVB_EXIT_RUNTIME, errno, "clearing ambient capabilities");

    uint64_t want = perm & keep;
    data[0].effective = data[0].permitted = (uint32_t)want;
    data[1].effective = data[1].permitted = (uint32_t)(want >> 32);
    data[0].inheritable = data[1].inheritable = 0;
    if (syscall(SYS_capset, &hdr, data) < 0)
        return nvb_errf_errno(err, NVB_EXIT_RUNTIME, errno, "capset");
    return 0;
}

/* ---- seccomp ----------------------------------------------------------------------- */

#if defined(__x86_64__)
#define NVB_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define NVB_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

#ifdef NVB_AUDIT_ARCH
static const int denied_syscalls[] = {
    SYS_mount, SYS_umount2, SYS_pivot_root, SYS_chroot, SYS_unshare, SYS_setns, SYS_ptrace,
    SYS_process_vm_readv, SYS_process_vm_writev, SYS_open_by_handle_at, SYS_bpf, SYS_perf_event_open,
    SYS_keyctl, SYS_add_key, SYS_request_key, SYS_userfaultfd, SYS_kexec_load, SYS_init_module,
    SYS_finit_module, SYS_delete_module, SYS_reboot, SYS_swapon, SYS_swapoff, SYS_acct, SYS_execve,
#ifdef SYS_kexec_file_load
    SYS_kexec_file_load,
#endif
#ifdef SYS_fsopen
    SYS_fsopen, SYS_fsmount, SYS_fsconfig, SYS_fspick, SYS_move_mount, SYS_open_tree,
#endif
#ifdef SYS_mount_setattr
    SYS_mount_setattr,
#endif
#ifdef SYS_io_uring_setup
    SYS_io_uring_setup, SYS_io_uring_enter, SYS_io_uring_register,
#endif
#ifdef SYS_iopl
    SYS_iopl, SYS_ioperm,
#endif
};

/* Answered "done" without being done: ldconfig fsyncs the cache it writes, in the container's
 * writable layer, and the hook writes that cache again at every start, so the wait on a
 * shared disk (tens of ms when other jobs write to it) buys nothing. A crash right after
 * leaves at worst an empty cache, which the loader ignores, until the next start. */
static const int noop_syscalls[] = {
    SYS_fsync, SYS_fdatasync, SYS_sync, SYS_syncfs, SYS_sync_file_range,
};

#define NVB_CLONE_NS_FLAGS                                                                                     \
    (CLONE_NEWNS | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP)
#define ARG_LO(i) ((uint32_t)(offsetof(struct seccomp_data, args) + 8 * (i)))
#define STMT(code, k) ((struct sock_filter)BPF_STMT((code), (k)))
#define JUMP(code, k, jt, jf) ((struct sock_filter)BPF_JUMP((code), (k), (jt), (jf)))
#define RET_ERRNO(e) STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ((e) & SECCOMP_RET_DATA))
#endif

int nvb_seccomp_confine(int exec_fd, nvb_err *err)
{
#ifndef NVB_AUDIT_ARCH
    (void)exec_fd;
    (void)err;
    return 0;
#else
    enum { NDENIED = sizeof denied_syscalls / sizeof denied_syscalls[0] };
    enum { NNOOP = sizeof noop_syscalls / sizeof noop_syscalls[0] };
    struct sock_filter prog[(NDENIED + NNOOP) * 2 + 32];
    unsigned n = 0;
    /* Another architecture's calling convention would bypass the numbers below. */
    prog[n++] = STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
    prog[n++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, NVB_AUDIT_ARCH, 1, 0);
    prog[n++] = STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
    prog[n++] = STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
#ifdef __x86_64__
    /* x32 system calls share the arch value; refuse them all. */
    prog[n++] = JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000U, 0, 1);
    prog[n++] = RET_ERRNO(EPERM);
#endif
    for (unsigned i = 0; i < NDENIED; i++) {
        prog[n++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)denied_syscalls[i], 0, 1);
        prog[n++] = RET_ERRNO(EPERM);
    }
    for (unsigned i = 0; i < NNOOP; i++) {
        prog[n++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)noop_syscalls[i], 0, 1);
        prog[n++] = RET_ERRNO(0); /* returns 0: success, nothing done */
    }
    /* clone3 hides its flags in memory a filter cannot read: ENOSYS makes libc fall back
     * to clone, whose flags are checked next. */
    prog[n++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone3, 0, 1);
    prog[n++] = RET_ERRNO(ENOSYS);
    prog[n++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone, 0, 4);
    prog[n++] = STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(0));
    prog[n++] = JUMP(BPF_JMP | BPF_JSET | BPF_K, NVB_CLONE_NS_FLAGS, 0, 1);
    prog[n++] = RET_ERRNO(EPERM);
    prog[n++] = STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    /* execveat: only of the host executable we opened (fd argument). */
    prog[n++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_execveat, 0, 4);
    prog[n++] = STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(0));
    prog[n++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)exec_fd, 1, 0);
    prog[n++] = RET_ERRNO(EPERM);
    prog[n++] = STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    prog[n++] = STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);

    struct sock_fprog fprog = {.len = (unsigned short)n, .filter = prog};
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog, 0, 0) < 0)
        return nvb_errf_errno(err, NVB_EXIT_RUNTIME, errno, "seccomp filter");
    return 1;
#endif
}

/* ---- resource limits --------------------------------------------------------------- */

int nvb_rlimits_confine(nvb_err *err)
{
    static const struct {
        int resource;
        rlim_t value;
        const char *name;
    } limits[] = {
        {RLIMIT_CORE, 0, "RLIMIT_CORE"},
        {RLIMIT_FSIZE, 512ULL * 1024 * 1024, "RLIMIT_FSIZE"},
        {RLIMIT_NOFILE, 1024, "RLIMIT_NOFILE"},
    };
    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
        struct rlimit cur;
        if (getrlimit(limits[i].resource, &cur) < 0)
            return nvb_errf_errno(err, NVB_EXIT_RUNTIME, errno, "getrlimit %s", limits[i].name);
        /* Only ever lower a limit. */
        rlim_t v = limits[i].value;
        if (cur.rlim_max != RLIM_INFINITY && cur.rlim_max < v)
            v = cur.rlim_max;
        struct rlimit nl = {.rlim_cur = v, .rlim_max = v};
        if (setrlimit(limits[i].resource, &nl) < 0)
            return nvb_errf_errno(err, NVB_EXIT_RUNTIME, errno, "setrlimit %s", limits[i].name);
    }
    return 0;
}
