/* Which mounts inside a container's root expose the kernel (procfs, sysfs, cgroupfs, ...):
 * the ldconfig child hides them before it enters the root, because their magic links
 * (/proc/PID/root, /proc/PID/cwd, ...) and writable knobs (/proc/sys, /sys/kernel) lead out
 * of any chroot. */
#pragma once
#include <stdbool.h>
#include "util/error.h"
#include "util/strv.h"

/* Is fstype (as in /proc/self/mountinfo) a kernel interface filesystem to hide? */
bool nvb_fstype_is_kernel_interface(const char *fstype);

/* One line of /proc/PID/mountinfo: the mount point (octal escapes decoded) and fstype,
 * both pointing into line, which is modified. -1 when the line is malformed. */
int nvb_mountinfo_parse_line(char *line, char **mount_point, char **fstype);

/* From the text of a mountinfo file, the container paths (absolute, relative to root,
 * e.g. "/proc") of every kernel interface mount strictly beneath the host path root
 * (canonical, no trailing slash except "/"), shallowest first. NVB_EXIT_HOST_DATA when a
 * line is malformed. */
int nvb_mounts_to_hide(const char *mountinfo, const char *root, nvb_strv *out, nvb_err *err);
