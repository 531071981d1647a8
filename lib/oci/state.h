/* The OCI container state a runtime passes to hooks on stdin (runtime-spec, "State"). */
#pragma once
#include <stddef.h>
#include "util/error.h"

/* Largest state document accepted: real ones are a few hundred bytes plus annotations. */
#define NVB_OCI_STATE_MAX (1024 * 1024)

typedef struct nvb_oci_state {
    char *oci_version; /* "ociVersion", NULL when absent */
    char *id;          /* "id", NULL when absent */
    char *status;      /* "status", NULL when absent */
    long long pid;     /* "pid", -1 when absent */
    char *bundle;      /* "bundle": absolute host path of the bundle folder (required) */
} nvb_oci_state;

/* Parse a state document of len bytes (need not be NUL-terminated). Only "bundle" is
 * required (absolute path); other members are checked for type when present.
 * Errors are NVB_EXIT_INPUT and name the member. */
int nvb_oci_state_parse(const char *buf, size_t len, nvb_oci_state *out, nvb_err *err);

/* Read the whole state from fd (at most NVB_OCI_STATE_MAX bytes) and parse it. */
int nvb_oci_state_read_fd(int fd, nvb_oci_state *out, nvb_err *err);

void nvb_oci_state_free(nvb_oci_state *s);
