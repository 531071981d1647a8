/* nvbind exporter and nvbind top, as the nvbind command sees them: both are served by the
 * nvbind-monitor executable next to nvbind (src/monitor_main.c), which alone links
 * libmicrohttpd (and GnuTLS behind it) and ncurses, so that every other command, the OCI hooks
 * above all, starts without mapping them. This hands it the global options and the command. */
#include "cli.h"
#include "util/cleanup.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int run_monitor(nvb_cli *cli, int argc, char **argv)
{
    /* nvbind-monitor GLOBAL-OPTIONS COMMAND ARGS... */
    _cleanup_free_ char *helper = nvb_cli_helper_path(cli, "nvbind-monitor");
    _cleanup_(nvb_strv_free) nvb_strv v = {0};
    if (!helper || nvb_cli_helper_argv(cli, helper, &v) < 0 || nvb_cli_argv_end(&v, argc, argv) < 0)
        return NVB_EXIT_IO;
    execv(helper, v.v);
    fprintf(stderr, "nvbind %s: cannot run %s: %s\n", argv[0], helper, strerror(errno));
    return NVB_EXIT_IO;
}

int cmd_exporter(nvb_cli *cli, int argc, char **argv)
{
    return run_monitor(cli, argc, argv);
}

int cmd_top(nvb_cli *cli, int argc, char **argv)
{
    return run_monitor(cli, argc, argv);
}
