/* The NVIDIA device nodes the loaded driver offers, made where missing (nvbind system
 * create-device-nodes): what nvidia-modprobe does when the driver is loaded but no program has
 * made its nodes yet (a host without nvidia-modprobe's setuid helper, a minimal image, a node
 * removed), and what a CDI spec generated then misses. The kernel module makes none itself. */
#pragma once
#include <stdbool.h>
#include <stdio.h>
#include "host/host.h"
#include "util/error.h"

typedef struct nvb_devnodes_counts {
    unsigned made;      /* nodes made (or, with dry_run, that would be) */
    unsigned replaced;  /* character nodes of another number, mode or owner, made again */
    unsigned present;   /* nodes already as the driver says */
    unsigned conflicts; /* names taken by something that is no character device: left alone */
    unsigned unloaded;  /* nodes of a module that is not loaded (nvidia-uvm): not made */
    unsigned failed;    /* nodes the kernel refused to make: each said on err_out, the rest made */
} nvb_devnodes_counts;

/* Under h's root, from the driver's /proc files: /dev/nvidiactl, /dev/nvidia-modeset and each
 * GPU's /dev/nvidiaN on the nvidia major; /dev/nvidia-uvm and -uvm-tools on nvidia-uvm's; a
 * /dev/nvidia-caps/nvidia-capN for each capability the driver lists (MIG), all with the
 * owner and mode the driver's params give (DeviceFileUID, DeviceFileGID, DeviceFileMode;
 * a capability's own mode). A node is made under a temporary name and renamed into place, so
 * a reader never sees a half-made one; nothing is followed through a link, and /proc is read
 * inside the root. With the driver's ModifyDeviceFiles 0 nothing is made (the administrator
 * keeps the nodes), nor a capability whose DeviceFileModify is 0. Each node made goes on out,
 * each one left or failed on err_out. 0, or -1 with err: NVB_EXIT_NO_DRIVER without the
 * nvidia major or on a WSL2 guest (its GPUs are reached through /dev/dxg), NVB_EXIT_HOST_DATA for a major no driver could have (nvidia's is 195, the
 * others the kernel's dynamic ones), NVB_EXIT_IO when /dev cannot be used. */
int nvb_devnodes_make(const nvb_host *h, bool dry_run, FILE *out, FILE *err_out, nvb_devnodes_counts *counts,
                      nvb_err *err);
