/* The commands served by an executable of their own next to nvbind, so that only it maps the
 * libraries it needs and every other command (the OCI hooks above all) starts without them:
 * `nvbind device-plugin` (nvbind-device-plugin: gRPC, protobuf-c) and `nvbind exporter` /
 * `nvbind top` (nvbind-monitor: libmicrohttpd and GnuTLS behind it, ncurses). nvbind answers
 * --help from its table and hands the rest over, with the global options, unparsed: the
 * helper parses and checks the command's options itself, from the same tables
 * (cli_helper_opts.c). */
#include "cli.h"
#include "cli_helper_opts.h"
#include "util/cleanup.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static bool wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return true;
    return false;
}

/* exec NAME next to nvbind for the command in argv[0]; without it, missing says what to
 * install (exit 2). */
static int run_helper(nvb_cli *cli, const char *name, bool hook_path, const char *missing, int argc, char **argv)
{
    if (wants_help(argc, argv)) {
        nvb_cli_print_help(stdout, cli->cmd, cli->path);
        return fflush(stdout) ? NVB_EXIT_IO : 0;
    }
    /* HELPER GLOBAL-OPTIONS [--hook-path NVBIND] COMMAND ARGS... */
    _cleanup_free_ char *helper = nvb_cli_helper_path(cli, name);
    _cleanup_(nvb_strv_free) nvb_strv v = {0};
    if (!helper || nvb_cli_helper_argv(cli, helper, &v) < 0 ||
        (hook_path && (nvb_strv_push(&v, "--hook-path") < 0 || nvb_strv_push(&v, cli->self_exe) < 0)) ||
        nvb_cli_argv_end(&v, argc, argv) < 0)
        return NVB_EXIT_IO;
    if (access(helper, X_OK) < 0) {
        fprintf(stderr, "nvbind %s: %s: %s; this nvbind was built without %s\n", cli->path, helper, strerror(errno),
                missing);
        return NVB_EXIT_USAGE;
    }
    execv(helper, v.v);
    fprintf(stderr, "nvbind %s: cannot run %s: %s\n", cli->path, helper, strerror(errno));
    return NVB_EXIT_IO;
}

static int device_plugin(nvb_cli *cli, int argc, char **argv)
{
    return run_helper(cli, "nvbind-device-plugin", true, "gRPC and protobuf-c (libgrpc-dev, libprotobuf-c-dev, "
                      "protobuf-c-compiler)", argc, argv);
}

static int monitor(nvb_cli *cli, int argc, char **argv)
{
    return run_helper(cli, "nvbind-monitor", false, "nvbind-monitor", argc, argv);
}

const nvb_cli_cmd nvb_cmd_device_plugin = {
    .name = "device-plugin",
    .summary = "the Kubernetes device plugin: serve this node's GPUs to the kubelet",
    .details = "Serves until SIGTERM (device plugin API v1beta1); one log line per event on stderr.\n"
               "Run by the nvbind-device-plugin executable next to nvbind.",
    .opts = nvb_device_plugin_opts,
    .fn = device_plugin,
};

const nvb_cli_cmd nvb_cmd_exporter = {
    .name = "exporter",
    .summary = "Prometheus metrics of the GPUs, their containers and nvbind",
    .details = "Serves dcgm-exporter's metric names at http://ADDR:PORT/metrics (Prometheus text format).\n"
               "Run by the nvbind-monitor executable next to nvbind.",
    .opts = nvb_exporter_opts,
    .fn = monitor,
};

const nvb_cli_cmd nvb_cmd_top = {
    .name = "top",
    .summary = "the GPUs and their containers in a terminal view",
    .details = "Utilization and memory bars, temperature, power, and the containers on each GPU with their\n"
               "memory. q quits. Run by the nvbind-monitor executable next to nvbind.",
    .opts = nvb_top_opts,
    .fn = monitor,
};
