/* nvbind run: one GPU container through podman, docker, bolt, runc or crun (lib/runtime/run.c). */
#include "cli.h"
#include "config/config.h"
#include "runtime/engine_opts.h"
#include "runtime/run.h"
#include "runtime/run_isolation.h"
#include "util/cleanup.h"

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

/* nvbind run's command line: nvbind's own options (the table's run_opts) are recognised
 * first; any other option before IMAGE is the engine's and goes to it with its value, as
 * the canonical token "--NAME" or "--NAME=VALUE" (runtime/engine_opts.h knows which take a
 * value, so "-v /a:/b IMAGE" keeps IMAGE the image). Short options may be bundled ("-it",
 * "-itv/a:/b"); "--" ends the options. An unknown long option passes when written
 * --NAME=VALUE, since nothing else says whether the next word is its value. */
typedef struct run_scan {
    const nvb_cli_cmd *cmd;
    int i;               /* the next argument */
    const char *cluster; /* the rest of a short-option bundle */
    const char *value;   /* the value of the nvbind option returned */
    nvb_strv *engine;    /* the engine's options, collected */
    int rc;              /* after NVB_OPT_STOP */
} run_scan;

static int scan_stop(run_scan *sc, int rc)
{
    sc->rc = rc;
    return NVB_OPT_STOP;
}

enum { BAD_UNKNOWN, BAD_NEEDS_VALUE, BAD_NO_VALUE, BAD_UNKNOWN_LONG };

static int scan_usage(run_scan *sc, int kind, const char *opt)
{
    switch (kind) {
    case BAD_UNKNOWN: fprintf(stderr, "nvbind run: unknown option '%s'", opt); break;
    case BAD_NEEDS_VALUE: fprintf(stderr, "nvbind run: %s needs a value", opt); break;
    case BAD_NO_VALUE: fprintf(stderr, "nvbind run: %s takes no value", opt); break;
    default:
        fprintf(stderr,
                "nvbind run: unknown option '%s' (see nvbind run --help; an engine option nvbind does not know goes as "
                "%s=VALUE)\n",
                opt, opt);
        return scan_stop(sc, NVB_EXIT_USAGE);
    }
    fputs(" (see nvbind run --help)\n", stderr);
    return scan_stop(sc, NVB_EXIT_USAGE);
}

/* The value of an option that takes one: inline, else the next argument. */
static const char *take_value(run_scan *sc, int argc, char **argv, const char *inline_value)
{
    if (inline_value)
        return inline_value;
    return sc->i < argc ? argv[sc->i++] : NULL;
}

static int push_engine(run_scan *sc, const char *name, size_t len, const char *value)
{
    return nvb_strv_pushf(sc->engine, "--%.*s%s%s", (int)len, name, value ? "=" : "", value ? value : "") < 0
               ? scan_stop(sc, NVB_EXIT_IO)
               : 0;
}

static int scan_long(run_scan *sc, int argc, char **argv, const char *arg)
{
    const char *name = arg + 2, *eq = strchr(name, '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    char shown[128];
    snprintf(shown, sizeof shown, "--%.*s", (int)(len < 100 ? len : 100), name);
    if (len == 4 && strncmp(name, "help", 4) == 0) {
        nvb_cli_print_help(stdout, sc->cmd, "run");
        return scan_stop(sc, fflush(stdout) ? NVB_EXIT_IO : 0);
    }
    for (const nvb_cli_opt *o = sc->cmd->opts; o->name; o++) {
        if (strlen(o->name) != len || strncmp(o->name, name, len) != 0)
            continue;
        if (!o->arg && eq)
            return scan_usage(sc, BAD_NO_VALUE, shown);
        sc->value = o->flags & NVB_OPT_OPTIONAL ? (eq ? eq + 1 : NULL) : o->arg ? take_value(sc, argc, argv, eq ? eq + 1 : NULL) : NULL;
        if (o->arg && !(o->flags & NVB_OPT_OPTIONAL) && !sc->value)
            return scan_usage(sc, BAD_NEEDS_VALUE, shown);
        return o->id;
    }
    const nvb_engine_opt *e = nvb_engine_opt_long(name, len);
    if (!e && !eq)
        return scan_usage(sc, BAD_UNKNOWN_LONG, shown);
    const char *value = eq ? eq + 1 : NULL;
    if (e && e->takes_value && !(value = take_value(sc, argc, argv, value)))
        return scan_usage(sc, BAD_NEEDS_VALUE, shown);
    return push_engine(sc, name, len, value);
}

static int scan_short(run_scan *sc, int argc, char **argv)
{
    char c = *sc->cluster++, shown[3] = {'-', c, '\0'};
    const char *rest = *sc->cluster ? sc->cluster : NULL;
    if (c == 'h') {
        nvb_cli_print_help(stdout, sc->cmd, "run");
        return scan_stop(sc, fflush(stdout) ? NVB_EXIT_IO : 0);
    }
    for (const nvb_cli_opt *o = sc->cmd->opts; o->name; o++) {
        if (o->short_name != c)
            continue;
        sc->cluster = NULL;
        sc->value = o->arg ? take_value(sc, argc, argv, rest) : NULL;
        if (o->arg && !sc->value)
            return scan_usage(sc, BAD_NEEDS_VALUE, shown);
        return o->id;
    }
    const nvb_engine_opt *e = nvb_engine_opt_short(c);
    if (!e)
        return scan_usage(sc, BAD_UNKNOWN, shown);
    const char *value = NULL;
    if (e->takes_value) {
        sc->cluster = NULL;
        if (!(value = take_value(sc, argc, argv, rest)))
            return scan_usage(sc, BAD_NEEDS_VALUE, shown);
    }
    return push_engine(sc, e->name, strlen(e->name), value);
}

/* The next nvbind option's id (its value in sc->value), NVB_OPT_END at IMAGE (argv[sc->i]),
 * or NVB_OPT_STOP (sc->rc) after --help or a usage error. Engine options are collected. */
static int scan_next(run_scan *sc, int argc, char **argv)
{
    for (;;) {
        int r;
        if (sc->cluster && *sc->cluster)
            r = scan_short(sc, argc, argv);
        else if (sc->i >= argc || argv[sc->i][0] != '-' || argv[sc->i][1] == '\0')
            return NVB_OPT_END;
        else if (strcmp(argv[sc->i], "--") == 0) {
            sc->i++;
            return NVB_OPT_END;
        } else if (argv[sc->i][1] == '-')
            r = scan_long(sc, argc, argv, argv[sc->i++]);
        else {
            sc->cluster = argv[sc->i++] + 1;
            continue;
        }
        if (r != 0)
            return r;
    }
}

static int cmd_run(nvb_cli *cli, int argc, char **argv)
{
    nvb_run_opts o = {.hook_path = cli->self_exe, .root = cli->root, .driver_root = cli->driver_root,
                      .library_search = &cli->library_search};
    int c, wait_seconds = NVB_CLAIM_NO_WAIT;
    _cleanup_(nvb_strv_free) nvb_strv env = {0}; /* --env entries, freed on every return */
    _cleanup_(nvb_strv_free) nvb_strv engine = {0}; /* the engine's options */
    run_scan sc = {.cmd = cli->cmd, .i = 1, .engine = &engine};
    /* Options stop at IMAGE; what follows is the container's command. */
    while ((c = scan_next(&sc, argc, argv)) >= 0) {
        const char *val = sc.value;
        switch (c) {
        case OPT_RUNTIME: o.runtime = val; break;
        case OPT_GPU: o.gpus = val; break;
        case OPT_PROFILE: o.profile = val; break;
        case OPT_ISOLATION: o.isolation = val; break;
        case OPT_WAIT:
            if (parse_wait(val, &wait_seconds) != 0)
                return NVB_EXIT_USAGE;
            break;
        case OPT_ROOTFS: o.rootfs = val; break;
        case OPT_DRY_RUN: o.dry_run = true; break;
        case OPT_JSON: o.dry_run_json = true; break;
        case 'e':
            if (!strchr(val, '=') || val[0] == '=')
                return nvb_cli_usage("run", "--env %s: expected KEY=VALUE", val);
            if (nvb_strv_push(&env, val) < 0)
                return NVB_EXIT_IO;
            o.env = &env;
            break;
        }
    }
    if (c == NVB_OPT_STOP)
        return sc.rc;
    o.engine_args = &engine;
    if (o.dry_run_json && !o.dry_run)
        return nvb_cli_usage("run", "--json goes with --dry-run (a real run's output is the container's)");
    o.args = argv + sc.i;
    o.n_args = (size_t)(argc - sc.i);

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
     "(0:1, MIG-...) (default: [gpu] default, else all),\n"
     "or other vendors' GPUs by CDI name: amd.com/gpu=0, intel.com/gpu=all, KIND=BUS-ID",
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
    .operands = "[ENGINE OPTIONS] [--] IMAGE [CMD ARGS...]",
    .summary = "run a GPU container through podman, docker, bolt, runc or crun",
    .details = "Engine options: any other option before IMAGE goes to the engine with its value, as with\n"
               "podman and docker: -it, -v HOST:CTR, -p, -u, -w, --name, --shm-size, --ipc, --entrypoint, --rm...\n"
               "(an option nvbind does not know passes as --NAME=VALUE; `--` ends the options). runc and crun\n"
               "take -t, -i, -v, -u UID[:GID], -w, --hostname, --name, --entrypoint, --rm (into config.json).\n"
               "Refused unless [security] allow_run_options names them: --privileged, --cap-add, --device of a\n"
               "GPU, --gpus, --security-opt, --runtime, -v/--mount of /dev's GPU nodes; -d always.\n"
               "\n"
               "With runc or crun, IMAGE is a root filesystem folder. The exit status is the container's.\n"
               "A GPU held exclusively by another container: exit status 8, the holder named.",
    .opts = run_opts,
    .fn = cmd_run,
};
