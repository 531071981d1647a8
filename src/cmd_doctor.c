/* nvbind doctor: report whether this host is ready for GPU containers; exit 0 when
 * ready, 1 when not. It reports rather than fails. */
#include "cli.h"
#include "host/doctor.h"
#include "isolation/access.h"
#include "policy/cdi_doctor.h"

#include <getopt.h>

static int cmd_doctor(nvb_cli *cli, int argc, char **argv)
{
    bool json = false;
    int c;
    nvb_cli_parser p;
    nvb_cli_parser_for(&p, cli);
    while ((c = nvb_cli_next(&p, argc, argv)) >= 0)
        json = json || c == 'j';
    if (c == NVB_OPT_STOP)
        return p.rc;
    if (optind < argc)
        return nvb_cli_usage("doctor", "unexpected argument '%s'", argv[optind]);
    /* The same configuration as every other command: [host] moves what is checked, and the
     * hook binary the specs will name is checked too. A broken file stops here (exit 5). */
    nvb_err err = {0};
    nvb_config cfg = {0};
    nvb_strv libs = {0};
    nvb_discover_opts o;
    if (nvb_cli_load_config(cli, &cfg, &err) < 0) {
        nvb_config_clear(&cfg);
        return nvb_cli_fail(&err);
    }
    nvb_doctor *d = NULL;
    if (nvb_cli_discover_opts(cli, &cfg, &libs, &o) == 0 &&
        (d = nvb_doctor_run_hook(&o, true, cfg.cdi.hook_path ? cfg.cdi.hook_path : cli->self_exe))) {
        /* Can this user claim GPUs and write the audit log, as `nvbind run` will? */
        nvb_isolation_doctor(d, cfg.isolation.state_dir, cfg.isolation.audit_log);
        /* The specs engines read: there, current, and nobody else's for the same devices. */
        o.with_nvml = false;
        nvb_host *h = nvb_host_discover(&o, &err);
        nvb_cdi_doctor(d, h, (const char *const *)cfg.cdi.spec_dirs.v, cfg.cdi.spec_dirs.n, "nvidia.com/gpu");
        nvb_host_free(h);
        nvb_doctor_finish(d);
    }
    nvb_strv_free(&libs);
    nvb_config_clear(&cfg);
    if (!d) {
        fputs("nvbind: doctor: out of memory\n", stderr);
        return NVB_EXIT_IO;
    }
    if (json) {
        json_t *j = nvb_doctor_to_json(d);
        nvb_cli_print_json(j);
        json_decref(j);
    } else {
        static const char *const marks[] = {"ok  ", "info", "WARN", "FAIL"};
        for (size_t i = 0; i < d->n_checks; i++) {
            printf("[%s] %s\n", marks[d->checks[i].level], d->checks[i].message);
            if (d->checks[i].fix && d->checks[i].level != NVB_CHECK_OK)
                printf("       fix: %s\n", d->checks[i].fix);
        }
        for (size_t i = 0; i < 5; i++)
            printf("[%s] %-7s %s\n", d->engines[i].path ? "ok  " : "info", d->engines[i].name,
                   d->engines[i].path ? (d->engines[i].version ? d->engines[i].version : d->engines[i].path)
                                      : "not installed");
        printf("%s\n", d->ready ? "ready for GPU containers" : "NOT ready for GPU containers: fix the FAIL lines above");
    }
    int rc = d->ready ? 0 : NVB_EXIT_FAIL;
    nvb_doctor_free(d);
    return rc;
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
