/* nvbind help [COMMAND [SUBCOMMAND]]: the --help text of any command, from the table. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static int cmd_help(nvb_cli *cli, int argc, char **argv)
{
    nvb_cli_parser p;
    if (nvb_cli_parse_json(&p, cli, argc, argv, -1, NULL))
        return p.rc;
    const char *const *names = (const char *const *)argv + optind;
    int n = argc - optind, bad = 0;
    const nvb_cli_cmd *cmd = nvb_cli_find(names, n, &bad);
    if (!cmd) {
        /* Name what was unknown and where to look: the root's list, or the parent's. */
        char parent[128] = "";
        for (int i = 0; i < bad; i++)
            snprintf(parent + strlen(parent), sizeof parent - strlen(parent), " %s", names[i]);
        return nvb_cli_usage("help", "unknown %s '%s' (see nvbind%s --help)", bad ? "subcommand" : "command", names[bad],
                             parent);
    }
    char path[128] = "";
    for (int i = 0; i < n; i++)
        snprintf(path + strlen(path), sizeof path - strlen(path), "%s%s", i ? " " : "", names[i]);
    nvb_cli_print_help(stdout, cmd, path);
    return fflush(stdout) ? NVB_EXIT_IO : 0;
}

const nvb_cli_cmd nvb_cmd_help = {
    .name = "help",
    .operands = "[COMMAND [SUBCOMMAND]]",
    .summary = "the help of nvbind or of one command",
    .operand_words = "@commands",
    .fn = cmd_help,
};
