/* The seccomp profile of a capsule's config.json (linux.seccomp), like the default profile
 * docker gives a container that has the default capabilities. */
#pragma once
#include <jansson.h>
#include <stdbool.h>

/* The OCI linux.seccomp object: an allow list. Every system call not on it fails with EPERM
 * (defaultAction SCMP_ACT_ERRNO, defaultErrnoRet 1); clone is allowed only without the
 * flags that make namespaces; clone3 fails with ENOSYS (its flags cannot be inspected, and
 * the C libraries fall back to clone); personality only for the safe personas; ptrace,
 * process_vm_readv and process_vm_writev only when allow_ptrace (kernels before 4.8 let
 * ptrace bypass seccomp). architectures: the native one and those it runs (x86_64: x86 and
 * x32; aarch64: arm). New reference, NULL when out of memory. */
json_t *nvb_oci_seccomp_default(bool allow_ptrace);

/* Whether the running kernel keeps seccomp in force under ptrace (Linux 4.8 and later). */
bool nvb_oci_seccomp_ptrace_safe(void);
