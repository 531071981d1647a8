/* Which file names are NVIDIA driver libraries, and which capability each serves. */
#pragma once
#include <stdbool.h>

/* The enum nvb_cap bits (lib/host/host.h) a library serves when `name` (a file basename
 * such as "libcuda.so.550.54.14" or "libGLX_nvidia.so.0") is one of the NVIDIA driver's
 * libraries for driver `driver_version`; 0 when it is not NVIDIA's or belongs to
 * another driver version (a leftover of an older driver). COMPAT32 is left to the caller.
 *
 * Accepted: "<stem>.so", "<stem>.so.<1-2 digit ABI number>" (the SONAME, also when a
 * distribution ships it as a plain file) and "<stem>.so.<driver_version>" for the
 * catalogued stems; any numeric version for the EGL platform libraries that carry their own
 * (libnvidia-egl-wayland.so.1.1.13); only "<stem>.so.<driver_version>" for libGL/libEGL/
 * libGLESv1_CM/libGLESv2 (otherwise glvnd's) and for libnvidia-* stems not catalogued yet. */
unsigned nvb_driver_lib_caps(const char *name, const char *driver_version);

/* The SONAME-less development link a library should get inside the container, e.g.
 * "libcuda.so" for libcuda.so.1; NULL when none is customary. */
const char *nvb_driver_lib_dev_link(const char *soname);
