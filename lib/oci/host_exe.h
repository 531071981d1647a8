/* Host executables a hook runs confined to a container's root: they must be opened on the
 * host before the container is touched, and must not need anything from the container. */
#pragma once
#include "util/error.h"

/* Check that the open file fd (path for messages) is a statically linked ELF executable:
 * no PT_INTERP, so running it inside the container's root loads no dynamic loader or
 * library from the container. Also refuses scripts (their interpreter would come from the
 * container). NVB_EXIT_RUNTIME on failure. */
int nvb_elf_check_static(int fd, const char *path, nvb_err *err);

/* Open path O_RDONLY|O_CLOEXEC and check it: a regular file owned by root or by us, not
 * writable by group or others, statically linked. Returns the fd or -1 with err set. */
int nvb_host_static_exe_open(const char *path, nvb_err *err);

/* The host's ldconfig: override when non-NULL, else the first of /sbin/ldconfig.real
 * (Ubuntu: /sbin/ldconfig is a shell wrapper there), /sbin/ldconfig, /usr/sbin/ldconfig
 * that exists. *chosen (if non-NULL) gets the path used (static storage or override). */
int nvb_host_ldconfig_open(const char *override, const char **chosen, nvb_err *err);
