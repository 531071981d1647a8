/* The command table's root and its walking: finding a command by its path, and the --help
 * text printed from a descriptor (cli_table.h). */
#include "cli.h"

#include <string.h>

#define NVB_COMMAND(name) extern const nvb_cli_cmd nvb_cmd_##name;
#include "cli_commands.def"
#undef NVB_COMMAND

static const nvb_cli_cmd *const commands[] = {
#define NVB_COMMAND(name) &nvb_cmd_##name,
#include "cli_commands.def"
#undef NVB_COMMAND
    NULL,
};

static const nvb_cli_opt global_opts[] = {
    {"root", 0, NVB_GOPT_ROOT, "DIR", 0, "treat DIR as the host's / (env NVBIND_ROOT; default /)", NVB_COMPLETE_DIR, NULL},
    {"driver-root", 0, NVB_GOPT_DRIVER_ROOT, "DIR", 0, "where the driver's user-space files live, a host path inside --root",
     NVB_COMPLETE_DIR, NULL},
    {"library-search-path", 0, NVB_GOPT_LIBPATH, "DIR", NVB_OPT_REPEAT, "extra folder to look for driver libraries in",
     NVB_COMPLETE_DIR, NULL},
    {"config", 0, NVB_GOPT_CONFIG, "FILE", 0,
     "configuration file (default: NVBIND_CONFIG, ~/.config/nvbind/config.toml,\n"
     "/etc/nvbind/config.toml; never ./nvbind.toml)",
     NVB_COMPLETE_FILE, NULL},
    {"verbose", 'v', 'v', NULL, NVB_OPT_REPEAT,
     "print each decision on stderr: -v the claim taken, the spec written,\n"
     "the engine command run; -vv also every file considered or skipped\n"
     "(env NVBIND_LOG=warn|info|debug)",
     NVB_COMPLETE_NONE, NULL},
    {"version", 'V', 'V', NULL, 0, "print the version", NVB_COMPLETE_NONE, NULL},
    {0},
};

const nvb_cli_cmd nvb_cli_root = {
    .name = "nvbind",
    .operands = "COMMAND [ARGS]",
    .summary = "GPU passthrough for Linux containers",
    .details = "Run `nvbind help COMMAND [SUBCOMMAND]` or `nvbind COMMAND --help` for a command's options.\n"
               "Exit status: 0 ok, 1 failed check, 2 usage, 3 no driver, 4 no GPU, 5 configuration,\n"
               "6 file I/O, 7 engine or runtime, 8 GPU busy, 9 bad document (see nvbind(1)).",
    .opts = global_opts,
    .subs = commands,
};

const nvb_cli_cmd *nvb_cli_sub(const nvb_cli_cmd *parent, const char *name)
{
    for (size_t i = 0; parent->subs && parent->subs[i]; i++)
        if (strcmp(parent->subs[i]->name, name) == 0)
            return parent->subs[i];
    return NULL;
}

const nvb_cli_cmd *nvb_cli_find(const char *const *names, int n, int *bad)
{
    const nvb_cli_cmd *c = &nvb_cli_root;
    for (int i = 0; i < n; i++) {
        if (!(c = nvb_cli_sub(c, names[i]))) {
            if (bad)
                *bad = i;
            return NULL;
        }
    }
    return c;
}

void nvb_cli_sub_names(const nvb_cli_cmd *cmd, char *buf, size_t size)
{
    size_t at = 0;
    buf[0] = '\0';
    for (size_t i = 0; cmd->subs && cmd->subs[i] && at < size; i++) {
        int n = snprintf(buf + at, size - at, "%s%s", i ? ", " : "", cmd->subs[i]->name);
        if (n < 0)
            break;
        at += (size_t)n;
    }
}

/* "[--env KEY=VALUE]...", "--runtime ENGINE" (required), "[--wait[=SECONDS]]". */
static int synopsis_word(const nvb_cli_opt *o, char *buf, size_t size)
{
    bool req = o->flags & NVB_OPT_REQUIRED;
    const char *sep = o->flags & NVB_OPT_OPTIONAL ? "[=" : " ";
    return snprintf(buf, size, "%s--%s%s%s%s%s%s", req ? "" : "[", o->name, o->arg ? sep : "", o->arg ? o->arg : "",
                    o->arg && (o->flags & NVB_OPT_OPTIONAL) ? "]" : "", req ? "" : "]",
                    o->flags & NVB_OPT_REPEAT ? "..." : "");
}

/* The usage line(s), wrapped under the command's name. */
static void print_usage(FILE *f, const nvb_cli_cmd *cmd, const char *path)
{
    char head[160];
    int indent = snprintf(head, sizeof head, "usage: nvbind%s%s", *path ? " " : "", path);
    fputs(head, f);
    int col = indent;
    char word[160];
    for (const nvb_cli_opt *o = cmd->opts; o && o->name; o++) {
        if (cmd == &nvb_cli_root)
            break; /* the globals are listed below, under their own heading */
        int n = synopsis_word(o, word, sizeof word);
        if (col + 1 + n > 100) {
            fprintf(f, "\n%*s", indent, "");
            col = indent;
        }
        col += fprintf(f, " %s", word);
    }
    if (cmd == &nvb_cli_root)
        fputs(" [GLOBAL OPTIONS]", f);
    if (cmd->subs && cmd != &nvb_cli_root)
        fputs(" COMMAND [ARGS]", f);
    else if (cmd->operands)
        fprintf(f, "%s%*s%s", col + 1 + (int)strlen(cmd->operands) > 100 ? "\n" : "",
                col + 1 + (int)strlen(cmd->operands) > 100 ? indent + 1 : 1, "", cmd->operands);
    fputc('\n', f);
}

/* "  -e, --env KEY=VALUE         help", continuation lines under the help column. */
static void print_option(FILE *f, const nvb_cli_opt *o)
{
    char left[128];
    snprintf(left, sizeof left, "  %c%c%s--%s%s%s%s", o->short_name ? '-' : ' ', o->short_name ? o->short_name : ' ',
             o->short_name ? ", " : "  ", o->name, o->arg ? (o->flags & NVB_OPT_OPTIONAL ? "[=" : " ") : "",
             o->arg ? o->arg : "", o->arg && (o->flags & NVB_OPT_OPTIONAL) ? "]" : "");
    enum { COL = 30 };
    if (strlen(left) + 2 > COL)
        fprintf(f, "%s\n%*s", left, COL, "");
    else
        fprintf(f, "%-*s", COL, left);
    for (const char *h = o->help; *h;) {
        size_t n = strcspn(h, "\n");
        fprintf(f, "%.*s\n", (int)n, h);
        h += n;
        if (*h == '\n' && *++h)
            fprintf(f, "%*s", COL, "");
    }
}

void nvb_cli_print_help(FILE *f, const nvb_cli_cmd *cmd, const char *path)
{
    print_usage(f, cmd, path);
    fprintf(f, "\n%s\n", cmd->summary);
    fprintf(f, "\n%s:\n", cmd == &nvb_cli_root ? "Global options (before the command)" : "Options");
    for (const nvb_cli_opt *o = cmd->opts; o && o->name; o++)
        print_option(f, o);
    print_option(f, &(nvb_cli_opt){"help", 'h', 'h', NULL, 0, "this text", NVB_COMPLETE_NONE, NULL});
    if (cmd->subs) {
        fputs("\nCommands:\n", f);
        for (size_t i = 0; cmd->subs[i]; i++)
            fprintf(f, "  %-18s%s%s\n", cmd->subs[i]->name, strlen(cmd->subs[i]->name) < 18 ? "" : "\n                    ",
                    cmd->subs[i]->summary);
    }
    if (cmd->details)
        fprintf(f, "\n%s\n", cmd->details);
}
