/* What every nvbind command receives: the global options, parsed once in main.c. */
#pragma once
#include "util/error.h"
#include "util/strv.h"
#include "cli_table.h"

typedef struct nvb_cli {
    const char *root;          /* --root / NVBIND_ROOT, default "/" */
    const char *driver_root;   /* --driver-root, a host path inside root; NULL = root */
    nvb_strv library_search;   /* --library-search-path DIR, repeatable */
    const char *config_path;   /* --config FILE, NULL = the search order */
    char self_exe[4096];       /* absolute path of this executable */
    char root_buf[4096];       /* root made absolute, when it was given relative */
    const nvb_cli_cmd *cmd;    /* the command running now, from the table (cli_table.h) */
    char path[128];            /* its names ("cdi generate"), for messages and --help */
} nvb_cli;

/* -v (info), -vv (debug) and NVBIND_LOG=warn|info|debug (the higher wins): each decision as
 * "nvbind: LEVEL: line" on stderr. 0, or NVB_EXIT_USAGE after one line for a bad NVBIND_LOG. */
int nvb_cli_log_setup(int verbosity);
/* Print "nvbind: <message>" on stderr and return the error's exit status. */
int nvb_cli_fail(const nvb_err *err);
/* Print a usage error ("nvbind <cmd>: <message>") and return NVB_EXIT_USAGE. */
int nvb_cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parse a command's options from its descriptor: nvb_cli_parser_init for cli->cmd, --help
 * printed from the command table. */
static inline void nvb_cli_parser_for(nvb_cli_parser *p, const nvb_cli *cli)
{
    nvb_cli_parser_init(p, cli->cmd, cli->path, nvb_cli_print_help);
}

/* The whole parse of a command whose only option is --json (json NULL: one without options):
 * true when the command stops here with the exit status in p->rc (as nvb_cli_stops, max the
 * operands it takes), else argv[optind..argc) are its operands. */
static inline bool nvb_cli_parse_json(nvb_cli_parser *p, nvb_cli *cli, int argc, char **argv, int max, bool *json)
{
    int c;
    nvb_cli_parser_for(p, cli);
    while ((c = nvb_cli_next(p, argc, argv)) >= 0)
        if (c == 'j' && json)
            *json = true;
    return nvb_cli_stops(p, c, argc, argv, max);
}

#include "config/config.h"
#include "host/host.h"
#include <jansson.h>
#include <stdio.h>

/* The configuration, read the one way every command reads it (--config, NVBIND_CONFIG, the
 * search order, the trust check: nvb_config_load). cfg is cleared first; on failure it holds
 * the defaults and err says why (exit 5). */
int nvb_cli_load_config(const nvb_cli *cli, nvb_config *cfg, nvb_err *err);
/* The discovery options the global options name, cfg's [host] filling what they left unset;
 * libs holds the library folders (free it after use). */
int nvb_cli_discover_opts(const nvb_cli *cli, const nvb_config *cfg, nvb_strv *libs, nvb_discover_opts *o);
/* Discover that host. */
/* Make cli->root absolute (by: the option or variable that gave it, for the message);
 * 0, or an exit status after one line on stderr. */
int nvb_cli_absolute_root(nvb_cli *cli, const char *by);
nvb_host *nvb_cli_discover(const nvb_cli *cli, const nvb_config *cfg, bool with_nvml, nvb_err *err);
/* nvbind's helper executables (nvbind-monitor, nvbind-device-plugin) lie beside it: the path
 * of the one named (malloc'd; NULL when out of memory). */
char *nvb_cli_helper_path(const nvb_cli *cli, const char *name);
/* v = helper --root DIR [--driver-root DIR] [--library-search-path DIR]... [--config FILE]:
 * the global options handed on. 0, or -1 when out of memory. */
int nvb_cli_helper_argv(const nvb_cli *cli, const char *helper, nvb_strv *v);
/* Append argv[0..argc) and the NULL that execv wants. 0, or -1 when out of memory. */
int nvb_cli_argv_end(nvb_strv *v, int argc, char **argv);
/* The helpers' side: getopt_long entries for those global options (values from
 * NVB_OPT_HELPER_FIRST up, below the helper's own), and their handling: 1 when c was one of
 * them (stored in cli), 0 when it was not, -1 when out of memory. */
enum { NVB_OPT_ROOT = 256, NVB_OPT_DRIVER_ROOT, NVB_OPT_LIBPATH, NVB_OPT_CONFIG, NVB_OPT_HELPER_NEXT };
#define NVB_CLI_HELPER_OPTIONS                                        \
    {"root", required_argument, NULL, NVB_OPT_ROOT},                  \
    {"driver-root", required_argument, NULL, NVB_OPT_DRIVER_ROOT},    \
    {"library-search-path", required_argument, NULL, NVB_OPT_LIBPATH}, \
    {"config", required_argument, NULL, NVB_OPT_CONFIG}
int nvb_cli_helper_option(nvb_cli *cli, int c, char *arg);
/* Print a JSON value to stdout, indented, with a trailing newline. */
int nvb_cli_print_json(json_t *v);
