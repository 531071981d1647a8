/* What every nvbind command receives: the global options, parsed once in main.c. */
#pragma once
#include "util/error.h"
#include "util/strv.h"

typedef struct nvb_cli {
    const char *root;          /* --root / NVBIND_ROOT, default "/" */
    const char *driver_root;   /* --driver-root, a host path inside root; NULL = root */
    nvb_strv library_search;   /* --library-search-path DIR, repeatable */
    const char *config_path;   /* --config FILE, NULL = the search order */
    char self_exe[4096];       /* absolute path of this executable */
} nvb_cli;

typedef int (*nvb_cmd_fn)(nvb_cli *cli, int argc, char **argv);

/* Print "nvbind: <message>" on stderr and return the error's exit status. */
int nvb_cli_fail(const nvb_err *err);
/* Print a usage error ("nvbind <cmd>: <message>") and return NVB_EXIT_USAGE. */
int nvb_cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

int cmd_info(nvb_cli *cli, int argc, char **argv);
int cmd_doctor(nvb_cli *cli, int argc, char **argv);
int cmd_cdi(nvb_cli *cli, int argc, char **argv);
int cmd_hook(nvb_cli *cli, int argc, char **argv);
int cmd_config(nvb_cli *cli, int argc, char **argv);
int cmd_run(nvb_cli *cli, int argc, char **argv);
int cmd_claims(nvb_cli *cli, int argc, char **argv);
int cmd_audit(nvb_cli *cli, int argc, char **argv);
int cmd_runtime(nvb_cli *cli, int argc, char **argv);
int cmd_system(nvb_cli *cli, int argc, char **argv);

#include "host/host.h"
#include <jansson.h>
#include <stdio.h>

/* Discover the host named by the global options. */
nvb_host *nvb_cli_discover(const nvb_cli *cli, bool with_nvml, nvb_err *err);
/* Print a JSON value to stdout, indented, with a trailing newline. */
int nvb_cli_print_json(json_t *v);
