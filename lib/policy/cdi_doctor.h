/* doctor's checks of the CDI specs engines read (cdi_doctor.c). */
#pragma once
#include "host/doctor.h"
#include "host/host.h"

/* Add checks for kind's specs in dirs (NULL/0: /etc/cdi, /var/run/cdi): none there (warning),
 * nvbind's stale against h (warning; h NULL: not checked), another spec declaring the same
 * devices (error when engines refuse the device, else warning: one overrides the other). */
void nvb_cdi_doctor(nvb_doctor *d, const nvb_host *h, const char *const *dirs, size_t ndirs, const char *kind);
