/* nvbind-monitor: the program behind `nvbind exporter` and `nvbind top` (src/cmd_helpers.c
 * runs it with the global options it parsed):
 *   nvbind-monitor [--root DIR] [--driver-root DIR] [--library-search-path DIR]...
 *                  [--config FILE] exporter|top [OPTIONS]
 * An executable of its own so that only it maps libmicrohttpd, GnuTLS and ncurses. */
#include "cli.h"
#include "cli_monitor.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
    "usage: nvbind-monitor [--root DIR] [--driver-root DIR] [--library-search-path DIR]... [--config FILE]\n"
    "                      exporter|top [OPTIONS]\n"
    "(what `nvbind exporter` and `nvbind top` run; see nvbind exporter --help)\n";

int main(int argc, char **argv)
{
    nvb_cli cli = {.root = "/"};
    ssize_t n = readlink("/proc/self/exe", cli.self_exe, sizeof cli.self_exe - 1);
    if (n > 0)
        cli.self_exe[n] = '\0';
    static const struct option opts[] = {NVB_CLI_HELPER_OPTIONS, {"help", no_argument, NULL, 'h'}, {0}};
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
        int known = nvb_cli_helper_option(&cli, c, optarg);
        if (known < 0)
            return NVB_EXIT_IO;
        if (known)
            continue;
        if (c == 'h') {
            fputs(usage, stdout);
            return 0;
        }
        fputs(usage, stderr);
        return NVB_EXIT_USAGE;
    }
    int rc = nvb_cli_absolute_root(&cli, "--root");
    if (rc)
        return rc;
    const char *name = optind < argc ? argv[optind] : "";
    nvb_cmd_fn fn = strcmp(name, "exporter") == 0 ? cmd_exporter : strcmp(name, "top") == 0 ? cmd_top : NULL;
    if (!fn) {
        fputs(usage, stderr);
        return NVB_EXIT_USAGE;
    }
    int sub_argc = argc - optind;
    char **sub_argv = argv + optind;
    optind = 1;
    rc = fn(&cli, sub_argc, sub_argv);
    nvb_strv_free(&cli.library_search);
    return rc;
}
