/* GPU claims of the API's run calls: see claim.h. */
#include "api/claim.h"
#include "runtime/run_isolation.h"

#include <errno.h>
#include <stdlib.h>

const char *nvb_api_workload_profile(const nvbind_gpu_manager *m)
{
    switch (nvb_api_manager_workload(m)) {
    case NVB_API_GAMING:
        return "gaming";
    case NVB_API_AIML:
        return "aiml";
    default:
        return NULL;
    }
}

int nvb_api_claim(const nvbind_gpu_manager *m, const nvb_host *h, const nvb_selection *sel, nvb_claim_owner owner,
                  const char *profile, nvb_isolation_grant *g, nvb_err *e)
{
    nvb_isolation_device *devs = nvb_selection_isolation_devices(sel);
    if (!devs) {
        nvb_errf(e, NVB_EXIT_IO, "out of memory");
        return -ENOMEM;
    }
    nvb_isolation_request rq = {0};
    nvb_isolation_request_from_config(&rq, &m->config);
    rq.host = h;
    rq.devices = devs;
    rq.n_devices = sel->n;
    rq.owner = owner;
    rq.profile = profile;
    rq.wait_seconds = NVB_CLAIM_NO_WAIT;
    int r = nvb_isolation_acquire(&rq, g, e);
    free(devs);
    return r;
}
