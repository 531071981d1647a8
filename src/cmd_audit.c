#include "cli.h"

int cmd_audit(nvb_cli *cli, int argc, char **argv)
{
    (void)cli;
    (void)argc;
    (void)argv;
    return nvb_cli_usage("audit", "not implemented yet");
}
