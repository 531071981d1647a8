/* nvbind doctor: report whether this host is ready for GPU containers; exit 0 when
 * ready, 1 when not. It reports rather than fails. */
#include "cli.h"
#include "cli_doctor.h"
#include "cli_opts.h"
#include "host/doctor.h"

#include <getopt.h>

/* The hook binary the specs will name is checked too. */
static nvb_doctor *run_checks(const nvb_cli *cli, const nvb_config *cfg, const nvb_discover_opts *o)
{
    return nvb_doctor_run_hook(o, true, cfg->cdi.hook_path ? cfg->cdi.hook_path : cli->self_exe);
}

int cmd_doctor(nvb_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {{"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {0}};
    bool json = false;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:jh", opts, NULL)) != -1) {
        if (c == 'j')
            json = true;
        else if (c == 'h') {
            puts("usage: nvbind doctor [--json]");
            return 0;
        } else
            return nvb_cli_bad_option("doctor", c, argv);
    }
    if (optind < argc)
        return nvb_cli_usage("doctor", "unexpected argument '%s'", argv[optind]);
    /* The same configuration as every other command: [host] moves what is checked. A broken
     * file stops here (exit 5). */
    int rc = 0;
    nvb_doctor *d = nvb_cli_doctor(cli, "doctor", run_checks, &rc);
    if (!d)
        return rc;
    if (json) {
        json_t *j = nvb_doctor_to_json(d);
        nvb_cli_print_json(j);
        json_decref(j);
    } else {
        nvb_cli_print_checks(d);
        for (size_t i = 0; i < 5; i++)
            printf("[%s] %-7s %s\n", d->engines[i].path ? "ok  " : "info", d->engines[i].name,
                   d->engines[i].path ? (d->engines[i].version ? d->engines[i].version : d->engines[i].path)
                                      : "not installed");
        printf("%s\n", d->ready ? "ready for GPU containers" : "NOT ready for GPU containers: fix the FAIL lines above");
    }
    rc = d->ready ? 0 : NVB_EXIT_FAIL;
    nvb_doctor_free(d);
    return rc;
}
