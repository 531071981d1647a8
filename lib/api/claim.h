/* The GPU claims of the API's run calls (nvbind_run_with_runtime, nvbind_run_with_bolt_runtime):
 * taken as the manager's configuration says, like `nvbind run` and the shim take theirs. */
#pragma once
#include "api/api.h"
#include "isolation/isolation.h"
#include "runtime/select.h"

/* The profile `nvbind run --profile` would name for the manager's workload (what the audit
 * log records); NULL = none. */
const char *nvb_api_workload_profile(const nvbind_gpu_manager *m);

/* Claim sel's devices for owner as m's isolation level says, with one audit line naming
 * profile. An API call answers at once: a GPU held elsewhere is a refusal, not a wait. 0;
 * -1 with e set when refused; -ENOMEM (e says "out of memory") when the device list cannot
 * be made, so that a caller may word that failure its own way. */
int nvb_api_claim(const nvbind_gpu_manager *m, const nvb_host *h, const nvb_selection *sel, nvb_claim_owner owner,
                  const char *profile, nvb_isolation_grant *g, nvb_err *e);
