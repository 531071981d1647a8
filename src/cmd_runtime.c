/* nvbind runtime configure: register nvbind-runtime with docker, containerd, CRI-O or podman
 * (lib/runtime/configure.h). */
#include "cli.h"
#include "cli_opts.h"
#include "runtime/configure.h"

#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>

static const char runtime_usage[] =
    "usage: nvbind runtime configure --runtime docker|containerd|crio|podman [OPTIONS]\n"
    "  --config FILE         the file to edit (default: the engine's, see nvbind(1))\n"
    "  --runtime-path PATH   nvbind-runtime to register (default: the one next to nvbind)\n"
    "  --runtime-name NAME   the name the engine knows it by (default: nvbind)\n"
    "  --set-as-default      make it the engine's default runtime\n"
    "  --enable-cdi          turn the engine's CDI support on\n"
    "  --dry-run             print the new file, write nothing";

/* Names an engine may know the runtime by: letters, digits, '-', '_', '.'. */
static bool good_name(const char *s)
{
    if (!*s || strlen(s) > 64)
        return false;
    return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") == strlen(s);
}

static int configure(nvb_cli *cli, int argc, char **argv)
{
    enum { OPT_CONFIG = 256, OPT_PATH, OPT_NAME, OPT_DEFAULT, OPT_CDI, OPT_DRY };
    static const struct option opts[] = {
        {"runtime", required_argument, NULL, 'r'},   {"config", required_argument, NULL, OPT_CONFIG},
        {"runtime-path", required_argument, NULL, OPT_PATH}, {"runtime-name", required_argument, NULL, OPT_NAME},
        {"set-as-default", no_argument, NULL, OPT_DEFAULT},  {"enable-cdi", no_argument, NULL, OPT_CDI},
        {"dry-run", no_argument, NULL, OPT_DRY},     {"help", no_argument, NULL, 'h'},
        {0}};
    nvb_configure_opts o = {.engine = (nvb_conf_engine)-1};
    const char *engine = NULL;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:r:h", opts, NULL)) != -1) {
        switch (c) {
        case 'r': engine = optarg; break;
        case OPT_CONFIG: o.path = optarg; break;
        case OPT_PATH: o.runtime_path = optarg; break;
        case OPT_NAME: o.runtime_name = optarg; break;
        case OPT_DEFAULT: o.set_as_default = true; break;
        case OPT_CDI: o.enable_cdi = true; break;
        case OPT_DRY: o.dry_run = true; break;
        case 'h': puts(runtime_usage); return 0;
        default: return nvb_cli_bad_option("runtime configure", c, argv);
        }
    }
    if (optind < argc)
        return nvb_cli_usage("runtime configure", "unexpected argument '%s'", argv[optind]);
    if (!engine)
        return nvb_cli_usage("runtime configure", "--runtime docker|containerd|crio|podman is required");
    int e = nvb_conf_engine_parse(engine);
    if (e < 0)
        return nvb_cli_usage("runtime configure", "--runtime %s: not one of docker, containerd, crio, podman", engine);
    o.engine = (nvb_conf_engine)e;
    if (o.path && !*o.path)
        return nvb_cli_usage("runtime configure", "--config needs a file name");
    if (o.runtime_name && !good_name(o.runtime_name))
        return nvb_cli_usage("runtime configure", "--runtime-name %s: use letters, digits, '-', '_' and '.'",
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
    return fflush(stdout) == 0 ? 0 : NVB_EXIT_IO;
}

int cmd_runtime(nvb_cli *cli, int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        if (argc < 2) {
            fprintf(stderr, "%s\n", runtime_usage);
            return NVB_EXIT_USAGE;
        }
        puts(runtime_usage);
        return 0;
    }
    if (strcmp(argv[1], "configure") == 0) {
        optind = 1;
        return configure(cli, argc - 1, argv + 1);
    }
    return nvb_cli_usage("runtime", "unknown subcommand '%s' (see nvbind runtime --help)", argv[1]);
}
