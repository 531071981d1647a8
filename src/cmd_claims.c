#include "cli.h"

int cmd_claims(nvb_cli *cli, int argc, char **argv)
{
    (void)cli;
    (void)argc;
    (void)argv;
    return nvb_cli_usage("claims", "not implemented yet");
}
