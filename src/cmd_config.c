/* nvbind config init | show | validate: the configuration file (lib/config). */
#include "cli.h"
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

static int write_stdout(const char *text)
{
    return fputs(text, stdout) < 0 || fflush(stdout) ? NVB_EXIT_IO : 0;
}

static int config_init(nvb_cli *cli, int argc, char **argv)
{
    const char *output = NULL;
    bool force = false;
    int c;
    nvb_cli_parser p;
    nvb_cli_parser_for(&p, cli);
    while ((c = nvb_cli_next(&p, argc, argv)) >= 0) {
        switch (c) {
        case 'o': output = optarg; break;
        case 'f': force = true; break;
        }
    }
    if (nvb_cli_stops(&p, c, argc, argv, 0))
        return p.rc;
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
    bool json = false;
    nvb_cli_parser p;
    if (nvb_cli_parse_json(&p, cli, argc, argv, 0, &json))
        return p.rc;
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

/* config validate --json: {"file": PATH or null, "valid": BOOL, "error": MESSAGE or null,
 * "searched": [PATH...]} on stdout; the exit status is the same as without --json. */
static int validate_json(const char *path, const nvb_strv *searched, const nvb_err *err, int rc)
{
    json_t *s = json_array();
    for (size_t i = 0; searched && i < searched->n; i++)
        json_array_append_new(s, json_string(searched->v[i]));
    json_t *o = json_pack("{s:o, s:b, s:o, s:o}", "file", path ? json_string(path) : json_null(), "valid", rc == 0,
                          "error", rc ? json_string(err->msg) : json_null(), "searched", s);
    int w = o ? nvb_cli_print_json(o) : NVB_EXIT_IO;
    json_decref(o);
    if (rc)
        fprintf(stderr, "nvbind: %s\n", err->msg);
    return rc ? rc : w;
}

static int config_validate(nvb_cli *cli, int argc, char **argv)
{
    bool json = false;
    nvb_cli_parser p;
    if (nvb_cli_parse_json(&p, cli, argc, argv, 1, &json))
        return p.rc;
    nvb_err err = {0};
    _cleanup_free_ char *path = NULL;
    nvb_strv searched = {0};
    if (optind < argc) {
        if (!(path = strdup(argv[optind])))
            return nvb_cli_fail(&(nvb_err){NVB_EXIT_IO, 0, "out of memory"});
    } else if (nvb_config_find(cli->config_path, &path, &searched, &err) < 0) {
        int rc = json ? validate_json(NULL, &searched, &err, err.exit_code ? err.exit_code : NVB_EXIT_CONFIG)
                      : nvb_cli_fail(&err);
        nvb_strv_free(&searched);
        return rc;
    }
    if (!path) {
        int rc = 0;
        if (json) {
            rc = validate_json(NULL, &searched, &err, 0);
        } else {
            printf("no configuration file found (looked for");
            for (size_t i = 0; i < searched.n; i++)
                printf("%s %s", i ? "," : "", searched.v[i]);
            printf("); the defaults apply\n");
        }
        nvb_strv_free(&searched);
        return rc;
    }
    nvb_strv_free(&searched);
    nvb_config cfg = {0};
    int r = nvb_config_load_file(&cfg, path, &err);
    nvb_config_clear(&cfg);
    if (json)
        return validate_json(path, NULL, &err, r < 0 ? (err.exit_code ? err.exit_code : NVB_EXIT_CONFIG) : 0);
    if (r < 0)
        return nvb_cli_fail(&err);
    printf("%s: valid\n", path);
    return 0;
}

static const nvb_cli_opt init_opts[] = {
    {"output", 'o', 'o', "FILE", 0, "write there (default: stdout)", NVB_COMPLETE_FILE, NULL},
    {"force", 'f', 'f', NULL, 0, "replace an existing FILE", 0, NULL},
    {0},
};
static const nvb_cli_cmd init_cmd = {
    .name = "init",
    .summary = "write a commented default nvbind.toml, every key at its default",
    .opts = init_opts,
    .fn = config_init,
};
static const nvb_cli_opt json_only[] = {
    {"json", 'j', 'j', NULL, 0, "one JSON object", 0, NULL},
    {0},
};
static const nvb_cli_cmd show_cmd = {
    .name = "show",
    .summary = "the configuration in effect and where each value came from",
    .opts = json_only,
    .fn = config_show,
};
static const nvb_cli_cmd validate_cmd = {
    .name = "validate",
    .operands = "[FILE]",
    .summary = "check FILE (- for stdin), or the file the search order finds",
    .opts = json_only,
    .fn = config_validate,
};
const nvb_cli_cmd nvb_cmd_config = {
    .name = "config",
    .summary = "the configuration file: init, show, validate",
    .subs = (const nvb_cli_cmd *const[]){&init_cmd, &show_cmd, &validate_cmd, NULL},
};
