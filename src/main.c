/* nvbind: parse the global options, then hand the rest to one command. */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage_text[] =
    "usage: nvbind [GLOBAL OPTIONS] COMMAND [ARGS]\n"
    "\n"
    "Global options (before the command):\n"
    "  --root DIR                  treat DIR as the host's / (env NVBIND_ROOT; default /)\n"
    "  --driver-root DIR           where the driver's user-space files live, a host path inside --root\n"
    "  --library-search-path DIR   extra folder to look for driver libraries in (repeatable)\n"
    "  --config FILE               configuration file (default: NVBIND_CONFIG, ~/.config/nvbind/config.toml,\n"
    "                              /etc/nvbind/config.toml; never ./nvbind.toml)\n"
    "  -h, --help                  this text\n"
    "  --version                   print the version\n"
    "\n"
    "Commands:\n"
    "  info [--detailed] [--json]  what this host offers to containers\n"
    "  doctor [--json]             is this host ready for GPU containers, and what to fix\n"
    "  cdi generate|list|validate|check   CDI specs\n"
    "  hook update-ldcache|create-symlinks  OCI hooks run by the container runtime\n"
    "  config init|show|validate   the configuration file\n"
    "  run [OPTIONS] IMAGE [CMD]   run a GPU container through podman, docker, bolt, runc or crun\n"
    "  claims [--json]             exclusive GPU claims held now\n"
    "  audit [OPTIONS]             the audit log of grants and denials\n"
    "  runtime configure --runtime ENGINE  register nvbind-runtime with docker, containerd, crio, podman\n"
    "  system create-dev-char-symlinks     the /dev/char links of NVIDIA device nodes\n"
    "  wsl2 check [--json]         what this WSL2 guest has and lacks for GPU containers\n"
    "  device-plugin [OPTIONS]     the Kubernetes device plugin: serve this node's GPUs to the kubelet\n"
    "  exporter [--listen ADDR:PORT]       Prometheus metrics of the GPUs, their containers and nvbind\n"
    "  top                         the GPUs and their containers in a terminal view\n";

static const struct {
    const char *name;
    nvb_cmd_fn fn;
} commands[] = {
    {"info", cmd_info},     {"doctor", cmd_doctor}, {"cdi", cmd_cdi},       {"hook", cmd_hook},
    {"config", cmd_config}, {"run", cmd_run},       {"claims", cmd_claims}, {"audit", cmd_audit},
    {"runtime", cmd_runtime}, {"system", cmd_system},
    {"wsl2", cmd_wsl2},
    {"device-plugin", cmd_device_plugin},
    {"exporter", cmd_exporter}, {"top", cmd_top},
};

int main(int argc, char **argv)
{
    nvb_cli cli = {.root = getenv("NVBIND_ROOT")};
    if (!cli.root || !*cli.root)
        cli.root = "/";
    ssize_t n = readlink("/proc/self/exe", cli.self_exe, sizeof cli.self_exe - 1);
    if (n > 0)
        cli.self_exe[n] = '\0';
    else
        snprintf(cli.self_exe, sizeof cli.self_exe, "%s", argv[0]);

    const char *root_by = "NVBIND_ROOT";
    enum { OPT_ROOT = 256, OPT_DRIVER_ROOT, OPT_LIBPATH, OPT_CONFIG, OPT_VERSION };
    static const struct option opts[] = {
        {"root", required_argument, NULL, OPT_ROOT},
        {"driver-root", required_argument, NULL, OPT_DRIVER_ROOT},
        {"library-search-path", required_argument, NULL, OPT_LIBPATH},
        {"config", required_argument, NULL, OPT_CONFIG},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, OPT_VERSION},
        {0},
    };
    int c;
    /* "+" stops at the first non-option: the command and its own options follow; ":" and
     * opterr = 0 let the errors below be one line each. */
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_ROOT:
            cli.root = optarg;
            root_by = "--root";
            break;
        case OPT_DRIVER_ROOT:
            if (optarg[0] != '/') {
                fprintf(stderr, "nvbind: --driver-root %s: must be an absolute path on the host\n", optarg);
                return NVB_EXIT_USAGE;
            }
            cli.driver_root = optarg;
            break;
        case OPT_LIBPATH:
            if (nvb_strv_push(&cli.library_search, optarg) < 0)
                return NVB_EXIT_IO;
            break;
        case OPT_CONFIG:
            cli.config_path = optarg;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return 0;
        case OPT_VERSION:
            printf("nvbind %s\n", NVBIND_VERSION);
            return 0;
        case ':':
            fprintf(stderr, "nvbind: %s needs a value (see nvbind --help)\n", argv[optind - 1]);
            return NVB_EXIT_USAGE;
        default:
            if (optopt && strncmp(argv[optind - 1], "--", 2) == 0)
                fprintf(stderr, "nvbind: %.*s takes no value (see nvbind --help)\n",
                        (int)strcspn(argv[optind - 1], "="), argv[optind - 1]);
            else if (strncmp(argv[optind - 1], "--", 2) == 0)
                fprintf(stderr, "nvbind: unknown option '%s' (see nvbind --help)\n", argv[optind - 1]);
            else
                fprintf(stderr, "nvbind: unknown option '-%c' (see nvbind --help)\n", optopt);
            return NVB_EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        fputs(usage_text, stderr);
        return NVB_EXIT_USAGE;
    }
    int rc = nvb_cli_absolute_root(&cli, root_by);
    if (rc)
        return rc;
    const char *name = argv[optind];
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(commands[i].name, name) == 0) {
            int sub_argc = argc - optind;
            char **sub_argv = argv + optind;
            optind = 1; /* each command runs getopt afresh over its own arguments */
            rc = commands[i].fn(&cli, sub_argc, sub_argv);
            nvb_strv_free(&cli.library_search);
            return rc;
        }
    }
    fprintf(stderr, "nvbind: unknown command '%s' (see nvbind --help)\n", name);
    return NVB_EXIT_USAGE;
}
