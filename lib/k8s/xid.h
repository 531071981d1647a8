/* What the plugin learns from NVML: GPU health from XID error events (a GPU that reports a
 * critical XID, one that is not an application's own fault, is unhealthy from then on) and
 * the NVLink topology, read once at start. NVML runs on a thread of its own, so a slow or
 * hung NVML never holds up the plugin's RPCs. */
#pragma once
#include "host/host.h"
#include "util/strv.h"

typedef struct nvb_dp_xid nvb_dp_xid;

/* Watch the GPUs of host h through its libnvidia-ml.so.1; NULL when h has none (health then
 * comes from discovery alone). The thread says on stderr whether NVML answered. */
nvb_dp_xid *nvb_dp_xid_start(const nvb_host *h);
/* Move the events seen since the last call into out, one "GPU-UUID XID" string each. */
void nvb_dp_xid_take(nvb_dp_xid *x, nvb_strv *out);
/* Move the NVLink links NVML reported (once, at start) into out: "GPU-UUID PEER-BUS-ID" each,
 * the peer's bus id as /proc writes it (0000:21:00.0). */
void nvb_dp_xid_take_links(nvb_dp_xid *x, nvb_strv *out);
/* Stop watching (the thread ends within half a second; NULL is a no-op). */
void nvb_dp_xid_stop(nvb_dp_xid *x);
