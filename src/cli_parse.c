/* getopt_long driven by a command's descriptor (cli_table.h): the option tables are built
 * from the same entries --help prints, and every usage error is one line naming the
 * argument as the user wrote it. */
#include "cli.h"
#include "cli_opts.h" /* compiled here, so that it keeps building for older command files */

#include <stdio.h>
#include <string.h>

void nvb_cli_parser_init(nvb_cli_parser *p, const nvb_cli_cmd *cmd, const char *path, nvb_cli_help_fn help)
{
    memset(p, 0, sizeof *p);
    p->cmd = cmd;
    p->path = path;
    p->help = help;
    size_t n = 0, s = 0;
    /* "+": stop at the first operand (the command, an image, a file); ":": a missing value
     * comes back as ':' so the message below can say so. */
    p->shortopts[s++] = '+';
    p->shortopts[s++] = ':';
    p->shortopts[s++] = 'h';
    for (const nvb_cli_opt *o = cmd->opts; o && o->name && n + 2 < sizeof p->longopts / sizeof p->longopts[0]; o++) {
        int has = !o->arg ? no_argument : o->flags & NVB_OPT_OPTIONAL ? optional_argument : required_argument;
        p->longopts[n++] = (struct option){o->name, has, NULL, o->id};
        if (o->short_name && s + 4 < sizeof p->shortopts) {
            p->shortopts[s++] = (char)o->short_name;
            if (has != no_argument)
                p->shortopts[s++] = ':';
            if (has == optional_argument)
                p->shortopts[s++] = ':';
        }
    }
    p->longopts[n++] = (struct option){"help", no_argument, NULL, 'h'};
    p->longopts[n] = (struct option){0};
    p->shortopts[s] = '\0';
    opterr = 0;
}

/* kind: 0 unknown, 1 needs a value, 2 takes no value. */
static int usage_error(nvb_cli_parser *p, int kind, const char *opt, int optlen)
{
    char what[512];
    if (kind == 0)
        snprintf(what, sizeof what, "unknown option '%.*s'", optlen, opt);
    else
        snprintf(what, sizeof what, "%.*s %s", optlen, opt, kind == 1 ? "needs a value" : "takes no value");
    if (*p->path)
        fprintf(stderr, "nvbind %s: %s (see nvbind %s --help)\n", p->path, what, p->path);
    else
        fprintf(stderr, "nvbind: %s (see nvbind --help)\n", what);
    p->rc = NVB_EXIT_USAGE;
    return NVB_OPT_STOP;
}

static bool known_id(const nvb_cli_parser *p, int id)
{
    for (const struct option *o = p->longopts; o->name; o++)
        if (o->val == id)
            return true;
    return false;
}

/* c: what getopt_long returned ('?' or ':'). getopt leaves optopt 0 for an unknown long
 * option, the letter for an unknown short one, and the id for a known long option given a
 * value it does not take. A long option is then argv[optind - 1] as written; a short one is
 * named by its letter alone: it may sit in a bundle ("-it"), and while letters are left in the
 * bundle argv[optind - 1] is the argument before it. */
static int bad_option(nvb_cli_parser *p, int c, char *const *argv)
{
    const char *prev = optind > 0 ? argv[optind - 1] : "";
    bool prev_long = strncmp(prev, "--", 2) == 0;
    char shortopt[3] = {'-', (char)optopt, '\0'};
    if (c == ':') {
        const char *opt = prev_long ? prev : shortopt;
        return usage_error(p, 1, opt, (int)strlen(opt));
    }
    if (optopt == 0)
        return usage_error(p, 0, prev, (int)strlen(prev));
    if (known_id(p, optopt) && prev_long)
        return usage_error(p, 2, prev, (int)strcspn(prev, "="));
    return usage_error(p, 0, shortopt, 2);
}

int nvb_cli_next(nvb_cli_parser *p, int argc, char **argv)
{
    optopt = 0;
    int c = getopt_long(argc, argv, p->shortopts, p->longopts, NULL);
    if (c == -1)
        return NVB_OPT_END;
    if (c == 'h') {
        p->help(stdout, p->cmd, p->path);
        p->rc = fflush(stdout) ? NVB_EXIT_IO : 0;
        return NVB_OPT_STOP;
    }
    if (c == '?' || c == ':')
        return bad_option(p, c, argv);
    return c;
}

bool nvb_cli_stops(nvb_cli_parser *p, int c, int argc, char **argv, int max)
{
    if (c == NVB_OPT_STOP)
        return true;
    if (max < 0 || argc - optind <= max)
        return false;
    p->rc = nvb_cli_usage(p->path, "unexpected argument '%s'", argv[optind + max]);
    return true;
}
