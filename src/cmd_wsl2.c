/* nvbind wsl2 check: what this WSL2 guest has and lacks for GPU containers, each finding
 * with its fix; exit 0 when nothing is missing, 1 when something is. */
#include "cli.h"
#include "cli_doctor.h"
#include "cli_opts.h"
#include "host/wsl2_check.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static const char usage[] = "usage: nvbind wsl2 check [--json]\n"
                            "  what this WSL2 guest has and lacks for GPU containers, each with its fix\n";

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

int cmd_wsl2(nvb_cli *cli, int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(usage, stdout);
        return 0;
    }
    if (argc < 2 || strcmp(argv[1], "check") != 0)
        return nvb_cli_usage("wsl2", "%s%s (expected: nvbind wsl2 check [--json])",
                             argc < 2 ? "missing sub-command" : "unknown sub-command ", argc < 2 ? "" : argv[1]);
    static const struct option opts[] = {{"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {0}};
    bool json = false;
    int c;
    opterr = 0;
    optind = 2;
    while ((c = getopt_long(argc, argv, "+:jh", opts, NULL)) != -1) {
        if (c == 'j')
            json = true;
        else if (c == 'h') {
            fputs(usage, stdout);
            return 0;
        } else
            return nvb_cli_bad_option("wsl2 check", c, argv);
    }
    if (optind < argc)
        return nvb_cli_usage("wsl2 check", "unexpected argument '%s'", argv[optind]);
    int rc = 0;
    nvb_doctor *d = nvb_cli_doctor(cli, "wsl2 check", run_checks, &rc);
    if (!d)
        return rc;
    if (json) {
        json_t *j = nvb_wsl2_check_to_json(d);
        nvb_cli_print_json(j);
        json_decref(j);
    } else {
        print_text(d);
    }
    rc = d->ready ? 0 : NVB_EXIT_FAIL;
    nvb_doctor_free(d);
    return rc;
}
