/* nvbind system create-dev-char-symlinks: the /dev/char/MAJ:MIN links of the host's GPU
 * device nodes (lib/host/devchar.h). */
#include "cli.h"
#include "host/devchar.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

enum { OPT_ROOT = 256 };

static int create_dev_char_symlinks(nvb_cli *cli, int argc, char **argv)
{
    bool dry_run = false;
    int c;
    nvb_cli_parser p;
    nvb_cli_parser_for(&p, cli);
    while ((c = nvb_cli_next(&p, argc, argv)) >= 0) {
        switch (c) {
        case 'n': dry_run = true; break;
        case OPT_ROOT: cli->root = optarg; break; /* also accepted after the command */
        }
    }
    if (nvb_cli_stops(&p, c, argc, argv, 0))
        return p.rc;
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

static const nvb_cli_opt devchar_opts[] = {
    {"root", 0, OPT_ROOT, "DIR", 0, "the host root (as the global --root; also accepted here)", NVB_COMPLETE_DIR, NULL},
    {"dry-run", 'n', 'n', NULL, 0, "say what would be made, make nothing", 0, NULL},
    {0},
};
static const nvb_cli_cmd devchar_cmd = {
    .name = "create-dev-char-symlinks",
    .summary = "make /dev/char/MAJ:MIN -> ../nvidiaN (and the other GPU nodes) where missing",
    .details = "A name taken by anything else is left alone and reported (exit status 1).",
    .opts = devchar_opts,
    .fn = create_dev_char_symlinks,
};
const nvb_cli_cmd nvb_cmd_system = {
    .name = "system",
    .summary = "host set-up: the /dev/char links of NVIDIA device nodes",
    .subs = (const nvb_cli_cmd *const[]){&devchar_cmd, NULL},
};
