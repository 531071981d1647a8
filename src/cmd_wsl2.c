/* nvbind wsl2 check: what this WSL2 guest has and lacks for GPU containers, each finding
 * with its fix; exit 0 when nothing is missing, 1 when something is. */
#include "cli.h"
#include "cli_doctor.h"
#include "host/wsl2_check.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static void print_text(const nvb_doctor *d)
{
    nvb_cli_print_checks(d);
    printf("%s\n", d->ready ? "WSL2 is ready for GPU containers"
                            : "WSL2 is NOT ready for GPU containers: fix the FAIL lines above");
}

static nvb_doctor *run_checks(const nvb_cli *cli, const nvb_config *cfg, const nvb_discover_opts *o)
{
    return nvb_wsl2_check_run(o);
}

static int wsl2_check(nvb_cli *cli, int argc, char **argv)
{
    bool json = false;
    nvb_cli_parser p;
    if (nvb_cli_parse_json(&p, cli, argc, argv, 0, &json))
        return p.rc;
    int rc = 0;
    nvb_doctor *d = nvb_cli_doctor(cli, "wsl2 check", run_checks, &rc);
    return d ? nvb_cli_doctor_report(d, json, nvb_wsl2_check_to_json, print_text) : rc;
}

static const nvb_cli_opt check_opts[] = {
    {"json", 'j', 'j', NULL, 0, "print the findings as JSON", 0, NULL},
    {0},
};
static const nvb_cli_cmd check_cmd = {
    .name = "check",
    .summary = "what this WSL2 guest has and lacks for GPU containers, each with its fix",
    .details = "Exit status 0 when no check failed, 1 otherwise.",
    .opts = check_opts,
    .fn = wsl2_check,
};
const nvb_cli_cmd nvb_cmd_wsl2 = {
    .name = "wsl2",
    .summary = "WSL2 guests: what this one has and lacks for GPU containers",
    .subs = (const nvb_cli_cmd *const[]){&check_cmd, NULL},
};
