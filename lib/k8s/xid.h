/* GPU health from NVML's XID error events: a GPU that reports a critical XID (one that is not
 * an application's own fault) is unhealthy from then on. NVML runs on a thread of its own, so
 * a slow or hung NVML never holds up the plugin's RPCs. */
#pragma once
#include "host/host.h"
#include "util/strv.h"

typedef struct nvb_dp_xid nvb_dp_xid;

/* Watch the GPUs of host h through its libnvidia-ml.so.1; NULL when h has none (health then
 * comes from discovery alone). The thread says on stderr whether NVML answered. */
nvb_dp_xid *nvb_dp_xid_start(const nvb_host *h);
/* Move the events seen since the last call into out, one "GPU-UUID XID" string each. */
void nvb_dp_xid_take(nvb_dp_xid *x, nvb_strv *out);
/* Stop watching (the thread ends within half a second; NULL is a no-op). */
void nvb_dp_xid_stop(nvb_dp_xid *x);
