/* nvbind: parse the global options, then hand the rest to one command. */
#include "cli.h"
#include "util/isolate.h"
#include "util/prefault.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Walk from cmd down its subcommands to a command that runs (argv[0] names cmd): each
 * level's name joins cli->path; a level with subcommands answers --help itself. */
static int dispatch(nvb_cli *cli, const nvb_cli_cmd *cmd, int argc, char **argv)
{
    size_t at = strlen(cli->path);
    snprintf(cli->path + at, sizeof cli->path - at, "%s%s", at ? " " : "", cmd->name);
    if (cmd->fn) {
        cli->cmd = cmd;
        optind = 1; /* each command runs getopt afresh over its own arguments */
        return cmd->fn(cli, argc, argv);
    }
    char names[256];
    nvb_cli_sub_names(cmd, names, sizeof names);
    if (argc < 2) {
        fprintf(stderr, "nvbind %s: missing subcommand (%s; see nvbind %s --help)\n", cli->path, names, cli->path);
        return NVB_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        nvb_cli_print_help(stdout, cmd, cli->path);
        return fflush(stdout) ? NVB_EXIT_IO : 0;
    }
    const nvb_cli_cmd *sub = nvb_cli_sub(cmd, argv[1]);
    if (!sub) {
        fprintf(stderr, "nvbind %s: unknown %s '%s' (%s)\n", cli->path, argv[1][0] == '-' ? "option" : "subcommand",
                argv[1], names);
        return NVB_EXIT_USAGE;
    }
    return dispatch(cli, sub, argc - 1, argv + 1);
}

int main(int argc, char **argv)
{
#if NVB_STATIC_EXE
    nvb_isolate_in_helper();
#endif
    nvb_cli cli = {.root = getenv("NVBIND_ROOT")};
    if (!cli.root || !*cli.root)
        cli.root = "/";
    ssize_t n = readlink("/proc/self/exe", cli.self_exe, sizeof cli.self_exe - 1);
    if (n > 0)
        cli.self_exe[n] = '\0';
    else
        snprintf(cli.self_exe, sizeof cli.self_exe, "%s", argv[0]);

    const char *root_by = "NVBIND_ROOT";
    nvb_cli_parser p;
    nvb_cli_parser_init(&p, &nvb_cli_root, "", nvb_cli_print_help);
    int c, verbosity = 0;
    while ((c = nvb_cli_next(&p, argc, argv)) >= 0) {
        switch (c) {
        case 'v':
            verbosity++;
            break;
        case NVB_GOPT_ROOT:
            cli.root = optarg;
            root_by = "--root";
            break;
        case NVB_GOPT_DRIVER_ROOT:
            if (optarg[0] != '/') {
                fprintf(stderr, "nvbind: --driver-root %s: must be an absolute path on the host\n", optarg);
                return NVB_EXIT_USAGE;
            }
            cli.driver_root = optarg;
            break;
        case NVB_GOPT_LIBPATH:
            if (nvb_strv_push(&cli.library_search, optarg) < 0)
                return NVB_EXIT_IO;
            break;
        case NVB_GOPT_CONFIG:
            cli.config_path = optarg;
            break;
        case 'V':
            printf("nvbind %s\n", NVBIND_VERSION);
            return 0;
        }
    }
    if (c == NVB_OPT_STOP)
        return p.rc;
    if (optind >= argc) {
        nvb_cli_print_help(stderr, &nvb_cli_root, "");
        return NVB_EXIT_USAGE;
    }
    int rc = nvb_cli_log_setup(verbosity);
    if (rc)
        return rc;
    rc = nvb_cli_absolute_root(&cli, root_by);
    if (rc)
        return rc;
    const char *name = argv[optind];
    const nvb_cli_cmd *cmd = nvb_cli_sub(&nvb_cli_root, name);
    if (!cmd) {
        fprintf(stderr, "nvbind: unknown command '%s' (see nvbind --help)\n", name);
        return NVB_EXIT_USAGE;
    }
    /* info and cdi generate touch about 100 KiB of heap and 20 KiB of stack, taken at once
     * (util/prefault.h); --help and --version returned above. */
    nvb_prefault(128 << 10, 32 << 10);
    rc = dispatch(&cli, cmd, argc - optind, argv + optind);
    nvb_strv_free(&cli.library_search);
    return rc;
}
