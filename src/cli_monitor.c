/* The collector behind `nvbind exporter` and `nvbind top` (cli_monitor.h). */
#include "cli_monitor.h"

#include <string.h>

int nvb_cli_monitor_open(const nvb_cli *cli, bool keep_nvml_open, nvb_cli_monitor *m)
{
    memset(m, 0, sizeof *m);
    nvb_err err = {0};
    if (nvb_cli_load_config(cli, &m->cfg, &err) < 0) {
        nvb_config_clear(&m->cfg);
        return nvb_cli_fail(&err);
    }
    nvb_collector_opts o = {
        .state_dir = m->cfg.isolation.state_dir,
        .audit_log = m->cfg.isolation.audit_log,
        .spec_dirs = (const char *const *)m->cfg.cdi.spec_dirs.v,
        .n_spec_dirs = m->cfg.cdi.spec_dirs.n,
        .keep_nvml_open = keep_nvml_open,
    };
    if (nvb_cli_discover_opts(cli, &m->cfg, &m->libs, &o.discover) < 0 || !(m->collector = nvb_collector_new(&o))) {
        nvb_cli_monitor_close(m);
        nvb_errf(&err, NVB_EXIT_IO, "out of memory");
        return nvb_cli_fail(&err);
    }
    return 0;
}

void nvb_cli_monitor_close(nvb_cli_monitor *m)
{
    nvb_collector_free(m->collector);
    nvb_strv_free(&m->libs);
    nvb_config_clear(&m->cfg);
    memset(m, 0, sizeof *m);
}
