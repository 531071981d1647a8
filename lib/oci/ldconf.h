/* The loader configuration files the ldcache hook keeps in a container's
 * /etc/ld.so.conf.d, so that any later ldconfig inside the container (package triggers,
 * a Dockerfile's RUN ldconfig, entrypoints) still finds the driver's libraries. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include "util/error.h"

/* glibc's ldconfig reads the *.conf files of /etc/ld.so.conf.d in name order and puts the
 * folders it reads first ahead in the cache. CUDA's forward-compatibility libraries must
 * beat the host driver's libcuda, and the host driver's libraries must beat any copy an
 * image carries (libc.conf's /usr/local/lib, the multiarch x86_64-linux-gnu.conf), so
 * both sort before glibc's and Debian's own files, compat first. */
#define NVB_LDCONF_COMPAT "00-nvbind-cuda-compat.conf"
#define NVB_LDCONF_DRIVER "01-nvbind-driver.conf"

/* Make /etc/ld.so.conf.d/NAME inside the root rootfd list folders (one per line), creating
 * the folder when missing. Every lookup stays inside the root; the file is replaced
 * atomically (a symlink at NAME is replaced, never followed) and left alone when it
 * already says the same. NVB_EXIT_IO on failure. */
int nvb_ldconf_write(int rootfd, const char *name, const char *const *folders, size_t nfolders, nvb_err *err);

/* Remove /etc/ld.so.conf.d/NAME (a file or a symlink, never what it points to) when it is
 * there: the compat file of an earlier start whose reason is gone. 0 also when absent. */
int nvb_ldconf_remove(int rootfd, const char *name, nvb_err *err);

/* Whether /etc/ld.so.conf.d/NAME is there (as anything; not followed). */
bool nvb_ldconf_present(int rootfd, const char *name);
