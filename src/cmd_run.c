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

enum { OPT_RUNTIME = 256, OPT_GPU, OPT_PROFILE, OPT_ISOLATION, OPT_WAIT, OPT_ROOTFS, OPT_DRY_RUN, OPT_JSON };

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

static int cmd_run(nvb_cli *cli, int argc, char **argv)
{
    nvb_run_opts o = {.hook_path = cli->self_exe, .root = cli->root, .driver_root = cli->driver_root,
                      .library_search = &cli->library_search};
    int c, wait_seconds = NVB_CLAIM_NO_WAIT;
    _cleanup_(nvb_strv_free) nvb_strv env = {0}; /* --env entries, freed on every return */
    nvb_cli_parser p;
    nvb_cli_parser_for(&p, cli);
    /* Options stop at IMAGE; what follows is the container's command. */
    while ((c = nvb_cli_next(&p, argc, argv)) >= 0) {
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
        case OPT_JSON: o.dry_run_json = true; break;
        case 'e':
            if (!strchr(optarg, '=') || optarg[0] == '=')
                return nvb_cli_usage("run", "--env %s: expected KEY=VALUE", optarg);
            if (nvb_strv_push(&env, optarg) < 0)
                return NVB_EXIT_IO;
            o.env = &env;
            break;
        }
    }
    if (c == NVB_OPT_STOP)
        return p.rc;
    if (o.dry_run_json && !o.dry_run)
        return nvb_cli_usage("run", "--json goes with --dry-run (a real run's output is the container's)");
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

static const nvb_cli_opt run_opts[] = {
    {"runtime", 0, OPT_RUNTIME, "ENGINE", 0, "podman, docker, bolt, runc or crun (default: [runtime] default,\n"
     "else podman, else docker)", NVB_COMPLETE_WORDS, "podman docker bolt runc crun"},
    {"gpu", 0, OPT_GPU, "LIST", 0,
     "all, none, or comma-separated GPU indices, UUIDs (GPU-...) or MIG devices\n"
     "(0:1, MIG-...) (default: [gpu] default, else all)",
     NVB_COMPLETE_WORDS, "all none 0 1 2 3"},
    {"profile", 0, OPT_PROFILE, "NAME", 0, "default, gaming, aiml or a [profiles.NAME] of the configuration",
     NVB_COMPLETE_WORDS, "default gaming aiml"},
    {"isolation", 0, OPT_ISOLATION, "LEVEL", 0, "shared, exclusive or virtual (default: [bolt.capsule] isolation_level)",
     NVB_COMPLETE_WORDS, "shared exclusive virtual"},
    {"wait", 0, OPT_WAIT, "SECONDS", NVB_OPT_OPTIONAL,
     "when a GPU is taken, wait until it is free (at most SECONDS) instead\n"
     "of failing with exit status 8",
     0, NULL},
    {"rootfs", 0, OPT_ROOTFS, "DIR", 0, "runc/crun: the root filesystem; every argument is then the command",
     NVB_COMPLETE_DIR, NULL},
    {"dry-run", 0, OPT_DRY_RUN, NULL, 0, "print the engine command on one line; run and write nothing", 0, NULL},
    {"json", 0, OPT_JSON, NULL, 0, "with --dry-run: one JSON object, the engine and its commands as arrays", 0, NULL},
    {"env", 'e', 'e', "KEY=VALUE", NVB_OPT_REPEAT,
     "a variable of the container; NVIDIA_DRIVER_CAPABILITIES narrows the driver\n"
     "files, NVIDIA_REQUIRE_* is checked against the host (NVIDIA_DISABLE_REQUIRE)",
     0, NULL},
    {0},
};
const nvb_cli_cmd nvb_cmd_run = {
    .name = "run",
    .operands = "[--] IMAGE [CMD ARGS...]",
    .summary = "run a GPU container through podman, docker, bolt, runc or crun",
    .details = "With runc or crun, IMAGE is a root filesystem folder. The exit status is the container's.\n"
               "A GPU held exclusively by another container: exit status 8, the holder named.",
    .opts = run_opts,
    .fn = cmd_run,
};
