/* nvbind device-plugin: the Kubernetes device plugin (docs/kubernetes.md). Served by the
 * nvbind-device-plugin executable next to nvbind (src/dp_main.c), which alone links gRPC;
 * this command hands it the global options and its own arguments. */
#include "cli.h"
#include "dp_usage.h"
#include "util/cleanup.h"

#include <errno.h>
#include <libgen.h>
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
    int r = nvb_strv_push(v, helper) | nvb_strv_push(v, "--root") | nvb_strv_push(v, cli->root);
    if (cli->driver_root)
        r |= nvb_strv_push(v, "--driver-root") | nvb_strv_push(v, cli->driver_root);
    for (size_t i = 0; i < cli->library_search.n; i++)
        r |= nvb_strv_push(v, "--library-search-path") | nvb_strv_push(v, cli->library_search.v[i]);
    if (cli->config_path)
        r |= nvb_strv_push(v, "--config") | nvb_strv_push(v, cli->config_path);
    r |= nvb_strv_push(v, "--hook-path") | nvb_strv_push(v, cli->self_exe) | nvb_strv_push(v, "device-plugin");
    for (int i = 1; i < argc; i++)
        r |= nvb_strv_push(v, argv[i]);
    r |= nvb_strv_push(v, "");  /* room for the NULL execv wants */
    if (r < 0)
        return -1;
    free(v->v[--v->n]);
    v->v[v->n] = NULL;
    return 0;
}

int cmd_device_plugin(nvb_cli *cli, int argc, char **argv)
{
    char dir[sizeof cli->self_exe];
    snprintf(dir, sizeof dir, "%s", cli->self_exe);
    _cleanup_free_ char *helper = nvb_path_join(dirname(dir), "nvbind-device-plugin");
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
