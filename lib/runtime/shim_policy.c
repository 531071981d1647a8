/* Which of a config.json's GPU requests the shim honours ([security]): the container's own
 * environment and its annotations can both come from the image, so neither is trusted more
 * than the configuration says. */
#include "runtime/shim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool nvb_shim_env_request_allowed(const nvb_config *cfg, bool privileged)
{
    if (!cfg->security.allow_env_requests)
        return false;
    return privileged || cfg->security.allow_unprivileged_env_requests;
}

/* podman copies an image's annotations into config.json next to the caller's: the shim cannot
 * tell them apart, so they count only when the administrator says so. */
bool nvb_shim_annotation_requests_allowed(const nvb_config *cfg)
{
    return cfg->security.allow_annotation_requests;
}

/* What a container at this level takes from the others: a MIG slice or an MPS-limited share
 * (virtual) < the whole GPU next to others (shared) < the whole GPU alone (exclusive). */
static int isolation_rank(enum nvb_isolation i)
{
    switch (i) {
    case NVB_ISOLATION_VIRTUAL:
        return 0;
    case NVB_ISOLATION_SHARED:
        return 1;
    case NVB_ISOLATION_EXCLUSIVE:
        return 2;
    }
    return 3;
}

bool nvb_isolation_within(enum nvb_isolation asked, enum nvb_isolation configured)
{
    return isolation_rank(asked) <= isolation_rank(configured);
}

static const char env_off[] = "[security] allow_env_requests = false";
static const char unprivileged_off[] =
    "the container is not privileged and [security] allow_unprivileged_env_requests = false";
static const char annotations_off[] = "[security] allow_annotation_requests = false";

static void drop_request(nvb_oci_requests *r, size_t i)
{
    free(r->v[i].source);
    free(r->v[i].list);
    memmove(&r->v[i], &r->v[i + 1], (r->n - i - 1) * sizeof r->v[i]);
    r->n--;
}

/* Drop the requests [security] refuses, saying so on stderr (a refused request is not even
 * resolved: a bad one is no error). */
static void drop_refused(const nvb_config *cfg, nvb_oci_requests *r, bool privileged, const char *prog)
{
    bool annotations = nvb_shim_annotation_requests_allowed(cfg);
    for (size_t i = 0; i < r->n;) {
        const nvb_oci_request *q = &r->v[i];
        const char *why = NULL;
        if (q->from_env && !nvb_shim_env_request_allowed(cfg, privileged))
            why = !cfg->security.allow_env_requests ? env_off : unprivileged_off;
        else if (!q->from_env && !annotations)
            why = annotations_off;
        if (!why) {
            i++;
            continue;
        }
        fprintf(stderr, "%s: ignoring %s=%s: %s\n", prog, q->source, q->list, why);
        drop_request(r, i);
    }
    if (annotations)
        return;
    if (r->profile)
        fprintf(stderr, "%s: ignoring annotation nvbind.profile=%s: %s\n", prog, r->profile, annotations_off);
    if (r->has_isolation)
        fprintf(stderr, "%s: ignoring annotation nvbind.isolation=%s: %s\n", prog, nvb_isolation_name(r->isolation),
                annotations_off);
    free(r->profile);
    r->profile = NULL;
    r->has_isolation = false;
}

int nvb_shim_apply_policy(const nvb_config *cfg, nvb_oci_requests *r, bool privileged, const char *prog, nvb_err *err)
{
    drop_refused(cfg, r, privileged, prog);
    if (r->n == 0 || !r->has_isolation)
        return 0;
    enum nvb_isolation configured = cfg->capsule.isolation_level;
    if (nvb_isolation_within(r->isolation, configured))
        return 0;
    /* Refused rather than lowered: whoever asked for exclusive must not think they have it. */
    return nvb_errf(err, NVB_EXIT_INPUT,
                    "config.json: annotations.nvbind.isolation: '%s' is wider than [bolt.capsule] isolation_level = "
                    "\"%s\"; an annotation may only narrow it (virtual < shared < exclusive)",
                    nvb_isolation_name(r->isolation), nvb_isolation_name(configured));
}
