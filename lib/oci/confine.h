/* Confinement steps for a host helper (ldconfig) that runs on a container's root
 * filesystem. Each is one layer; together they keep a helper that follows hostile paths,
 * or is even subverted by hostile input, inside the container's root. Each returns 0 or
 * -1 with err set; call them in the helper's child before its exec, in the order
 * nvb_ldconfig_run uses. */
#pragma once
#include <stdint.h>
#include "util/error.h"

/* Cover every kernel interface mount (procfs, sysfs, ...) beneath root with an empty,
 * read-only tmpfs, or detach it when it is a file. Must run in a private mount namespace
 * of our own (unshare(CLONE_NEWNS) + MS_PRIVATE): the container never sees the covers.
 * rootfd: the root opened in that namespace; root_canon: its canonical host path. */
int nvb_hide_kernel_mounts(int rootfd, const char *root_canon, nvb_err *err);

/* Landlock: from now on this process and what it executes may only touch files beneath
 * rootfd (all rights but execute) and execute exefd. Also denies TCP and, where the kernel
 * knows them, signals and abstract sockets outside. Returns 1 when applied, 0 when the
 * kernel has no Landlock (the other layers still hold), -1 on error. */
int nvb_landlock_confine(int rootfd, int exefd, nvb_err *err);

/* Keep only the capabilities in keep (a mask of CAP_* bits) in the effective, permitted
 * and bounding sets; clear inheritable and ambient. */
int nvb_caps_keep_only(uint64_t keep, nvb_err *err);

/* A seccomp filter that refuses (EPERM) what a library-cache builder never needs: mounts,
 * namespaces, chroot, ptrace, kernel modules, keyrings, bpf, io_uring, any execve, and any
 * execveat except of exec_fd; and that answers fsync, fdatasync, sync, syncfs and
 * sync_file_range with success without doing them (the cache is remade at every start).
 * Returns 1 when applied, 0 on an architecture it does not
 * know, -1 on error. Needs no_new_privs set first. */
int nvb_seccomp_confine(int exec_fd, nvb_err *err);

/* Small resource limits: no core dumps, bounded file size and open files. */
int nvb_rlimits_confine(nvb_err *err);
