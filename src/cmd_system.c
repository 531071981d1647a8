/* nvbind system create-dev-char-symlinks and create-device-nodes: the host's GPU device nodes
 * and their /dev/char/MAJ:MIN links (lib/host/devchar.h, lib/host/devnodes_make.h). */
#include "cli.h"
#include "host/devchar.h"
#include "host/devnodes_make.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

enum { OPT_ROOT = 256 };

/* The options both commands take (--dry-run, --root), and the host they work on: NULL with
 * *rc set when they stop here. */
static nvb_host *parse_and_discover(nvb_cli *cli, int argc, char **argv, bool *dry_run, int *rc)
{
    int c;
    nvb_cli_parser p;
    nvb_cli_parser_for(&p, cli);
    while ((c = nvb_cli_next(&p, argc, argv)) >= 0) {
        switch (c) {
        case 'n': *dry_run = true; break;
        case OPT_ROOT: cli->root = optarg; break; /* also accepted after the command */
        }
    }
    if (nvb_cli_stops(&p, c, argc, argv, 0)) {
        *rc = p.rc;
        return NULL;
    }
    if ((*rc = nvb_cli_absolute_root(cli, "--root")))
        return NULL;
    nvb_err err = {0};
    nvb_config cfg = {0};
    nvb_host *h = NULL;
    if (nvb_cli_load_config(cli, &cfg, &err) == 0)
        h = nvb_cli_discover(cli, &cfg, false, &err);
    nvb_config_clear(&cfg);
    if (!h)
        *rc = nvb_cli_fail(&err);
    return h;
}

/* One command's work on the host: prints its summary; an exit status, or -1 with err. */
typedef int (*system_job)(const nvb_host *h, bool dry_run, nvb_err *err);

static int run_job(nvb_cli *cli, int argc, char **argv, system_job job)
{
    bool dry_run = false;
    int rc = 0;
    nvb_host *h = parse_and_discover(cli, argc, argv, &dry_run, &rc);
    if (!h)
        return rc;
    nvb_err err = {0};
    int r = job(h, dry_run, &err);
    nvb_host_free(h);
    if (r < 0)
        return nvb_cli_fail(&err);
    return fflush(stdout) != 0 ? NVB_EXIT_IO : r;
}

static int dev_char_links(const nvb_host *h, bool dry_run, nvb_err *err)
{
    nvb_devchar_counts n;
    if (nvb_devchar_create(h, dry_run, stdout, stderr, &n, err) < 0)
        return -1;
    printf("%u %s, %u already in place, %u left alone\n", n.created,
           dry_run ? "to create" : (n.created == 1 ? "link created" : "links created"), n.present, n.conflicts);
    return n.conflicts ? NVB_EXIT_FAIL : 0;
}

static int device_nodes(const nvb_host *h, bool dry_run, nvb_err *err)
{
    nvb_devnodes_counts n;
    if (nvb_devnodes_make(h, dry_run, stdout, stderr, &n, err) < 0)
        return -1;
    printf("%u %s, %u %s, %u already in place, %u left alone", n.made, dry_run ? "to make" : "made", n.replaced,
           dry_run ? "to replace" : "replaced", n.present, n.conflicts);
    if (n.unloaded)
        printf(", %u not made (module not loaded)", n.unloaded);
    if (n.failed)
        printf(", %u failed", n.failed);
    putchar('\n');
    return n.failed ? NVB_EXIT_IO : n.conflicts || n.unloaded ? NVB_EXIT_FAIL : 0;
}

static int create_dev_char_symlinks(nvb_cli *cli, int argc, char **argv)
{
    return run_job(cli, argc, argv, dev_char_links);
}

static int create_device_nodes(nvb_cli *cli, int argc, char **argv)
{
    return run_job(cli, argc, argv, device_nodes);
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
static const nvb_cli_cmd devnodes_cmd = {
    .name = "create-device-nodes",
    .summary = "make the loaded driver's device nodes where missing: /dev/nvidiactl, -modeset, -uvm, -uvm-tools, "
               "each GPU's /dev/nvidiaN and the MIG capability nodes",
    .details = "Numbers from /proc/devices and the GPUs' information files; owner and mode from the driver's "
               "params (DeviceFileUID, DeviceFileGID, DeviceFileMode), as nvidia-modprobe makes them. A node of "
               "another number, owner or mode is made again; a name taken by anything but a character device is "
               "left alone and reported (exit status 1), as are the nodes of nvidia-uvm when it is not loaded. "
               "Nothing is made when the driver's ModifyDeviceFiles is 0.",
    .opts = devchar_opts,
    .fn = create_device_nodes,
};
const nvb_cli_cmd nvb_cmd_system = {
    .name = "system",
    .summary = "host set-up: NVIDIA device nodes and their /dev/char links",
    .subs = (const nvb_cli_cmd *const[]){&devchar_cmd, &devnodes_cmd, NULL},
};
