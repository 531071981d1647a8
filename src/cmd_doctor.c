/* nvbind doctor: report whether this host is ready for GPU containers; exit 0 when
 * ready, 1 when not. It reports rather than fails. */
#include "cli.h"
#include "cli_doctor.h"
#include "host/doctor.h"
#include "isolation/access.h"
#include "policy/cdi_doctor.h"

#include <getopt.h>

/* The host's checks, the hook binary the specs will name, whether this user can claim GPUs
 * and write the audit log as `nvbind run` will, and the specs engines read: there, current,
 * and nobody else's for the same devices. */
static nvb_doctor *run_checks(const nvb_cli *cli, const nvb_config *cfg, const nvb_discover_opts *o)
{
    nvb_doctor *d = nvb_doctor_run_hook(o, true, cfg->cdi.hook_path ? cfg->cdi.hook_path : cli->self_exe);
    if (!d)
        return NULL;
    nvb_isolation_doctor(d, cfg->isolation.state_dir, cfg->isolation.audit_log);
    nvb_discover_opts quick = *o;
    quick.with_nvml = false;
    nvb_err err = {0};
    nvb_host *h = nvb_host_discover(&quick, &err);
    nvb_cdi_doctor(d, h, (const char *const *)cfg->cdi.spec_dirs.v, cfg->cdi.spec_dirs.n, "nvidia.com/gpu");
    nvb_host_free(h);
    nvb_doctor_finish(d);
    return d;
}

static void print_text(const nvb_doctor *d)
{
    nvb_cli_print_checks(d);
    for (size_t i = 0; i < 5; i++)
        printf("[%s] %-7s %s\n", d->engines[i].path ? "ok  " : "info", d->engines[i].name,
               d->engines[i].path ? (d->engines[i].version ? d->engines[i].version : d->engines[i].path)
                                  : "not installed");
    printf("%s\n", d->ready ? "ready for GPU containers" : "NOT ready for GPU containers: fix the FAIL lines above");
}

static int cmd_doctor(nvb_cli *cli, int argc, char **argv)
{
    bool json = false;
    nvb_cli_parser p;
    if (nvb_cli_parse_json(&p, cli, argc, argv, 0, &json))
        return p.rc;
    /* The same configuration as every other command: [host] moves what is checked. A broken
     * file stops here (exit 5). */
    int rc = 0;
    nvb_doctor *d = nvb_cli_doctor(cli, "doctor", run_checks, &rc);
    return d ? nvb_cli_doctor_report(d, json, nvb_doctor_to_json, print_text) : rc;
}

static const nvb_cli_opt doctor_opts[] = {
    {"json", 'j', 'j', NULL, 0, "one JSON object (ready, checks[], engines[], ...)", 0, NULL},
    {0},
};
const nvb_cli_cmd nvb_cmd_doctor = {
    .name = "doctor",
    .summary = "is this host ready for GPU containers, and what to fix (exit 0 ready, 1 not)",
    .opts = doctor_opts,
    .fn = cmd_doctor,
};
