/* What nvbind doctor and nvbind wsl2 check share: the checks run with the configuration and
 * discovery options every command uses, and their findings printed one a line. */
#include "cli_doctor.h"

#include <stdio.h>

nvb_doctor *nvb_cli_doctor(const nvb_cli *cli, const char *cmd, nvb_cli_checks_fn run, int *rc)
{
    nvb_err err = {0};
    nvb_config cfg = {0};
    nvb_strv libs = {0};
    nvb_discover_opts o;
    if (nvb_cli_load_config(cli, &cfg, &err) < 0) {
        nvb_config_clear(&cfg);
        *rc = nvb_cli_fail(&err);
        return NULL;
    }
    nvb_doctor *d = nvb_cli_discover_opts(cli, &cfg, &libs, &o) == 0 ? run(cli, &cfg, &o) : NULL;
    nvb_strv_free(&libs);
    nvb_config_clear(&cfg);
    if (!d) {
        fprintf(stderr, "nvbind: %s: out of memory\n", cmd);
        *rc = NVB_EXIT_IO;
    }
    return d;
}

int nvb_cli_doctor_report(nvb_doctor *d, bool json, json_t *(*to_json)(const nvb_doctor *d),
                          void (*print_text)(const nvb_doctor *d))
{
    if (json) {
        json_t *j = to_json(d);
        nvb_cli_print_json(j);
        json_decref(j);
    } else {
        print_text(d);
    }
    int rc = d->ready ? 0 : NVB_EXIT_FAIL;
    nvb_doctor_free(d);
    return rc;
}

void nvb_cli_print_checks(const nvb_doctor *d)
{
    static const char *const marks[] = {"ok  ", "info", "WARN", "FAIL"};
    for (size_t i = 0; i < d->n_checks; i++) {
        printf("[%s] %s\n", marks[d->checks[i].level], d->checks[i].message);
        if (d->checks[i].fix && d->checks[i].level != NVB_CHECK_OK)
            printf("       fix: %s\n", d->checks[i].fix);
    }
}
