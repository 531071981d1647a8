#include "cli.h"

int cmd_doctor(nvb_cli *cli, int argc, char **argv)
{
    (void)cli;
    (void)argc;
    (void)argv;
    return nvb_cli_usage("doctor", "not implemented yet");
}
