/* The CLI's log sink: -v/--verbose and NVBIND_LOG send the library's decisions to stderr. */
#include "cli.h"
#include "util/log.h"

#include <stdio.h>
#include <stdlib.h>

static void to_stderr(int level, const char *line, void *ctx)
{
    (void)ctx;
    fprintf(stderr, "nvbind: %s: %s\n", nvb_log_level_name(level), line);
}

int nvb_cli_log_setup(int verbosity)
{
    int level = verbosity >= 2 ? NVB_LOG_DEBUG : verbosity == 1 ? NVB_LOG_INFO : NVB_LOG_OFF;
    const char *env = getenv("NVBIND_LOG");
    if (env && *env) {
        int from_env = nvb_log_level_parse(env);
        if (from_env < 0) {
            fprintf(stderr, "nvbind: NVBIND_LOG=%s: expected debug, info, warn or off\n", env);
            return NVB_EXIT_USAGE;
        }
        if (from_env > level)
            level = from_env;
    }
    nvb_log_set(level ? to_stderr : NULL, NULL, level);
    return 0;
}
