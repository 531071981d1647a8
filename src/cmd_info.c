#include "cli.h"

int cmd_info(nvb_cli *cli, int argc, char **argv)
{
    (void)cli;
    (void)argc;
    (void)argv;
    return nvb_cli_usage("info", "not implemented yet");
}
