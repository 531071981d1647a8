/* For a command that still runs getopt_long over its own option table (a branch written
 * before the command table, cli_table.h): one-line errors for unknown options and options
 * missing their value, in the form nvb_cli_next prints. New commands describe their options
 * in the table and parse with nvb_cli_next instead.
 *   nvbind info: unknown option '--bogus' (see nvbind info --help)
 *   nvbind cdi generate: --kind needs a value (see nvbind cdi generate --help)
 *   nvbind info: --json takes no value (see nvbind info --help) */
#pragma once
#include "cli.h"

#include <getopt.h>
#include <stdbool.h>
#include <string.h>

/* c: what getopt_long returned ('?' or ':'); argv: the command's own argv. */
static inline int nvb_cli_bad_option(const char *cmd, int c, char *const *argv)
{
    /* A long option is argv[optind - 1] as written. A short one is optopt: it may sit in a
     * bundle ("-jx"), and while letters are left in the bundle argv[optind - 1] is the
     * argument before it, which may be a long option ("--json -xj"): a long option is the
     * culprit only when getopt left optopt 0 (unknown) or it was given "=VALUE". */
    const char *prev = optind > 0 ? argv[optind - 1] : "";
    char shortopt[3] = {'-', (char)optopt, '\0'};
    bool is_long = strncmp(prev, "--", 2) == 0 && (c == ':' || optopt == 0 || strchr(prev, '='));
    const char *opt = is_long ? prev : shortopt;
    if (c == ':')
        return nvb_cli_usage(cmd, "%s needs a value (see nvbind %s --help)", opt, cmd);
    if (is_long && optopt)
        return nvb_cli_usage(cmd, "%.*s takes no value (see nvbind %s --help)", (int)strcspn(opt, "="), opt, cmd);
    return nvb_cli_usage(cmd, "unknown option '%s' (see nvbind %s --help)", opt, cmd);
}
