/* nvbind runtime configure: register nvbind-runtime with docker, containerd, CRI-O or podman
 * (lib/runtime/configure.h). */
#include "cli.h"
#include "runtime/configure.h"

#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>

enum { OPT_CONFIG = 256, OPT_PATH, OPT_NAME, OPT_DEFAULT, OPT_CDI, OPT_DRY };

/* Names an engine may know the runtime by: letters, digits, '-', '_', '.', not dots alone
 * (CRI-O's drop-in makes the name a folder, /run/NAME: "." and ".." are /run and /). */
static bool good_name(const char *s)
{
    if (!*s || strlen(s) > 64 || strspn(s, ".") == strlen(s))
        return false;
    return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") == strlen(s);
}

static int configure(nvb_cli *cli, int argc, char **argv)
{
    nvb_configure_opts o = {.engine = (nvb_conf_engine)-1};
    const char *engine = NULL;
    int c;
    nvb_cli_parser p;
    nvb_cli_parser_for(&p, cli);
    while ((c = nvb_cli_next(&p, argc, argv)) >= 0) {
        switch (c) {
        case 'r': engine = optarg; break;
        case OPT_CONFIG: o.path = optarg; break;
        case OPT_PATH: o.runtime_path = optarg; break;
        case OPT_NAME: o.runtime_name = optarg; break;
        case OPT_DEFAULT: o.set_as_default = true; break;
        case OPT_CDI: o.enable_cdi = true; break;
        case OPT_DRY: o.dry_run = true; break;
        }
    }
    if (nvb_cli_stops(&p, c, argc, argv, 0))
        return p.rc;
    if (!engine)
        return nvb_cli_usage("runtime configure", "--runtime docker|containerd|crio|podman is required");
    int e = nvb_conf_engine_parse(engine);
    if (e < 0)
        return nvb_cli_usage("runtime configure", "--runtime %s: not one of docker, containerd, crio, podman", engine);
    o.engine = (nvb_conf_engine)e;
    if (o.path && !*o.path)
        return nvb_cli_usage("runtime configure", "--config needs a file name");
    if (o.runtime_name && !good_name(o.runtime_name))
        return nvb_cli_usage("runtime configure", "--runtime-name %s: use letters, digits, '-', '_' and '.', not dots alone",
                             o.runtime_name);
    char shim[sizeof cli->self_exe + 32];
    if (!o.runtime_path) {
        char dir[sizeof cli->self_exe];
        snprintf(dir, sizeof dir, "%s", cli->self_exe);
        snprintf(shim, sizeof shim, "%s/nvbind-runtime", dirname(dir));
        o.runtime_path = shim;
    }
    /* The engine runs it from its own working folder: only an absolute path means one file. */
    if (o.runtime_path[0] != '/')
        return nvb_cli_usage("runtime configure", "--runtime-path %s: must be an absolute path", o.runtime_path);
    nvb_err err = {0};
    if (nvb_runtime_configure(&o, stdout, &err) < 0)
        return nvb_cli_fail(&err);
    if (fflush(stdout) != 0)
        return NVB_EXIT_IO;
    /* Written as asked, but undone by a file containerd reads after it: a failed check. */
    return nvb_conf_imports_check(&o, stderr) ? NVB_EXIT_FAIL : 0;
}

static const nvb_cli_opt configure_opts[] = {
    {"runtime", 'r', 'r', "ENGINE", NVB_OPT_REQUIRED, "the engine to register with", NVB_COMPLETE_WORDS,
     "docker containerd crio podman"},
    {"config", 0, OPT_CONFIG, "FILE", 0, "the file to edit (default: the engine's, see nvbind(1))", NVB_COMPLETE_FILE,
     NULL},
    {"runtime-path", 0, OPT_PATH, "PATH", 0, "nvbind-runtime to register (default: the one next to nvbind)",
     NVB_COMPLETE_FILE, NULL},
    {"runtime-name", 0, OPT_NAME, "NAME", 0, "the name the engine knows it by (default: nvbind)", 0, NULL},
    {"set-as-default", 0, OPT_DEFAULT, NULL, 0, "make it the engine's default runtime", 0, NULL},
    {"enable-cdi", 0, OPT_CDI, NULL, 0, "turn the engine's CDI support on", 0, NULL},
    {"dry-run", 0, OPT_DRY, NULL, 0, "print the new file, write nothing", 0, NULL},
    {0},
};
static const nvb_cli_cmd configure_cmd = {
    .name = "configure",
    .summary = "register nvbind-runtime with docker, containerd, CRI-O or podman",
    .opts = configure_opts,
    .fn = configure,
};
const nvb_cli_cmd nvb_cmd_runtime = {
    .name = "runtime",
    .summary = "register nvbind-runtime (the OCI runtime shim) with an engine",
    .subs = (const nvb_cli_cmd *const[]){&configure_cmd, NULL},
};
