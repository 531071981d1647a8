#include "runtime/compose.h"
#include "policy/profiles.h"

#include <string.h>

void nvb_gpu_plan_clear(nvb_gpu_plan *p)
{
    nvb_edits_clear(&p->devices);
    nvb_edits_clear(&p->shared);
    nvb_edits_clear(&p->extra);
    nvb_strv_free(&p->env);
    memset(p, 0, sizeof *p);
}

int nvb_gpu_plan_build(nvb_gpu_plan *p, const nvb_config *cfg, const nvb_host *h, const nvb_selection *sel,
                       const char *profile, const char *hook_path, nvb_err *err)
{
    memset(p, 0, sizeof *p);
    /* Without GPUs there may be no discovered host; a custom profile's files still resolve
     * under the default root. */
    nvb_host bare = {.root = (char *)"/"};
    nvb_edits extra = {0};
    if (nvb_profile_resolve(cfg, h ? h : &bare, profile, &p->caps, &extra, &p->workload, err) < 0) {
        nvb_edits_clear(&extra);
        return -1;
    }
    /* The profile's variables travel as container env; its files stay edits. */
    p->env = extra.env;
    extra.env = (nvb_strv){0};
    p->extra = extra;
    if (!nvb_selection_empty(sel)) {
        if (!h || nvb_selection_edits(sel, &p->devices) < 0 ||
            nvb_edits_shared(&p->shared, h, p->caps, hook_path) < 0) {
            nvb_gpu_plan_clear(p);
            return nvb_errf(err, h ? NVB_EXIT_IO : NVB_EXIT_NO_DRIVER, h ? "out of memory" : "no host discovered");
        }
    }
    return 0;
}

int nvb_gpu_plan_all_edits(const nvb_gpu_plan *p, nvb_edits *out)
{
    if (nvb_edits_merge(out, &p->devices) < 0 || nvb_edits_merge(out, &p->shared) < 0 ||
        nvb_edits_merge(out, &p->extra) < 0)
        return -1;
    return nvb_edits_merge(out, &(nvb_edits){.env = p->env});
}
