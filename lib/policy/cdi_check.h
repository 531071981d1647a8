/* Is a CDI spec nvbind wrote still true of the host? */
#pragma once
#include <jansson.h>
#include "host/host.h"

/* True when the spec is one nvbind generated (its hooks run `nvbind hook ...`). */
bool nvb_cdi_is_nvbind_spec(const json_t *spec);

/* The driver version the spec was generated for, read from its versioned library mounts
 * (libcuda.so.<version>, libnvidia-ml.so.<version>); NULL when it names none. malloc'd. */
char *nvb_cdi_spec_driver_version(const json_t *spec);

/* Append one line per reason the spec is stale against host h (driver version changed,
 * device node changed or vanished, GPU added or removed, mounted file or hook binary
 * missing). Returns the number of reasons, -1 when out of memory. */
int nvb_cdi_stale_reasons(const json_t *spec, const nvb_host *h, nvb_strv *reasons);
