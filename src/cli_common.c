#include "cli.h"
#include "util/json_text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    /* One buffer, one write: jansson's stream dumper calls stdio per token. */
    char *text = nvb_json_dump_line(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (!text)
        return NVB_EXIT_IO;
    size_t n = strlen(text);
    int r = fwrite(text, 1, n, stdout) == n && fflush(stdout) == 0 ? 0 : NVB_EXIT_IO;
    free(text);
    return r;
}
