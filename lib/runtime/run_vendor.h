/* `nvbind run --gpu KIND=NAME`: GPUs of other vendors (amd.com/gpu=0, intel.com/gpu=all,
 * nvbind.drm/nouveau=0000:01:00.0) by their CDI names. They carry device nodes only. */
#pragma once
#include <stdbool.h>
#include "host/host.h"
#include "policy/edits.h"
#include "util/error.h"
#include "util/strv.h"

/* Whether a --gpu list names other vendors' GPUs: its first entry is KIND=NAME. */
bool nvb_vendor_request(const char *req);

/* Resolve the list on host h: every entry KIND=NAME with one kind of this host's other
 * vendors; NAME an index, a bus id or all (policy/vendor_spec.h). Fills *kind (borrowed from
 * h), names (the CDI names, for engines that take them) and nodes (the selected GPUs' device
 * nodes, for runc and crun). A bad list is NVB_EXIT_USAGE naming the entry and what the host
 * has. */
int nvb_vendor_select(const nvb_host *h, const char *req, const char **kind, nvb_strv *names, nvb_edits *nodes,
                      nvb_err *err);
