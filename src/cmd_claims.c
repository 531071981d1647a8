/* nvbind claims: the GPU claims held now (lib/isolation/claims.h). Listing also reclaims
 * claims whose holder and container are gone. */
#include "cli.h"
#include "config/config.h"
#include "isolation/claims.h"
#include "isolation/procid.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static json_t *holder_json(const nvb_claim_record *r, const nvb_claim_holder *h)
{
    char dev[32];
    if (r->mig_index < 0)
        snprintf(dev, sizeof dev, "%u", r->gpu_index);
    else
        snprintf(dev, sizeof dev, "%u:%d", r->gpu_index, r->mig_index);
    return json_pack("{s:s, s:I, s:o, s:s, s:o, s:s, s:s, s:o, s:I, s:o, s:o, s:I, s:s}", "device", dev, "gpu_index",
                     (json_int_t)r->gpu_index, "mig_index", r->mig_index < 0 ? json_null() : json_integer(r->mig_index),
                     "uuid", r->uuid, "parent_uuid", r->parent_uuid ? json_string(r->parent_uuid) : json_null(), "mode",
                     nvb_claim_mode_name(r->mode), "container", h->container, "runtime",
                     h->runtime ? json_string(h->runtime) : json_null(), "holder_pid", (json_int_t)h->holder_pid,
                     "init_pid", h->init_pid > 0 ? json_integer(h->init_pid) : json_null(), "oci_state",
                     h->oci_state ? json_string(h->oci_state) : json_null(), "uid", (json_int_t)h->uid, "since",
                     h->since);
}

static int print_table(const nvb_claim_list *l)
{
    if (l->n == 0) {
        puts("no GPU claims");
        return 0;
    }
    printf("%-7s %-44s %-9s %-24s %-14s %-8s %s\n", "DEVICE", "UUID", "MODE", "CONTAINER", "RUNTIME", "PID", "SINCE");
    for (size_t i = 0; i < l->n; i++) {
        const nvb_claim_record *r = &l->v[i];
        char dev[32];
        if (r->mig_index < 0)
            snprintf(dev, sizeof dev, "%u", r->gpu_index);
        else
            snprintf(dev, sizeof dev, "%u:%d", r->gpu_index, r->mig_index);
        for (size_t j = 0; j < r->n_holders; j++) {
            const nvb_claim_holder *h = &r->holders[j];
            /* The process that holds it now: the holder while it runs, else the container's init. */
            pid_t pid = nvb_proc_alive(h->holder_pid, h->holder_start) ? h->holder_pid : h->init_pid;
            char pidbuf[24];
            if (pid > 0)
                snprintf(pidbuf, sizeof pidbuf, "%ld", (long)pid);
            else
                snprintf(pidbuf, sizeof pidbuf, "-");
            printf("%-7s %-44s %-9s %-24s %-14s %-8s %s\n", dev, r->uuid, nvb_claim_mode_name(r->mode), h->container,
                   h->runtime ? h->runtime : "-", pidbuf, h->since);
        }
    }
    return fflush(stdout) ? NVB_EXIT_IO : 0;
}

static int cmd_claims(nvb_cli *cli, int argc, char **argv)
{
    bool json = false;
    const char *state_dir = NULL;
    int c;
    nvb_cli_parser p;
    nvb_cli_parser_for(&p, cli);
    while ((c = nvb_cli_next(&p, argc, argv)) >= 0) {
        switch (c) {
        case 'j': json = true; break;
        case 's': state_dir = optarg; break;
        }
    }
    if (nvb_cli_stops(&p, c, argc, argv, 0))
        return p.rc;
    if (state_dir && state_dir[0] != '/')
        return nvb_cli_usage("claims", "--state-dir %s: must be an absolute path", state_dir);
    nvb_config cfg = {0};
    nvb_err err = {0};
    if (!state_dir) {
        if (nvb_config_load(&cfg, cli->config_path, &err) < 0) {
            nvb_config_clear(&cfg);
            return nvb_cli_fail(&err);
        }
        state_dir = cfg.isolation.state_dir;
    }
    nvb_claim_list l;
    int rc = 0;
    if (nvb_claims_list(state_dir, &l, &err) < 0) {
        rc = nvb_cli_fail(&err);
        goto out;
    }
    for (size_t i = 0; i < l.reclaimed.n; i++)
        fprintf(stderr, "nvbind claims: %s\n", l.reclaimed.v[i]);
    for (size_t i = 0; i < l.damaged.n; i++)
        fprintf(stderr, "nvbind claims: %s; left out\n", l.damaged.v[i]);
    if (json) {
        json_t *arr = json_array();
        for (size_t i = 0; arr && i < l.n; i++)
            for (size_t j = 0; j < l.v[i].n_holders; j++)
                json_array_append_new(arr, holder_json(&l.v[i], &l.v[i].holders[j]));
        rc = arr ? nvb_cli_print_json(arr) : NVB_EXIT_IO;
        json_decref(arr);
    } else {
        rc = print_table(&l);
    }
    if (rc == 0 && l.damaged.n)
        rc = NVB_EXIT_INPUT; /* listed, but not everything could be */
    nvb_claim_list_free(&l);
out:
    nvb_config_clear(&cfg);
    return rc;
}

static const nvb_cli_opt claims_opts[] = {
    {"json", 'j', 'j', NULL, 0, "a JSON array, one object per holder", 0, NULL},
    {"state-dir", 's', 's', "DIR", 0, "the claims folder (default: [isolation] state_dir, /run/nvbind)", NVB_COMPLETE_DIR,
     NULL},
    {0},
};
const nvb_cli_cmd nvb_cmd_claims = {
    .name = "claims",
    .summary = "GPU claims held now: which container uses which GPU or MIG device, exclusively or shared",
    .details = "Claims whose holder process and container are both gone are reclaimed on the way.",
    .opts = claims_opts,
    .fn = cmd_claims,
};
