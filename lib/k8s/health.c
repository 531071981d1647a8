/* Device health beyond "discovery sees it": NVML's XID events and NVLink topology (xid.c),
 * and nvbind's GPU claims of containers outside Kubernetes. */
#include "isolation/claims.h"
#include "k8s/state.h"

#include <stdio.h>
#include <string.h>

/* Take the XID events NVML delivered; a GPU with one stays unhealthy until the plugin restarts
 * (the GPU needs a reset or a reboot, which restarts the plugin too). */
static void take_xids(struct dp_state *st)
{
    nvb_strv events = {0};
    nvb_dp_xid_take(st->xid, &events);
    for (size_t i = 0; i < events.n; i++) {
        char uuid[128];
        unsigned long long xid = 0;
        if (sscanf(events.v[i], "%127s %llu", uuid, &xid) != 2)
            continue;
        nvb_dp_log("GPU %s reported XID %llu: unhealthy from now on", uuid, xid);
        if (!nvb_strv_contains(&st->xid_failed, uuid))
            nvb_strv_push(&st->xid_failed, uuid);
    }
    nvb_strv_free(&events);
}

static int gpu_index_by(const nvb_host *h, const char *uuid, const char *bus_id)
{
    for (size_t g = 0; h && g < h->n_gpus; g++)
        if ((uuid && strcmp(h->gpus[g].uuid, uuid) == 0) || (bus_id && strcmp(h->gpus[g].pci_bus_id, bus_id) == 0))
            return (int)h->gpus[g].index;
    return -1;
}

/* Record the NVLinks NVML reported, as GPU index bit masks. */
static void take_links(struct dp_state *st)
{
    nvb_strv links = {0};
    nvb_dp_xid_take_links(st->xid, &links);
    for (size_t i = 0; i < links.n; i++) {
        char uuid[128], bus[64];
        if (sscanf(links.v[i], "%127s %63s", uuid, bus) != 2)
            continue;
        int a = gpu_index_by(st->host, uuid, NULL), b = gpu_index_by(st->host, NULL, bus);
        if (a < 0 || b < 0 || a >= 64 || b >= 64)
            continue;
        if (!(st->peers[a] & (1ull << b)))
            nvb_dp_log("NVLink: GPU %d - GPU %d", a, b);
        st->peers[a] |= 1ull << b;
        st->peers[b] |= 1ull << a;
    }
    nvb_strv_free(&links);
}

static void mark_peers(const struct dp_state *st, nvb_dp_inventory *now)
{
    for (size_t r = 0; r < now->n; r++)
        for (size_t i = 0; i < now->v[r].n; i++)
            if (now->v[r].nvidia && now->v[r].v[i].gpu < 64)
                now->v[r].v[i].peers = st->peers[now->v[r].v[i].gpu];
}

/* Devices of GPUs that reported a critical XID are unhealthy, whatever discovery says. */
static void mark_xid_failed(const struct dp_state *st, nvb_dp_inventory *now)
{
    if (!st->xid_failed.n || !st->host)
        return;
    for (size_t g = 0; g < st->host->n_gpus; g++) {
        if (!nvb_strv_contains(&st->xid_failed, st->host->gpus[g].uuid))
            continue;
        for (size_t r = 0; r < now->n; r++)
            for (size_t i = 0; i < now->v[r].n; i++)
                if (now->v[r].nvidia && now->v[r].v[i].gpu == st->host->gpus[g].index)
                    now->v[r].v[i].healthy = false;
    }
}

/* Whether device d (of GPU gpu_uuid) is in record r: the device itself, its parent GPU, or
 * (a whole GPU) one of its MIG devices. */
static bool record_covers(const nvb_claim_record *r, const nvb_dp_device *d, const char *gpu_uuid)
{
    return strcmp(r->uuid, d->uuid) == 0 || (gpu_uuid && strcmp(r->uuid, gpu_uuid) == 0) ||
           (r->parent_uuid && strcmp(r->parent_uuid, d->uuid) == 0);
}

static const char *gpu_uuid_of(const nvb_host *h, unsigned index)
{
    for (size_t g = 0; h && g < h->n_gpus; g++)
        if (h->gpus[g].index == index)
            return h->gpus[g].uuid;
    return NULL;
}

/* A GPU another container holds exclusively through nvbind (nvbind run, nvbind-runtime on this
 * node, outside Kubernetes) must not be handed to a pod: it is unhealthy while held. */
static void mark_claimed(struct dp_state *st, nvb_dp_inventory *now)
{
    nvb_claim_list l = {0};
    nvb_err err = {0};
    nvb_strv held = {0};
    if (nvb_claims_peek(st->o->claims_dir, &l, &err) < 0) {
        nvb_claim_list_free(&l);
        return; /* unreadable claims: the kubelet's own bookkeeping still holds */
    }
    for (size_t c = 0; c < l.n; c++) {
        const nvb_claim_record *r = &l.v[c];
        if (r->mode != NVB_CLAIM_EXCLUSIVE || !r->n_holders)
            continue;
        for (size_t k = 0; k < now->n; k++)
            for (size_t i = 0; i < now->v[k].n; i++) {
                nvb_dp_device *d = &now->v[k].v[i];
                if (record_covers(r, d, now->v[k].nvidia ? gpu_uuid_of(st->host, d->gpu) : NULL))
                    d->healthy = false;
            }
        char line[512];
        snprintf(line, sizeof line, "%s\t%s", r->uuid, r->holders[0].container);
        if (!nvb_strv_contains(&st->held, line))
            nvb_dp_log("%s is held exclusively by container %s (nvbind claims): unhealthy while held", r->uuid,
                  r->holders[0].container);
        nvb_strv_push(&held, line);
    }
    nvb_strv_free(&st->held);
    st->held = held;
    nvb_claim_list_free(&l);
}

void nvb_dp_health_apply(struct dp_state *st, nvb_dp_inventory *now)
{
    take_xids(st);
    take_links(st);
    mark_peers(st, now);
    mark_xid_failed(st, now);
    mark_claimed(st, now);
}
