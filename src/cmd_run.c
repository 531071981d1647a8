/* nvbind run: one GPU container through podman, docker, bolt, runc or crun (lib/runtime/run.c). */
#include "cli.h"
#include "config/config.h"
#include "runtime/run.h"
#include "runtime/run_isolation.h"
#include "util/cleanup.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char run_usage[] =
    "usage: nvbind run [--runtime podman|docker|bolt|runc|crun] [--gpu all|none|LIST] [--profile NAME]\n"
    "                  [--isolation shared|exclusive|virtual] [--wait[=SECONDS]] [--rootfs DIR] [--dry-run]\n"
    "                  [--env KEY=VALUE]...\n"
    "                  [--] IMAGE [CMD ARGS...]\n"
    "\n"
    "  --runtime R     the engine (default: [runtime] default_runtime, else podman, else docker)\n"
    "  --gpu LIST      all, none, or comma-separated GPU indices, UUIDs (GPU-...) or MIG devices\n"
    "                  (0:1, MIG-...) (default: [gpu] default_selection, else all)\n"
    "                  or other vendors' GPUs by CDI name: amd.com/gpu=0, intel.com/gpu=all, KIND=BUS-ID\n"
    "  --profile NAME  default, gaming, aiml or a [profiles.NAME] of the configuration\n"
    "  --isolation L   shared, exclusive or virtual (default: [bolt.capsule] isolation_level)\n"
    "  --wait[=SECS]   when a GPU is taken, wait until it is free (at most SECS seconds) instead\n"
    "                  of failing with exit status 8\n"
    "  --rootfs DIR    runc/crun: the root filesystem; every argument is then the command\n"
    "  --dry-run       print the engine command on one line; run and write nothing\n"
    "  --env K=V       a variable of the container (repeatable); NVIDIA_DRIVER_CAPABILITIES narrows the\n"
    "                  driver files, NVIDIA_REQUIRE_* is checked against the host (NVIDIA_DISABLE_REQUIRE)\n"
    "\n"
    "With runc or crun, IMAGE is a root filesystem folder. The exit status is the container's.\n"
    "A GPU held exclusively by another container: exit status 8, the holder named.\n";

/* Longest --wait: a year; more is a typo. */
#define WAIT_MAX_SECONDS (366 * 24 * 3600)

/* --wait (no value: for ever) or --wait=SECONDS (0: not at all). */
static int parse_wait(const char *value, int *out)
{
    if (!value) {
        *out = NVB_CLAIM_WAIT_FOREVER;
        return 0;
    }
    char *end = NULL;
    unsigned long long n = strtoull(value, &end, 10);
    if (value[0] < '0' || value[0] > '9' || *end || n > WAIT_MAX_SECONDS)
        return nvb_cli_usage("run", "--wait=%s: expected a number of seconds from 0 to %d", value, WAIT_MAX_SECONDS);
    *out = (int)n;
    return 0;
}

int cmd_run(nvb_cli *cli, int argc, char **argv)
{
    enum { OPT_RUNTIME = 256, OPT_GPU, OPT_PROFILE, OPT_ISOLATION, OPT_WAIT, OPT_ROOTFS, OPT_DRY_RUN, OPT_ENV };
    static const struct option opts[] = {
        {"runtime", required_argument, NULL, OPT_RUNTIME},     {"gpu", required_argument, NULL, OPT_GPU},
        {"profile", required_argument, NULL, OPT_PROFILE},
        {"isolation", required_argument, NULL, OPT_ISOLATION}, {"wait", optional_argument, NULL, OPT_WAIT},
        {"rootfs", required_argument, NULL, OPT_ROOTFS},
        {"dry-run", no_argument, NULL, OPT_DRY_RUN},           {"help", no_argument, NULL, 'h'},
        {"env", required_argument, NULL, OPT_ENV},
        {0},
    };
    nvb_run_opts o = {.hook_path = cli->self_exe, .root = cli->root, .driver_root = cli->driver_root,
                      .library_search = &cli->library_search};
    int c, wait_seconds = NVB_CLAIM_NO_WAIT;
    _cleanup_(nvb_strv_free) nvb_strv env = {0}; /* --env entries, freed on every return */
    opterr = 0;
    /* "+": options stop at IMAGE; what follows is the container's command. */
    while ((c = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_RUNTIME: o.runtime = optarg; break;
        case OPT_GPU: o.gpus = optarg; break;
        case OPT_PROFILE: o.profile = optarg; break;
        case OPT_ISOLATION: o.isolation = optarg; break;
        case OPT_WAIT:
            if (parse_wait(optarg, &wait_seconds) != 0)
                return NVB_EXIT_USAGE;
            break;
        case OPT_ROOTFS: o.rootfs = optarg; break;
        case OPT_DRY_RUN: o.dry_run = true; break;
        case OPT_ENV:
            if (!strchr(optarg, '=') || optarg[0] == '=')
                return nvb_cli_usage("run", "--env %s: expected KEY=VALUE", optarg);
            if (nvb_strv_push(&env, optarg) < 0)
                return NVB_EXIT_IO;
            o.env = &env;
            break;
        case 'h': fputs(run_usage, stdout); return 0;
        case ':': return nvb_cli_usage("run", "%s needs a value (see nvbind run --help)", argv[optind - 1]);
        default: return nvb_cli_usage("run", "unknown option '%s' (see nvbind run --help)", argv[optind - 1]);
        }
    }
    o.args = argv + optind;
    o.n_args = (size_t)(argc - optind);

    nvb_err err = {0};
    nvb_config cfg;
    nvb_config_init(&cfg);
    if (nvb_config_load(&cfg, cli->config_path, &err) < 0) {
        nvb_config_clear(&cfg);
        return nvb_cli_fail(&err);
    }
    /* GPU claims and the audit log (docs/isolation.md); a dry run takes none. */
    nvb_run_isolation iso = {.cfg = &cfg, .wait_seconds = wait_seconds};
    nvb_run_isolation_attach(&iso, &o);
    int status = nvb_run(&cfg, &o, &err);
    nvb_run_isolation_clear(&iso);
    nvb_config_clear(&cfg);
    if (status < 0) {
        if (err.exit_code == NVB_EXIT_USAGE)
            return nvb_cli_usage("run", "%s", err.msg);
        return nvb_cli_fail(&err);
    }
    return status;
}
