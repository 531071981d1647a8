/* nvbind device-plugin: the Kubernetes device plugin (docs/kubernetes.md). Served by the
 * nvbind-device-plugin executable next to nvbind (src/dp_main.c), which alone links gRPC;
 * this command hands it the global options and its own arguments. */
#include "cli.h"
#include "dp_usage.h"
#include "util/cleanup.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static bool wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return true;
    return false;
}

/* nvbind-device-plugin GLOBAL-OPTIONS --hook-path NVBIND device-plugin ARGS... */
static int build_argv(const nvb_cli *cli, const char *helper, int argc, char **argv, nvb_strv *v)
{
    if (nvb_cli_helper_argv(cli, helper, v) < 0 || nvb_strv_push(v, "--hook-path") < 0 ||
        nvb_strv_push(v, cli->self_exe) < 0 || nvb_strv_push(v, "device-plugin") < 0)
        return -1;
    return nvb_cli_argv_end(v, argc - 1, argv + 1);
}

int cmd_device_plugin(nvb_cli *cli, int argc, char **argv)
{
    _cleanup_free_ char *helper = nvb_cli_helper_path(cli, "nvbind-device-plugin");
    if (!helper)
        return NVB_EXIT_IO;
    if (access(helper, X_OK) < 0) {
        if (wants_help(argc, argv)) {
            fputs(nvb_dp_usage, stdout);
            return 0;
        }
        fprintf(stderr, "nvbind device-plugin: %s: %s; this nvbind was built without gRPC and protobuf-c "
                        "(libgrpc-dev, libprotobuf-c-dev, protobuf-c-compiler)\n", helper, strerror(errno));
        return NVB_EXIT_USAGE;
    }
    _cleanup_(nvb_strv_free) nvb_strv v = {0};
    if (build_argv(cli, helper, argc, argv, &v) < 0)
        return NVB_EXIT_IO;
    execv(helper, v.v);
    fprintf(stderr, "nvbind device-plugin: cannot run %s: %s\n", helper, strerror(errno));
    return NVB_EXIT_IO;
}
