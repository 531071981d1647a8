#include "cli.h"

#include <stdio.h>

nvb_host *nvb_cli_discover(const nvb_cli *cli, bool with_nvml, nvb_err *err)
{
    nvb_discover_opts o = {
        .root = cli->root,
        .driver_root = cli->driver_root,
        .library_search = (const char *const *)cli->library_search.v,
        .with_nvml = with_nvml,
    };
    return nvb_host_discover(&o, err);
}

int nvb_cli_print_json(json_t *v)
{
    int r = json_dumpf(v, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    fputc('\n', stdout);
    return r == 0 && fflush(stdout) == 0 ? 0 : NVB_EXIT_IO;
}
