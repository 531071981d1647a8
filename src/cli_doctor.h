/* What nvbind doctor and nvbind wsl2 check share (cli_doctor.c). */
#pragma once
#include "cli.h"
#include "host/doctor.h"

/* Run the checks with the configuration and the discovery options every command uses; NULL
 * after a line on stderr, *rc then the exit status (5 for a broken configuration). */
typedef nvb_doctor *(*nvb_cli_checks_fn)(const nvb_cli *cli, const nvb_config *cfg, const nvb_discover_opts *o);
nvb_doctor *nvb_cli_doctor(const nvb_cli *cli, const char *cmd, nvb_cli_checks_fn run, int *rc);
/* Print d's findings, as JSON (to_json) or as text (print_text), free d, and return the exit
 * status: 0 when d is ready, 1 when it is not. */
int nvb_cli_doctor_report(nvb_doctor *d, bool json, json_t *(*to_json)(const nvb_doctor *d),
                          void (*print_text)(const nvb_doctor *d));
/* Each finding on a line, "[FAIL] message", with its fix below when it is not ok. */
void nvb_cli_print_checks(const nvb_doctor *d);
