/* NVIDIA's request variables applied to a GPU plan (see plan_nvidia.h). */
#include "runtime/plan_nvidia.h"

#include <stdlib.h>

static int check_requirements(const nvb_nvidia_env *e, const nvb_host *h, const nvb_selection *sel, nvb_err *err)
{
    if (e->require.n == 0 || e->disable_require)
        return 0;
    const nvb_gpu **gpus = calloc(sel->n + 1, sizeof *gpus);
    if (!gpus)
        return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    for (size_t i = 0; i < sel->n; i++)
        gpus[i] = sel->v[i].gpu;
    int r = nvb_nvidia_require_check(e, h, gpus, sel->n, err);
    free(gpus);
    return r;
}

int nvb_gpu_plan_nvidia_env(nvb_gpu_plan *plan, const nvb_nvidia_env *e, const nvb_host *h, const nvb_selection *sel,
                            const char *hook_path, nvb_err *err)
{
    if (nvb_selection_empty(sel) || !h)
        return 0;
    if (check_requirements(e, h, sel, err) < 0)
        return -1;
    /* NVIDIA_DRIVER_CAPABILITIES narrows the profile's driver files, never widens them. */
    if (!e->has_caps || (plan->caps & e->caps) == plan->caps)
        return 0;
    plan->caps &= e->caps;
    nvb_edits_clear(&plan->shared);
    if (nvb_edits_shared(&plan->shared, h, plan->caps, hook_path) < 0)
        return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    return 0;
}
