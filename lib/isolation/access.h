/* doctor's checks of who may claim GPUs and write the audit log (access.c). */
#pragma once
#include "host/doctor.h"

/* Add the "claims" and "audit" checks for the caller: state_dir NULL is the default folder,
 * audit_log NULL the default log and "" no audit log. */
void nvb_isolation_doctor(nvb_doctor *d, const char *state_dir, const char *audit_log);
