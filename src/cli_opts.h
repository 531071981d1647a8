/* One-line errors for unknown options and options missing their value.
 *
 * getopt_long's own messages name the program by the command's argv[0] ("info: unrecognized
 * option") on a line of their own before the usage; commands instead set opterr = 0, start
 * their optstring with "+:" (so a missing value comes back as ':'), and report both cases
 * through nvb_cli_bad_option, in the form nvbind run uses:
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
    /* A long option is argv[optind - 1] as written; a short one is optopt (it may sit in a
     * bundle like "-jx", where argv[optind - 1] is the whole bundle). */
    char shortopt[3] = {'-', (char)optopt, '\0'};
    bool is_long = optind > 0 && strncmp(argv[optind - 1], "--", 2) == 0;
    const char *opt = is_long ? argv[optind - 1] : shortopt;
    if (c == ':')
        return nvb_cli_usage(cmd, "%s needs a value (see nvbind %s --help)", opt, cmd);
    /* A known long option (optopt set) refused: it was given "=VALUE" and takes none. */
    if (is_long && optopt) {
        const char *eq = strchr(opt, '=');
        return nvb_cli_usage(cmd, "%.*s takes no value (see nvbind %s --help)", eq ? (int)(eq - opt) : (int)strlen(opt),
                             opt, cmd);
    }
    return nvb_cli_usage(cmd, "unknown option '%s' (see nvbind %s --help)", opt, cmd);
}
