/* The one description of nvbind's command line: every command, subcommand and option with
 * its value and help text. --help, `nvbind help`, the getopt tables each command parses with
 * and `nvbind completion bash|zsh|fish` are all printed or built from it, so they cannot
 * drift apart (tests/e2e/test_cli.py also holds the README and the man page to it).
 *
 * Adding a command: write its descriptor next to its parser (const nvb_cli_cmd
 * nvb_cmd_NAME = {...}) and add one line NVB_COMMAND(NAME) to src/cli_commands.def. */
#pragma once
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

struct nvb_cli;
typedef int (*nvb_cmd_fn)(struct nvb_cli *cli, int argc, char **argv);

enum {
    NVB_OPT_OPTIONAL = 1, /* the value is optional and attached: --wait[=SECONDS] */
    NVB_OPT_REPEAT = 2,   /* may be given more than once */
    NVB_OPT_REQUIRED = 4, /* must be given (shown without brackets) */
};

/* The ids of nvbind's global options (main.c). */
enum { NVB_GOPT_ROOT = 256, NVB_GOPT_DRIVER_ROOT, NVB_GOPT_LIBPATH, NVB_GOPT_CONFIG };

/* What a shell completes as an option's value. */
typedef enum { NVB_COMPLETE_NONE, NVB_COMPLETE_WORDS, NVB_COMPLETE_FILE, NVB_COMPLETE_DIR } nvb_complete_kind;

typedef struct nvb_cli_opt {
    const char *name;        /* long name, without "--" */
    int short_name;          /* 'e' for -e, or 0 */
    int id;                  /* what nvb_cli_next returns for it: short_name when set, else >= 256 */
    const char *arg;         /* the value's name in help ("DIR"); NULL for a flag */
    unsigned flags;          /* NVB_OPT_* */
    const char *help;        /* one line; more lines after '\n' are indented under it */
    nvb_complete_kind complete;
    const char *words;       /* NVB_COMPLETE_WORDS: the values, space-separated */
} nvb_cli_opt;

typedef struct nvb_cli_cmd {
    const char *name;
    const char *operands;    /* what follows the options in the usage line ("[FILE]"), or NULL */
    const char *summary;     /* one line, in the parent's list of commands */
    const char *details;     /* printed after the options, or NULL */
    const nvb_cli_opt *opts; /* ends with {0}; -h/--help is implied; NULL: no options */
    const char *operand_words; /* what a shell completes as an operand ("bash zsh fish"); NULL:
                                * file names; "@commands": nvbind's command names */
    const struct nvb_cli_cmd *const *subs; /* ends with NULL; a command with subcommands has no fn */
    nvb_cmd_fn fn;
} nvb_cli_cmd;

/* The root of the table: nvbind itself, its global options and its commands. */
extern const nvb_cli_cmd nvb_cli_root;

/* The command that a path of names leads to (names[0] a command, names[1] its subcommand);
 * NULL when a name is unknown, *bad then says which one. */
const nvb_cli_cmd *nvb_cli_find(const char *const *names, int n, int *bad);
const nvb_cli_cmd *nvb_cli_sub(const nvb_cli_cmd *parent, const char *name);

/* The --help text of cmd, whose path from the root is path ("cdi generate", "" for nvbind). */
void nvb_cli_print_help(FILE *f, const nvb_cli_cmd *cmd, const char *path);
/* The subcommand names of cmd, comma-separated ("generate, list, validate, check"). */
void nvb_cli_sub_names(const nvb_cli_cmd *cmd, char *buf, size_t size);

/* What -h/--help prints: nvb_cli_print_help in nvbind; a helper executable, which has no
 * command table to print from, passes its own. */
typedef void (*nvb_cli_help_fn)(FILE *f, const nvb_cli_cmd *cmd, const char *path);

/* getopt_long over a command's options, built from its descriptor. */
typedef struct nvb_cli_parser {
    const nvb_cli_cmd *cmd;
    const char *path;
    nvb_cli_help_fn help;
    struct option longopts[48];
    char shortopts[128];
    int rc; /* after NVB_OPT_STOP: the exit status (0 after --help) */
} nvb_cli_parser;

enum { NVB_OPT_END = -1, NVB_OPT_STOP = -2 };
/* Prepare getopt for cmd (optind = 1 is the caller's, as before): p->longopts and
 * p->shortopts, which a helper executable that words its own errors hands to getopt_long
 * itself (help NULL then: nvb_cli_next is not called). */
void nvb_cli_parser_init(nvb_cli_parser *p, const nvb_cli_cmd *cmd, const char *path, nvb_cli_help_fn help);
/* The next option's id; NVB_OPT_END at the first operand (or "--"), or NVB_OPT_STOP after
 * printing --help with p->help (p->rc 0) or a one-line usage error (p->rc 2). */
int nvb_cli_next(nvb_cli_parser *p, int argc, char **argv);
/* The end of a command's option loop, c being nvb_cli_next's last answer: true when the
 * command stops here with the exit status in p->rc: after --help (0), after the usage error
 * nvb_cli_next printed, or when more than max operands follow argv[optind] on (2, after
 * "nvbind PATH: unexpected argument 'X'" naming the first one too many). max -1: any number,
 * for a command that words its own operand errors. */
bool nvb_cli_stops(nvb_cli_parser *p, int c, int argc, char **argv, int max);

