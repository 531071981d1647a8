/* What `nvbind exporter` and `nvbind top` share: a collector (lib/metrics) set up from the
 * global options and the configuration ([isolation] state_dir and audit_log, [cdi] spec_dirs,
 * [host] discovery settings). */
#pragma once
#include "cli.h"
#include "config/config.h"
#include "metrics/collect.h"

typedef struct nvb_cli_monitor {
    nvb_config cfg;
    nvb_strv libs;
    nvb_collector *collector;
} nvb_cli_monitor;

/* keep_nvml_open: NVML initialised once (--interval). 0, or an exit status after one line
 * on stderr. */
int nvb_cli_monitor_open(const nvb_cli *cli, bool keep_nvml_open, nvb_cli_monitor *m);
void nvb_cli_monitor_close(nvb_cli_monitor *m);

/* The commands nvbind-monitor runs (src/monitor_main.c), as nvbind exec's them
 * (src/cmd_helpers.c): argv[0] is the command's name. */
int cmd_exporter(nvb_cli *cli, int argc, char **argv);
int cmd_top(nvb_cli *cli, int argc, char **argv);
