#include "cli.h"

int cmd_run(nvb_cli *cli, int argc, char **argv)
{
    (void)cli;
    (void)argc;
    (void)argv;
    return nvb_cli_usage("run", "not implemented yet");
}
