/* nvbind-device-plugin: the server behind `nvbind device-plugin` (lib/k8s/plugin.c). It is an
 * executable of its own so that only it carries gRPC (linked in, or with -Dstatic_deps=false its
 * ~50 shared libraries): every other nvbind command, the OCI hooks above all, starts as fast as
 * without it. nvbind runs it as
 *   nvbind-device-plugin [--root DIR] [--driver-root DIR] [--library-search-path DIR]...
 *                        [--config FILE] --hook-path NVBIND device-plugin [OPTIONS]
 * with the global options it parsed (src/cmd_helpers.c). */
#include "cli.h"
#include "cli_helper_opts.h"
#include "cli_opts.h"
#include "config/config.h"
#include "dp_usage.h"
#include "util/cleanup.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8s/plugin.h"

static int parse_uint(const char *opt, const char *v, unsigned lo, unsigned hi, unsigned *out)
{
    char *end = NULL;
    unsigned long n = strtoul(v, &end, 10);
    if (v[0] < '0' || v[0] > '9' || *end || n < lo || n > hi)
        return nvb_cli_usage("device-plugin", "%s %s: expected a number from %u to %u", opt, v, lo, hi);
    *out = (unsigned)n;
    return 0;
}

static int parse_choice(const char *opt, const char *v, const char *const *names, const char *all, unsigned *out)
{
    for (unsigned i = 0; names[i]; i++)
        if (strcmp(v, names[i]) == 0) {
            *out = i;
            return 0;
        }
    return nvb_cli_usage("device-plugin", "%s %s: not one of %s", opt, v, all);
}

/* --help: the usage text nvbind also shows (dp_usage.h); this executable has no command table. */
static void print_usage(FILE *f, const nvb_cli_cmd *cmd, const char *path)
{
    (void)cmd;
    (void)path;
    fputs(nvb_dp_usage, f);
}

/* 0, -1 after --help, or an exit status after one line on stderr. */
static int parse_args(int argc, char **argv, nvb_dp_opts *o, nvb_strv *only)
{
    static const nvb_cli_cmd cmd = {.name = "device-plugin", .opts = nvb_device_plugin_opts};
    static const char *const strategies[] = {"cdi", "envvar", "both", NULL};
    static const char *const migs[] = {"none", "single", "mixed", NULL};
    static const unsigned strategy_bits[] = {NVB_DP_STRATEGY_CDI, NVB_DP_STRATEGY_ENVVAR,
                                             NVB_DP_STRATEGY_CDI | NVB_DP_STRATEGY_ENVVAR};
    unsigned v = 0;
    int c;
    nvb_cli_parser p;
    nvb_cli_parser_init(&p, &cmd, "device-plugin", print_usage);
    while ((c = nvb_cli_next(&p, argc, argv)) >= 0) {
        switch (c) {
        case NVB_DP_KUBELET_DIR:
        case NVB_DP_CDI_DIR:
            if (optarg[0] != '/')
                return nvb_cli_usage("device-plugin", "%s %s: must be an absolute path",
                                     c == NVB_DP_KUBELET_DIR ? "--kubelet-dir" : "--cdi-dir", optarg);
            *(c == NVB_DP_KUBELET_DIR ? &o->kubelet_dir : &o->cdi_dir) = optarg;
            break;
        case NVB_DP_RESOURCE:
            if (!nvb_dp_resource_name_valid(optarg))
                return nvb_cli_usage("device-plugin", "--resource %s: not a resource name like nvidia.com/gpu", optarg);
            if (nvb_strv_push(only, optarg) < 0)
                return NVB_EXIT_IO;
            break;
        case NVB_DP_STRATEGY:
            if (parse_choice("--strategy", optarg, strategies, "cdi, envvar, both", &v))
                return NVB_EXIT_USAGE;
            o->strategy = strategy_bits[v];
            break;
        case NVB_DP_MIG_STRATEGY:
            if (parse_choice("--mig-strategy", optarg, migs, "none, single, mixed", &v))
                return NVB_EXIT_USAGE;
            o->inv.mig = (enum nvb_dp_mig_strategy)v;
            break;
        case NVB_DP_REPLICAS:
            if (parse_uint("--replicas", optarg, 1, 64, &o->inv.replicas))
                return NVB_EXIT_USAGE;
            break;
        case NVB_DP_POLL_MS:
            if (parse_uint("--poll-ms", optarg, 50, 600000, &o->poll_ms))
                return NVB_EXIT_USAGE;
            break;
        }
    }
    if (nvb_cli_stops(&p, c, argc, argv, 0))
        return c == NVB_OPT_STOP && p.rc == 0 ? -1 : p.rc;
    return 0;
}

/* The plugin runs until SIGTERM/SIGINT; blocked here, before gRPC starts its threads, so
 * every thread leaves them to the plugin's signalfd. */
static void block_stop_signals(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigprocmask(SIG_BLOCK, &set, NULL);
}

static int serve(nvb_cli *cli, int argc, char **argv)
{
    nvb_dp_opts o = {.strategy = NVB_DP_STRATEGY_CDI, .hook_path = cli->self_exe};
    _cleanup_(nvb_strv_free) nvb_strv only = {0};
    _cleanup_(nvb_strv_free) nvb_strv libs = {0};
    int rc = parse_args(argc, argv, &o, &only);
    if (rc)
        return rc < 0 ? 0 : rc;
    if (only.n) {
        if (nvb_strv_push(&only, "") < 0)
            return NVB_EXIT_IO;
        free(only.v[--only.n]); /* room for the NULL terminator */
        only.v[only.n] = NULL;
        o.inv.only = (const char *const *)only.v;
    }
    nvb_err err = {0};
    nvb_config cfg = {0};
    if (nvb_cli_load_config(cli, &cfg, &err) < 0) {
        nvb_config_clear(&cfg);
        return nvb_cli_fail(&err);
    }
    if (nvb_cli_discover_opts(cli, &cfg, &libs, &o.discover) < 0) {
        nvb_config_clear(&cfg);
        return NVB_EXIT_IO;
    }
    /* MIG devices' UUIDs and profiles come from NVML alone. */
    o.discover.nvml_for_mig = o.inv.mig != NVB_DP_MIG_NONE;
    /* Every vendor: amd.com/gpu, intel.com/gpu... are resources of their own (resources.c). */
    o.discover.every_vendor = true;
    if (!o.cdi_dir)
        o.cdi_dir = cfg.cdi.output_dir;
    o.claims_dir = cfg.isolation.state_dir;
    block_stop_signals();
    rc = nvb_device_plugin_run(&o, &err) < 0 ? nvb_cli_fail(&err) : 0;
    nvb_config_clear(&cfg);
    return rc;
}

/* The global options nvbind passes on, up to the word "device-plugin". */
int main(int argc, char **argv)
{
    nvb_cli cli = {.root = "/"};
    enum { OPT_HOOK = NVB_OPT_HELPER_NEXT };
    static const struct option opts[] = {NVB_CLI_HELPER_OPTIONS, {"hook-path", required_argument, NULL, OPT_HOOK}, {0}};
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:", opts, NULL)) != -1) {
        int known = nvb_cli_helper_option(&cli, c, optarg);
        if (known < 0)
            return NVB_EXIT_IO;
        if (known)
            continue;
        if (c != OPT_HOOK)
            return nvb_cli_bad_option("device-plugin", c, argv);
        snprintf(cli.self_exe, sizeof cli.self_exe, "%s", optarg);
    }
    if (optind >= argc || strcmp(argv[optind], "device-plugin") != 0 || cli.self_exe[0] != '/') {
        fputs("nvbind-device-plugin: run it as `nvbind device-plugin` (see nvbind device-plugin --help)\n", stderr);
        return NVB_EXIT_USAGE;
    }
    int rc = nvb_cli_absolute_root(&cli, "--root");
    if (rc)
        return rc;
    char **sub_argv = argv + optind;
    int sub_argc = argc - optind;
    optind = 1;
    rc = serve(&cli, sub_argc, sub_argv);
    nvb_strv_free(&cli.library_search);
    return rc;
}
