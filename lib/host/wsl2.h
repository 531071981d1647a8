/* WSL2: the NVIDIA driver a Windows host lends to its WSL2 guest. There is no NVIDIA kernel
 * module and no /proc/driver/nvidia: the GPU is reached through the paravirtual /dev/dxg
 * (the dxgkrnl driver), the user-space driver is mapped in by WSL under /usr/lib/wsl (lib/: the
 * loaders, libdxcore, libd3d12; drivers/<store>/: the Windows driver store's Linux files).
 * docs/wsl2.md describes the layout and where each fact comes from. */
#pragma once
#include <stdbool.h>
#include "host/discover.h"

#define NVB_WSL2_DXG "/dev/dxg"
#define NVB_WSL2_LIB_DIR "/usr/lib/wsl/lib"
#define NVB_WSL2_DRIVERS_DIR "/usr/lib/wsl/drivers"
/* Where the WSL2 gaming edits find WSLg (its X11, Wayland and PulseAudio sockets). */
#define NVB_WSLG_RUNTIME_DIR "/mnt/wslg/runtime-dir"
#define NVB_WSLG_PULSE "/mnt/wslg/PulseServer"
#define NVB_WSLG_X11_DIR "/tmp/.X11-unix"

/* Whether the kernel inside root says it is WSL2's: /proc/sys/kernel/osrelease (else
 * /proc/version) holds "microsoft-standard-WSL2". */
bool nvb_wsl2_kernel(nvb_rootpath *root);
/* A WSL2 guest with GPU paravirtualization: /dev/dxg and WSL2's kernel, both inside root. */
bool nvb_wsl2_detect(nvb_rootpath *root);
/* The same for a host root given by path ("/" or a folder). */
bool nvb_wsl2_detect_root(const char *root);

/* The files of NVIDIA's WSL driver that CUDA and NVML need, each looked up in the driver
 * store first, then in /usr/lib/wsl/lib (NVIDIA's container toolkit names the same set). */
extern const char *const nvb_wsl2_required_files[];

/* The NVIDIA driver store folder under /usr/lib/wsl/drivers (a path inside root, into out,
 * PATH_MAX bytes): the folder holding NVIDIA's WSL files; when several do (packages of
 * earlier drivers stay in the Windows driver store), the one written last. The number of
 * NVIDIA folders seen in *n_found. 0, or -ENOENT when there is none. */
int nvb_wsl2_driver_store(nvb_rootpath *root, char *out, unsigned *n_found);

/* Discovery of a WSL2 host (host.c calls it instead of the Linux driver's steps): /dev/dxg,
 * the libraries, the driver store, nvidia-smi, the GPUs and driver version from NVML loaded
 * from there within timeout_ms, WSLg's folders. */
int nvb_discover_wsl2(nvb_discovery *d, unsigned timeout_ms, nvb_err *err);

/* NVML's answer on a WSL2 host: the GPUs it lists and the driver's version. */
int nvb_wsl2_nvml_list(nvb_discovery *d, const char *lib_host_path, unsigned timeout_ms);
