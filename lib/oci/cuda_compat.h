/* CUDA forward compatibility (NVIDIA's cuda-compat packages): an image may carry a newer
 * libcuda in /usr/local/cuda/compat than the host driver; the container should then load
 * that one. Only the names of the image's files are read, never their contents. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#define NVB_CUDA_COMPAT_DIR "/usr/local/cuda/compat"

/* Is s a driver version: 2 to 4 dot-separated numbers of at most 9 digits each ("550.54.14")? */
bool nvb_driver_version_ok(const char *s);

/* Compare two versions that pass nvb_driver_version_ok numerically, part by part (a missing
 * part counts as 0): <0, 0, >0 as a is older, the same, newer than b. */
int nvb_driver_version_cmp(const char *a, const char *b);

/* The newest version V among the names "libcuda.so.V" in the container folder
 * NVB_CUDA_COMPAT_DIR of the root rootfd (resolved inside the root; a missing or
 * unreadable folder counts as none), copied to out. true when one was found. */
bool nvb_cuda_compat_newest(int rootfd, char *out, size_t outlen);

/* Should the container load the compat folder first: does it hold a libcuda newer than
 * host_version (which must pass nvb_driver_version_ok)? */
bool nvb_cuda_compat_wanted(int rootfd, const char *host_version);
