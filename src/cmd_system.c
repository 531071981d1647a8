/* nvbind system create-dev-char-symlinks: the /dev/char/MAJ:MIN links of the host's GPU
 * device nodes (lib/host/devchar.h). */
#include "cli.h"
#include "cli_opts.h"
#include "host/devchar.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static const char system_usage[] =
    "usage: nvbind system create-dev-char-symlinks [--root DIR] [--dry-run]\n"
    "  make /dev/char/MAJ:MIN -> ../nvidiaN (and the other GPU nodes) where missing;\n"
    "  a name taken by anything else is left alone and reported (exit status 1)";

static int create_dev_char_symlinks(nvb_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"dry-run", no_argument, NULL, 'n'}, {"root", required_argument, NULL, 'r'}, {"help", no_argument, NULL, 'h'},
        {0}};
    bool dry_run = false;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:nh", opts, NULL)) != -1) {
        switch (c) {
        case 'n': dry_run = true; break;
        case 'r': cli->root = optarg; break; /* also accepted after the command */
        case 'h': puts(system_usage); return 0;
        default: return nvb_cli_bad_option("system create-dev-char-symlinks", c, argv);
        }
    }
    if (optind < argc)
        return nvb_cli_usage("system create-dev-char-symlinks", "unexpected argument '%s'", argv[optind]);
    int rc = nvb_cli_absolute_root(cli, "--root");
    if (rc)
        return rc;
    nvb_err err = {0};
    nvb_config cfg = {0};
    nvb_host *h = NULL;
    if (nvb_cli_load_config(cli, &cfg, &err) == 0)
        h = nvb_cli_discover(cli, &cfg, false, &err);
    nvb_config_clear(&cfg);
    if (!h)
        return nvb_cli_fail(&err);
    nvb_devchar_counts n;
    int r = nvb_devchar_create(h, dry_run, stdout, stderr, &n, &err);
    nvb_host_free(h);
    if (r < 0)
        return nvb_cli_fail(&err);
    printf("%u %s, %u already in place, %u left alone\n", n.created,
           dry_run ? "to create" : (n.created == 1 ? "link created" : "links created"), n.present, n.conflicts);
    if (fflush(stdout) != 0)
        return NVB_EXIT_IO;
    return n.conflicts ? NVB_EXIT_FAIL : 0;
}

int cmd_system(nvb_cli *cli, int argc, char **argv)
{
    if (argc < 2)
        return nvb_cli_usage("system", "usage: nvbind system create-dev-char-symlinks [--dry-run]");
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        puts(system_usage);
        return 0;
    }
    if (strcmp(argv[1], "create-dev-char-symlinks") == 0) {
        optind = 1;
        return create_dev_char_symlinks(cli, argc - 1, argv + 1);
    }
    return nvb_cli_usage("system", "unknown subcommand '%s' (see nvbind system --help)", argv[1]);
}
