#include "cli.h"

int cmd_config(nvb_cli *cli, int argc, char **argv)
{
    (void)cli;
    (void)argc;
    (void)argv;
    return nvb_cli_usage("config", "not implemented yet");
}
