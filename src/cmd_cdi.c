#include "cli.h"

int cmd_cdi(nvb_cli *cli, int argc, char **argv)
{
    (void)cli;
    (void)argc;
    (void)argv;
    return nvb_cli_usage("cdi", "not implemented yet");
}
