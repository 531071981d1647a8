/* Allocate: what each container of a pod gets for the devices the kubelet picked. */
#include "k8s/api.h"
#include "k8s/rpc.h"
#include "util/cleanup.h"

#include <grpc/status.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One container's answer; its strings point into the resource, which outlives packing. */
struct container_answer {
    V1beta1__ContainerAllocateResponse resp;
    V1beta1__CDIDevice *cdi;
    V1beta1__CDIDevice **cdi_ptrs;
    V1beta1__ContainerAllocateResponse__EnvsEntry env;
    V1beta1__ContainerAllocateResponse__EnvsEntry *env_ptr;
    V1beta1__ContainerAllocateResponse__AnnotationsEntry isolation;
    V1beta1__ContainerAllocateResponse__AnnotationsEntry *isolation_ptr;
    char *visible;
};

static void answer_clear(struct container_answer *a)
{
    free(a->cdi);
    free(a->cdi_ptrs);
    free(a->visible);
}

/* The devices of one container request, each GPU once (replicas of one GPU are one GPU to
 * the container); false with out failed when an id is unknown or unhealthy. */
static bool pick(const nvb_dp_resource *r, const V1beta1__ContainerAllocateRequest *c, const nvb_dp_device **v,
                 size_t *n, nvb_grpc_reply *out)
{
    *n = 0;
    for (size_t i = 0; i < c->n_devices_ids; i++) {
        const nvb_dp_device *d = nvb_dp_resource_device(r, c->devices_ids[i]);
        if (!d) {
            nvb_dp_rpc_fail(out, GRPC_STATUS_INVALID_ARGUMENT, "Allocate: unknown device id '%s' for resource %s",
                            c->devices_ids[i], r->name);
            return false;
        }
        if (!d->healthy) {
            nvb_dp_rpc_fail(out, GRPC_STATUS_FAILED_PRECONDITION,
                            "Allocate: device '%s' of resource %s is unhealthy (gone from the host, failing, or held "
                            "exclusively by a container outside Kubernetes)",
                            d->id, r->name);
            return false;
        }
        bool seen = false;
        for (size_t j = 0; j < *n && !seen; j++)
            seen = strcmp(v[j]->uuid, d->uuid) == 0;
        if (!seen)
            v[(*n)++] = d;
    }
    return true;
}

static bool answer_fill(struct container_answer *a, const nvb_dp_resource *r, unsigned strategy,
                        const nvb_dp_device **v, size_t n)
{
    v1beta1__container_allocate_response__init(&a->resp);
    if (strategy & NVB_DP_STRATEGY_CDI) {
        a->cdi = calloc(n + 1, sizeof *a->cdi);
        a->cdi_ptrs = calloc(n + 1, sizeof *a->cdi_ptrs);
        if (!a->cdi || !a->cdi_ptrs)
            return false;
        for (size_t i = 0; i < n; i++) {
            v1beta1__cdidevice__init(&a->cdi[i]);
            a->cdi[i].name = v[i]->cdi_name;
            a->cdi_ptrs[i] = &a->cdi[i];
        }
        a->resp.n_cdi_devices = n;
        a->resp.cdi_devices = a->cdi_ptrs;
    }
    if ((strategy & NVB_DP_STRATEGY_ENVVAR) && r->env_name) {
        size_t len = 1;
        for (size_t i = 0; i < n; i++)
            len += strlen(v[i]->uuid) + 1;
        if (!(a->visible = calloc(1, len)))
            return false;
        for (size_t i = 0; i < n; i++) {
            if (i)
                strcat(a->visible, ",");
            strcat(a->visible, v[i]->uuid);
        }
        v1beta1__container_allocate_response__envs_entry__init(&a->env);
        a->env.key = (char *)r->env_name;
        a->env.value = a->visible;
        a->env_ptr = &a->env;
        a->resp.n_envs = 1;
        a->resp.envs = &a->env_ptr;
        /* nvbind-runtime claims the GPUs it hands out by this annotation (when [security]
         * allow_annotation_requests): a time-sliced GPU is shared, a whole one the pod's alone,
         * so nothing else on the node (nvbind run, another engine) takes it meanwhile. */
        v1beta1__container_allocate_response__annotations_entry__init(&a->isolation);
        a->isolation.key = (char *)"nvbind.isolation";
        a->isolation.value = (char *)(r->shared ? "shared" : "exclusive");
        a->isolation_ptr = &a->isolation;
        a->resp.n_annotations = 1;
        a->resp.annotations = &a->isolation_ptr;
    }
    return true;
}

/* Append text to the summary, cut short (with "...") when it does not fit. */
static void summary_add(char *summary, size_t len, const char *sep, const char *text)
{
    if (!summary || !len)
        return;
    size_t used = strlen(summary);
    int n = snprintf(summary + used, len - used, "%s%s", used ? sep : "", text);
    if (n < 0 || (size_t)n >= len - used)
        snprintf(summary + (len > 4 ? len - 4 : 0), len > 4 ? 4 : len, "...");
}

void nvb_dp_rpc_allocate(const nvb_dp_resource *r, unsigned strategy, const uint8_t *req, size_t len,
                         nvb_grpc_reply *out, char *summary, size_t summary_len)
{
    if (summary && summary_len)
        summary[0] = '\0';
    V1beta1__AllocateRequest *rq = v1beta1__allocate_request__unpack(NULL, len, req);
    if (!rq) {
        nvb_dp_rpc_fail(out, GRPC_STATUS_INVALID_ARGUMENT, "Allocate: the request is not a valid AllocateRequest");
        return;
    }
    size_t nc = rq->n_container_requests;
    struct container_answer *ans = calloc(nc + 1, sizeof *ans);
    V1beta1__ContainerAllocateResponse **ptrs = calloc(nc + 1, sizeof *ptrs);
    const nvb_dp_device **picked = calloc(r->n + 1, sizeof *picked);
    bool ok = ans && ptrs && picked;
    if (!ok)
        nvb_dp_rpc_fail(out, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    for (size_t c = 0; ok && c < nc; c++) {
        size_t n;
        ok = pick(r, rq->container_requests[c], picked, &n, out);
        for (size_t i = 0; ok && i < n; i++)
            summary_add(summary, summary_len, i ? "," : "; ", picked[i]->uuid);
        if (ok && !(ok = answer_fill(&ans[c], r, strategy, picked, n)))
            nvb_dp_rpc_fail(out, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        ptrs[c] = &ans[c].resp;
    }
    if (ok) {
        V1beta1__AllocateResponse resp = V1BETA1__ALLOCATE_RESPONSE__INIT;
        resp.n_container_responses = nc;
        resp.container_responses = ptrs;
        nvb_dp_rpc_pack(&resp.base, out);
    }
    for (size_t c = 0; ans && c < nc; c++)
        answer_clear(&ans[c]);
    free(ans);
    free(ptrs);
    free(picked);
    v1beta1__allocate_request__free_unpacked(rq, NULL);
}
