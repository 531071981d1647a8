/* The WSL2 checks (`nvbind wsl2 check`, doctor on a WSL2 host). */
#pragma once
#include "host/doctor.h"

/* Append to d what the WSL2 guest under root has and lacks, each finding with its fix. h is
 * the discovered host (its GPUs and driver version) or NULL when discovery failed. */
void nvb_wsl2_checks(nvb_doctor *d, const char *root, const nvb_host *h);
