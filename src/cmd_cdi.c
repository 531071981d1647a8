/* nvbind cdi generate | list | validate | check */
#include "cli.h"
#include "host/host_cache.h"
#include "cdi/cdi.h"
#include "policy/cdi_check.h"
#include "policy/cdi_generate.h"
#include "policy/profiles.h"
#include "policy/vendor_spec.h"
#include "runtime/spec_install.h"
#include "config/config.h"
#include "util/cleanup.h"
#include "util/fileio.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Where and how to write: stdout, a file, or the conventional name inside a folder. A
 * name ending in '/' is a folder also when it does not exist yet: *make_dir says so, and
 * the folder is made only when there is a spec to put in it. */
static int resolve_output(const char *output, const char *format, const char *kind, bool *yaml, char **path,
                          bool *make_dir, nvb_err *err)
{
    *path = NULL;
    *make_dir = false;
    if (format && strcmp(format, "json") != 0 && strcmp(format, "yaml") != 0)
        return nvb_errf(err, NVB_EXIT_USAGE, "cdi generate: --format '%s': expected json or yaml", format);
    *yaml = format && strcmp(format, "yaml") == 0;
    if (!output || strcmp(output, "-") == 0)
        return 0;
    struct stat st;
    bool is_dir = stat(output, &st) == 0 && S_ISDIR(st.st_mode);
    if (!is_dir && nvb_endswith(output, "/"))
        is_dir = *make_dir = true;
    if (is_dir) {
        _cleanup_free_ char *name = nvb_cdi_spec_file_name(kind, *yaml);
        *path = name ? nvb_path_join(output, name) : NULL;
        return *path ? 0 : nvb_errf(err, NVB_EXIT_IO, "out of memory");
    }
    if (!format)
        *yaml = nvb_endswith(output, ".yaml") || nvb_endswith(output, ".yml");
    *path = strdup(output);
    return *path ? 0 : nvb_errf(err, NVB_EXIT_IO, "out of memory");
}

/* Discover the host the command line names, [host] in the configuration filling what it
 * left unset. */
static nvb_host *discover_with_config(const nvb_cli *cli, const nvb_config *cfg, nvb_err *err)
{
    nvb_strv libs = {0};
    nvb_discover_opts o = {0};
    nvb_host *h = NULL;
    if (nvb_cli_discover_opts(cli, cfg, &libs, &o) < 0) {
        nvb_errf(err, NVB_EXIT_IO, "out of memory");
    } else {
        o.skip_pci_details = true; /* a spec holds no PCI ids or NUMA node */
        o.nvml_for_mig = true;     /* MIG devices, when /proc shows some */
        o.every_vendor = true;  /* every vendor: --kind amd.com/gpu on a host without NVIDIA's driver */
        h = nvb_host_discover_cached(&o, err);
    }
    nvb_strv_free(&libs);
    return h;
}

static int cdi_generate(nvb_cli *cli, int argc, char **argv)
{
    /* Unset options fall back to nvbind.toml ([cdi], [host]), then to the built-in defaults. */
    const char *kind = "nvidia.com/gpu", *strategies = NULL, *hook_path = NULL, *format = NULL, *output = NULL,
               *profile = NULL;
    int c;
    nvb_cli_parser p;
    nvb_cli_parser_for(&p, cli);
    while ((c = nvb_cli_next(&p, argc, argv)) >= 0) {
        switch (c) {
        case 'k': kind = optarg; break;
        case 's': strategies = optarg; break;
        case 'H': hook_path = optarg; break;
        case 'f': format = optarg; break;
        case 'o': output = optarg; break;
        case 'p': profile = optarg; break;
        }
    }
    if (nvb_cli_stops(&p, c, argc, argv, 0))
        return p.rc;
    if (hook_path && hook_path[0] != '/')
        return nvb_cli_usage("cdi generate", "--hook-path '%s' must be an absolute path", hook_path);
    nvb_err err = {0};
    char why[256];
    if (!nvb_cdi_kind_valid(kind, why, sizeof why))
        return nvb_cli_usage("cdi generate", "--kind '%s': %s", kind, why);
    nvb_cdi_gen_opts go = {.kind = kind};
    if (strategies && nvb_naming_parse(strategies, &go.naming, &err) < 0)
        return nvb_cli_fail(&err);
    bool yaml = false, make_dir = false;
    _cleanup_free_ char *path = NULL;
    if (resolve_output(output, format, kind, &yaml, &path, &make_dir, &err) < 0)
        return nvb_cli_fail(&err);

    nvb_config cfg = {0};
    nvb_edits extra = {0};
    nvb_host *h = NULL;
    json_t *spec = NULL;
    _cleanup_free_ char *text = NULL;
    const char *workload = NULL;
    if (nvb_cli_load_config(cli, &cfg, &err) < 0)
        goto out;
    if (!strategies)
        go.naming = cfg.cdi.naming;
    go.hook_path = hook_path ? hook_path : cfg.cdi.hook_path ? cfg.cdi.hook_path : cli->self_exe;
    if (!(h = discover_with_config(cli, &cfg, &err)))
        goto out;
    for (size_t i = 0; i < h->warnings.n; i++) /* e.g. no driver library: the spec would lack them */
        fprintf(stderr, "nvbind: warning: %s\n", h->warnings.v[i]);
    if (nvb_vendor_kind_present(h, kind)) { /* every vendor: device nodes only */
        if (profile)
            fprintf(stderr, "nvbind: note: profile '%s' sets NVIDIA driver capabilities and variables: the %s spec "
                            "carries the GPUs' device nodes only\n", profile, kind);
    } else if (nvb_profile_resolve(&cfg, h, profile, &go.caps, &extra, &workload, &err) < 0) {
        goto out;
    }
    if (strcmp(kind, "nvidia.com/gpu-bolt") == 0 && nvb_bolt_capsule_edits(&cfg, workload, &extra) < 0) {
        nvb_errf(&err, NVB_EXIT_IO, "out of memory");
        goto out;
    }
    go.extra = &extra;
    /* JSON is written straight from the host model; YAML goes through the spec tree. */
    if (yaml)
        spec = nvb_cdi_generate(h, &go, &err);
    else
        text = nvb_cdi_generate_json(h, &go, NULL, &err);
out:
    nvb_host_free(h);
    nvb_edits_clear(&extra);
    nvb_config_clear(&cfg);
    if (!spec && !text)
        return nvb_cli_fail(&err);
    if (spec) {
        text = nvb_cdi_to_yaml(spec, &err);
        json_decref(spec);
        if (!text)
            return nvb_cli_fail(err.msg[0] ? &err : &(nvb_err){NVB_EXIT_IO, 0, "out of memory"});
    }
    if (!path) /* one write(2) of the whole document, without a copy in stdio's buffer */
        return fflush(stdout) == 0 && nvb_write_all(STDOUT_FILENO, text, strlen(text)) == 0 ? 0 : NVB_EXIT_IO;
    if ((make_dir && nvb_spec_dir_make(output, &err) < 0) || nvb_write_file_atomic(path, text, strlen(text), 0644, &err) < 0)
        return nvb_cli_fail(&err);
    return 0;
}

static int cdi_validate(nvb_cli *cli, int argc, char **argv)
{
    bool json = false;
    nvb_cli_parser p;
    if (nvb_cli_parse_json(&p, cli, argc, argv, -1, &json))
        return p.rc;
    if (argc - optind != 1)
        return nvb_cli_usage("cdi validate", "usage: nvbind cdi validate [--json] FILE");
    const char *file = argv[optind];
    nvb_err err = {0};
    json_t *spec = nvb_cdi_load_input(file, &err);
    if (!spec) {
        fprintf(stderr, "nvbind: %s\n", err.msg);
        return err.exit_code == NVB_EXIT_IO ? NVB_EXIT_IO : NVB_EXIT_FAIL;
    }
    nvb_strv problems = {0};
    int n = nvb_cdi_validate(spec, &problems);
    json_decref(spec);
    int rc = n == 0 ? 0 : NVB_EXIT_FAIL;
    if (json) {
        /* {"file": FILE, "valid": BOOL, "problems": [TEXT...]} */
        json_t *probs = json_array();
        for (size_t i = 0; i < problems.n; i++)
            json_array_append_new(probs, json_string(problems.v[i]));
        json_t *o = json_pack("{s:s, s:b, s:o}", "file", file, "valid", n == 0, "problems", probs);
        int w = o ? nvb_cli_print_json(o) : NVB_EXIT_IO;
        json_decref(o);
        if (w)
            rc = w;
    } else {
        for (size_t i = 0; i < problems.n; i++)
            fprintf(stderr, "%s: %s\n", file, problems.v[i]);
        if (n == 0)
            printf("%s: valid\n", file);
    }
    nvb_strv_free(&problems);
    return rc;
}

static int cdi_list(nvb_cli *cli, int argc, char **argv)
{
    nvb_strv dirs = {0};
    bool json = false;
    int c;
    nvb_cli_parser p;
    nvb_cli_parser_for(&p, cli);
    while ((c = nvb_cli_next(&p, argc, argv)) >= 0) {
        if (c == 'd')
            nvb_strv_push(&dirs, optarg);
        else if (c == 'j')
            json = true;
    }
    if (nvb_cli_stops(&p, c, argc, argv, 0)) {
        nvb_strv_free(&dirs);
        return p.rc;
    }
    nvb_cdi_listing l = {0};
    nvb_err err = {0};
    int r = nvb_cdi_list((const char *const *)dirs.v, dirs.n, &l, &err);
    nvb_strv_free(&dirs);
    if (r < 0)
        return nvb_cli_fail(&err);
    json_t *arr = json_array();
    for (size_t i = 0; i < l.n; i++) {
        const nvb_cdi_spec_file *f = &l.files[i];
        if (json) {
            json_t *devs = json_array(), *probs = json_array(), *confl = json_array();
            for (size_t k = 0; k < f->devices.n; k++)
                json_array_append_new(devs, json_string(f->devices.v[k]));
            for (size_t k = 0; k < f->problems.n; k++)
                json_array_append_new(probs, json_string(f->problems.v[k]));
            for (size_t k = 0; k < f->conflicts.n; k++)
                json_array_append_new(confl, json_string(f->conflicts.v[k]));
            json_array_append_new(arr, json_pack("{s:s, s:o, s:o, s:b, s:b, s:o, s:o, s:o}", "path", f->path, "kind",
                                                 f->kind ? json_string(f->kind) : json_null(), "cdiVersion",
                                                 f->cdi_version ? json_string(f->cdi_version) : json_null(), "valid",
                                                 f->valid, "ignored_by_engines", f->ignored_by_engines, "devices", devs,
                                                 "problems", probs, "conflicts", confl));
            continue;
        }
        printf("%s  (%s, cdiVersion %s)%s%s\n", f->path, f->kind ? f->kind : "?", f->cdi_version ? f->cdi_version : "?",
               f->valid ? "" : "  INVALID", f->ignored_by_engines ? "  IGNORED by engines (they read only .json and .yaml)" : "");
        for (size_t k = 0; k < f->devices.n; k++)
            printf("  %s\n", f->devices.v[k]);
        for (size_t k = 0; k < f->problems.n; k++)
            printf("  problem: %s\n", f->problems.v[k]);
        for (size_t k = 0; k < f->conflicts.n; k++)
            printf("  conflict: %s\n", f->conflicts.v[k]);
    }
    for (size_t i = 0; i < l.dir_errors.n; i++)
        fprintf(stderr, "nvbind: %s\n", l.dir_errors.v[i]);
    int rc = json ? nvb_cli_print_json(arr) : fflush(stdout) ? NVB_EXIT_IO : 0;
    /* A folder that is missing holds no specs (engines skip it too); one that exists but
     * cannot be read is a read failure, reported above and in the status. */
    if (rc == 0 && l.dir_errors.n)
        rc = NVB_EXIT_IO;
    json_decref(arr);
    nvb_cdi_listing_free(&l);
    return rc;
}

/* The specs nvbind installed: nvbind-generated files in the engines' spec folders. */
static int installed_specs(nvb_strv *out)
{
    nvb_cdi_listing l = {0};
    nvb_err err = {0};
    if (nvb_cdi_list(NULL, 0, &l, &err) < 0)
        return -1;
    for (size_t i = 0; i < l.n; i++) {
        json_t *spec = nvb_cdi_load_file(l.files[i].path, &err);
        if (spec && nvb_cdi_is_nvbind_spec(spec))
            nvb_strv_push(out, l.files[i].path);
        json_decref(spec);
    }
    nvb_cdi_listing_free(&l);
    return 0;
}

/* One checked file: a line per reason on stdout, or an object of check --json:
 * {"file": PATH, "fresh": BOOL, "stale": [REASON...], "error": MESSAGE or null}. */
static void check_report(json_t *arr, const char *file, const nvb_strv *reasons, const char *error)
{
    if (!arr) {
        if (error)
            fprintf(stderr, "nvbind: %s\n", error);
        else if (!reasons->n)
            printf("%s: fresh\n", file);
        for (size_t k = 0; reasons && k < reasons->n; k++)
            printf("%s: stale: %s\n", file, reasons->v[k]);
        return;
    }
    json_t *why = json_array();
    for (size_t k = 0; reasons && k < reasons->n; k++)
        json_array_append_new(why, json_string(reasons->v[k]));
    json_array_append_new(arr, json_pack("{s:s, s:b, s:o, s:o}", "file", file, "fresh", !error && !reasons->n, "stale",
                                         why, "error", error ? json_string(error) : json_null()));
}

static int cdi_check(nvb_cli *cli, int argc, char **argv)
{
    bool json = false;
    nvb_cli_parser p;
    if (nvb_cli_parse_json(&p, cli, argc, argv, -1, &json))
        return p.rc;
    if (argc - optind > 1)
        return nvb_cli_usage("cdi check", "usage: nvbind cdi check [--json] [FILE]");
    nvb_strv files = {0};
    if (optind < argc)
        nvb_strv_push(&files, argv[optind]);
    else
        installed_specs(&files);
    if (!files.n) {
        fprintf(stderr, "nvbind: cdi check: no nvbind spec in /etc/cdi or /var/run/cdi (generate one with "
                        "`nvbind cdi generate --output /etc/cdi`)\n");
        return NVB_EXIT_FAIL;
    }
    nvb_err err = {0};
    nvb_config cfg = {0};
    if (nvb_cli_load_config(cli, &cfg, &err) < 0) {
        nvb_config_clear(&cfg);
        nvb_strv_free(&files);
        return nvb_cli_fail(&err);
    }
    nvb_host *h = discover_with_config(cli, &cfg, &err);
    nvb_config_clear(&cfg);
    for (size_t i = 0; h && i < h->warnings.n; i++)
        fprintf(stderr, "nvbind: warning: %s\n", h->warnings.v[i]);
    json_t *arr = json ? json_array() : NULL;
    int rc = 0;
    for (size_t i = 0; i < files.n; i++) {
        nvb_strv reasons = {0};
        json_t *spec = nvb_cdi_load_file(files.v[i], &err);
        if (!spec) {
            /* Not "stale" (1): a spec that cannot be read (6) or parsed (9) says nothing
             * about the host; these statuses win over a stale one. */
            check_report(arr, files.v[i], &reasons, err.msg);
            if (rc == 0 || rc == NVB_EXIT_FAIL)
                rc = err.exit_code == NVB_EXIT_IO ? NVB_EXIT_IO : NVB_EXIT_INPUT;
            continue;
        }
        if (!h)
            nvb_strv_pushf(&reasons, "%s", err.msg);
        else
            nvb_cdi_stale_reasons(spec, h, &reasons);
        json_decref(spec);
        check_report(arr, files.v[i], &reasons, NULL);
        if (reasons.n && rc == 0)
            rc = NVB_EXIT_FAIL;
        nvb_strv_free(&reasons);
    }
    if (arr) {
        int w = nvb_cli_print_json(arr);
        json_decref(arr);
        if (w && !rc)
            rc = w;
    }
    nvb_host_free(h);
    nvb_strv_free(&files);
    return rc;
}

static const nvb_cli_opt generate_opts[] = {
    {"kind", 'k', 'k', "VENDOR/CLASS", 0, "the spec's kind (default nvidia.com/gpu; nvidia.com/gpu-bolt for Bolt)", 0,
     NULL},
    {"device-name-strategy", 's', 's', "LIST", 0, "device names: comma-separated index, uuid, type-index",
     NVB_COMPLETE_WORDS, "index uuid type-index index,uuid index,uuid,type-index"},
    {"profile", 'p', 'p', "NAME", 0, "default, gaming, aiml or a [profiles.NAME] of the configuration",
     NVB_COMPLETE_WORDS, "default gaming aiml"},
    {"hook-path", 'H', 'H', "PATH", 0, "the nvbind the spec's hooks run (absolute; default: this one)",
     NVB_COMPLETE_FILE, NULL},
    {"format", 'f', 'f', "FORMAT", 0, "json or yaml (default: from the output name, else json)", NVB_COMPLETE_WORDS,
     "json yaml"},
    {"output", 'o', 'o', "FILE|DIR|-", 0, "where to write (a folder gets the conventional name; default -, stdout)",
     NVB_COMPLETE_FILE, NULL},
    {0},
};
static const nvb_cli_cmd generate_cmd = {
    .name = "generate",
    .summary = "write a CDI spec of this host's GPUs and driver files",
    .opts = generate_opts,
    .fn = cdi_generate,
};
static const nvb_cli_opt list_opts[] = {
    {"spec-dir", 'd', 'd', "DIR", NVB_OPT_REPEAT, "a spec folder (default /etc/cdi and /var/run/cdi)", NVB_COMPLETE_DIR,
     NULL},
    {"json", 'j', 'j', NULL, 0, "a JSON array, one object per spec file", 0, NULL},
    {0},
};
static const nvb_cli_cmd list_cmd = {
    .name = "list",
    .summary = "the CDI specs engines see, their devices, problems and conflicts",
    .opts = list_opts,
    .fn = cdi_list,
};
static const nvb_cli_opt validate_opts[] = {
    {"json", 'j', 'j', NULL, 0, "one JSON object: file, valid, problems[]", 0, NULL},
    {0},
};
static const nvb_cli_cmd validate_cmd = {
    .name = "validate",
    .operands = "FILE",
    .summary = "check a spec file (- for stdin) against the CDI format",
    .opts = validate_opts,
    .fn = cdi_validate,
};
static const nvb_cli_opt check_opts[] = {
    {"json", 'j', 'j', NULL, 0, "a JSON array: file, fresh, stale[], error", 0, NULL},
    {0},
};
static const nvb_cli_cmd check_cmd = {
    .name = "check",
    .operands = "[FILE]",
    .summary = "is a spec nvbind wrote (default: the installed ones) still true of this host (exit 1 stale)",
    .opts = check_opts,
    .fn = cdi_check,
};
const nvb_cli_cmd nvb_cmd_cdi = {
    .name = "cdi",
    .summary = "CDI specs: generate, list, validate, check",
    .subs = (const nvb_cli_cmd *const[]){&generate_cmd, &list_cmd, &validate_cmd, &check_cmd, NULL},
};
