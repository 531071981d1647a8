/* nvbind exporter and nvbind top, as the nvbind command sees them: both are served by the
 * nvbind-monitor executable next to nvbind (src/monitor_main.c), which alone links
 * libmicrohttpd (and GnuTLS behind it) and ncurses, so that every other command, the OCI hooks
 * above all, starts without mapping them. This hands it the global options and the command. */
#include "cli.h"
#include "util/cleanup.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* nvbind-monitor --root DIR [--driver-root DIR] [--library-search-path DIR]... [--config FILE]
 * COMMAND ARGS... */
static int build_argv(const nvb_cli *cli, const char *helper, int argc, char **argv, nvb_strv *v)
{
    int r = nvb_strv_push(v, helper) | nvb_strv_push(v, "--root") | nvb_strv_push(v, cli->root);
    if (cli->driver_root)
        r |= nvb_strv_push(v, "--driver-root") | nvb_strv_push(v, cli->driver_root);
    for (size_t i = 0; i < cli->library_search.n; i++)
        r |= nvb_strv_push(v, "--library-search-path") | nvb_strv_push(v, cli->library_search.v[i]);
    if (cli->config_path)
        r |= nvb_strv_push(v, "--config") | nvb_strv_push(v, cli->config_path);
    for (int i = 0; i < argc; i++)
        r |= nvb_strv_push(v, argv[i]);
    r |= nvb_strv_push(v, ""); /* room for the NULL execv wants */
    if (r < 0)
        return -1;
    free(v->v[--v->n]);
    v->v[v->n] = NULL;
    return 0;
}

static int run_monitor(nvb_cli *cli, int argc, char **argv)
{
    char dir[sizeof cli->self_exe];
    snprintf(dir, sizeof dir, "%s", cli->self_exe);
    _cleanup_free_ char *helper = nvb_path_join(dirname(dir), "nvbind-monitor");
    _cleanup_(nvb_strv_free) nvb_strv v = {0};
    if (!helper || build_argv(cli, helper, argc, argv, &v) < 0)
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
