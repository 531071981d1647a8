#include "cli.h"
#include "host/host_cache.h"
#include "policy/profiles.h"
#include "util/json_text.h"

#include <errno.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The two ways every command of the three executables (nvbind, nvbind-monitor,
 * nvbind-device-plugin) reports a failure, shared so their messages stay alike. */
int nvb_cli_fail(const nvb_err *err)
{
    fprintf(stderr, "nvbind: %s\n", err->msg);
    return err->exit_code ? err->exit_code : NVB_EXIT_FAIL;
}

int nvb_cli_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "nvbind %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return NVB_EXIT_USAGE;
}

int nvb_cli_load_config(const nvb_cli *cli, nvb_config *cfg, nvb_err *err)
{
    nvb_config_clear(cfg);
    nvb_config_init(cfg);
    return nvb_config_load(cfg, cli->config_path, err);
}

int nvb_cli_discover_opts(const nvb_cli *cli, const nvb_config *cfg, nvb_strv *libs, nvb_discover_opts *o)
{
    *o = (nvb_discover_opts){0};
    return nvb_config_discover_opts(cfg, cli->root, cli->driver_root, &cli->library_search, libs, o);
}

nvb_host *nvb_cli_discover(const nvb_cli *cli, const nvb_config *cfg, bool with_nvml, nvb_err *err)
{
    nvb_strv libs = {0};
    nvb_discover_opts o;
    nvb_host *h = NULL;
    if (nvb_cli_discover_opts(cli, cfg, &libs, &o) < 0) {
        nvb_errf(err, NVB_EXIT_IO, "out of memory");
    } else {
        o.with_nvml = with_nvml;
        h = nvb_host_discover_cached(&o, err);
    }
    nvb_strv_free(&libs);
    return h;
}

char *nvb_cli_helper_path(const nvb_cli *cli, const char *name)
{
    char dir[sizeof cli->self_exe];
    snprintf(dir, sizeof dir, "%s", cli->self_exe);
    return nvb_path_join(dirname(dir), name);
}

int nvb_cli_helper_argv(const nvb_cli *cli, const char *helper, nvb_strv *v)
{
    int r = nvb_strv_push(v, helper) | nvb_strv_push(v, "--root") | nvb_strv_push(v, cli->root);
    if (cli->driver_root)
        r |= nvb_strv_push(v, "--driver-root") | nvb_strv_push(v, cli->driver_root);
    for (size_t i = 0; i < cli->library_search.n; i++)
        r |= nvb_strv_push(v, "--library-search-path") | nvb_strv_push(v, cli->library_search.v[i]);
    if (cli->config_path)
        r |= nvb_strv_push(v, "--config") | nvb_strv_push(v, cli->config_path);
    return r < 0 ? -1 : 0;
}

int nvb_cli_argv_end(nvb_strv *v, int argc, char **argv)
{
    int r = 0;
    for (int i = 0; i < argc; i++)
        r |= nvb_strv_push(v, argv[i]);
    r |= nvb_strv_push(v, ""); /* room for the NULL execv wants */
    if (r < 0)
        return -1;
    free(v->v[--v->n]);
    v->v[v->n] = NULL;
    return 0;
}

int nvb_cli_helper_option(nvb_cli *cli, int c, char *arg)
{
    switch (c) {
    case NVB_OPT_ROOT: cli->root = arg; return 1;
    case NVB_OPT_DRIVER_ROOT: cli->driver_root = arg; return 1;
    case NVB_OPT_LIBPATH: return nvb_strv_push(&cli->library_search, arg) < 0 ? -1 : 1;
    case NVB_OPT_CONFIG: cli->config_path = arg; return 1;
    default: return 0;
    }
}

int nvb_cli_print_json(json_t *v)
{
    /* One buffer, one write: jansson's stream dumper calls stdio per token. */
    char *text = nvb_json_dump_line(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (!text)
        return NVB_EXIT_IO;
    size_t n = strlen(text);
    int r = fwrite(text, 1, n, stdout) == n && fflush(stdout) == 0 ? 0 : NVB_EXIT_IO;
    free(text);
    return r;
}

/* A relative --root or NVBIND_ROOT would be read again later from other folders (the OCI
 * runtime's, a hook's) and land as relative host paths in specs and bundles: anchor it to
 * the current folder once, here. */
int nvb_cli_absolute_root(nvb_cli *cli, const char *by)
{
    if (cli->root[0] == '/')
        return 0;
    char *real = realpath(cli->root, NULL);
    if (!real) {
        fprintf(stderr, "nvbind: %s %s: %s\n", by, cli->root, strerror(errno));
        return NVB_EXIT_USAGE;
    }
    int n = snprintf(cli->root_buf, sizeof cli->root_buf, "%s", real);
    free(real);
    if (n < 0 || (size_t)n >= sizeof cli->root_buf) {
        fprintf(stderr, "nvbind: %s %s: the path is too long\n", by, cli->root);
        return NVB_EXIT_USAGE;
    }
    cli->root = cli->root_buf;
    return 0;
}
