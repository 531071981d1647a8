/* nvbind config init | show | validate: the configuration file (lib/config). */
#include "cli.h"
#include "cli_opts.h"
#include "config/config.h"
#include "config/render.h"
#include "util/cleanup.h"
#include "util/fileio.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char config_usage[] =
    "usage: nvbind config init [--output FILE] [--force]   write a commented default nvbind.toml\n"
    "       nvbind config show [--json]                    the configuration in effect and where each value came from\n"
    "       nvbind config validate [FILE]                  check FILE, or the file the search order finds";

static int write_stdout(const char *text)
{
    return fputs(text, stdout) < 0 || fflush(stdout) ? NVB_EXIT_IO : 0;
}

static int config_init(nvb_cli *cli, int argc, char **argv)
{
    (void)cli;
    static const struct option opts[] = {
        {"output", required_argument, NULL, 'o'}, {"force", no_argument, NULL, 'f'}, {"help", no_argument, NULL, 'h'}, {0}};
    const char *output = NULL;
    bool force = false;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:o:fh", opts, NULL)) != -1) {
        switch (c) {
        case 'o': output = optarg; break;
        case 'f': force = true; break;
        case 'h': puts(config_usage); return 0;
        default: return nvb_cli_bad_option("config init", c, argv);
        }
    }
    if (optind < argc)
        return nvb_cli_usage("config init", "unexpected argument '%s'", argv[optind]);
    _cleanup_free_ char *text = nvb_config_template();
    if (!text)
        return nvb_cli_fail(&(nvb_err){NVB_EXIT_IO, 0, "out of memory"});
    if (!output || strcmp(output, "-") == 0)
        return write_stdout(text);
    struct stat st;
    if (!force && !nvb_path_is_stream(output) && lstat(output, &st) == 0) {
        fprintf(stderr, "nvbind: %s already exists; use --force to replace it\n", output);
        return NVB_EXIT_IO;
    }
    nvb_err err = {0};
    if (nvb_write_file_atomic(output, text, strlen(text), 0644, &err) < 0)
        return nvb_cli_fail(&err);
    return 0;
}

static int config_show(nvb_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {{"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {0}};
    bool json = false;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:jh", opts, NULL)) != -1) {
        switch (c) {
        case 'j': json = true; break;
        case 'h': puts(config_usage); return 0;
        default: return nvb_cli_bad_option("config show", c, argv);
        }
    }
    if (optind < argc)
        return nvb_cli_usage("config show", "unexpected argument '%s'", argv[optind]);
    nvb_config cfg = {0};
    nvb_err err = {0};
    if (nvb_config_load(&cfg, cli->config_path, &err) < 0) {
        nvb_config_clear(&cfg);
        return nvb_cli_fail(&err);
    }
    int rc;
    if (json) {
        json_t *j = nvb_config_to_json(&cfg);
        rc = j ? nvb_cli_print_json(j) : NVB_EXIT_IO;
        json_decref(j);
    } else {
        _cleanup_free_ char *text = nvb_config_render_toml(&cfg);
        rc = text ? write_stdout(text) : NVB_EXIT_IO;
    }
    nvb_config_clear(&cfg);
    return rc;
}

static int config_validate(nvb_cli *cli, int argc, char **argv)
{
    if (argc > 2 || (argc == 2 && argv[1][0] == '-' && argv[1][1]))
        return nvb_cli_usage("config validate", "usage: nvbind config validate [FILE]");
    nvb_err err = {0};
    _cleanup_free_ char *path = NULL;
    nvb_strv searched = {0};
    if (argc == 2) {
        if (!(path = strdup(argv[1])))
            return nvb_cli_fail(&(nvb_err){NVB_EXIT_IO, 0, "out of memory"});
    } else if (nvb_config_find(cli->config_path, &path, &searched, &err) < 0) {
        nvb_strv_free(&searched);
        return nvb_cli_fail(&err);
    }
    if (!path) {
        printf("no configuration file found (looked for");
        for (size_t i = 0; i < searched.n; i++)
            printf("%s %s", i ? "," : "", searched.v[i]);
        printf("); the defaults apply\n");
        nvb_strv_free(&searched);
        return 0;
    }
    nvb_strv_free(&searched);
    nvb_config cfg = {0};
    int r = nvb_config_load_file(&cfg, path, &err);
    nvb_config_clear(&cfg);
    if (r < 0)
        return nvb_cli_fail(&err);
    printf("%s: valid\n", path);
    return 0;
}

int cmd_config(nvb_cli *cli, int argc, char **argv)
{
    static const struct {
        const char *name;
        nvb_cmd_fn fn;
    } subs[] = {{"init", config_init}, {"show", config_show}, {"validate", config_validate}};
    if (argc < 2)
        return nvb_cli_usage("config", "%s", config_usage);
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        puts(config_usage);
        return 0;
    }
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
        if (strcmp(argv[1], subs[i].name) == 0) {
            optind = 1;
            return subs[i].fn(cli, argc - 1, argv + 1);
        }
    return nvb_cli_usage("config", "unknown subcommand '%s' (init, show, validate)", argv[1]);
}
