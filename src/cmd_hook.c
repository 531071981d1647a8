#include "cli.h"

int cmd_hook(nvb_cli *cli, int argc, char **argv)
{
    (void)cli;
    (void)argc;
    (void)argv;
    return nvb_cli_usage("hook", "not implemented yet");
}
