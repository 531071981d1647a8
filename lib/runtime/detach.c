/* Does [runtime] extra_args make the engine detach? `nvbind run` holds a container's GPU
 * claims for as long as the engine's foreground process runs; a detached container would
 * keep its GPUs with nobody holding the claim. See engine.h. */
#include "runtime/engine.h"

#include <string.h>

/* pflag's false spellings (podman, docker): any other value of --detach= turns it on, and
 * an unknown spelling is taken as on rather than let through. */
static bool is_false(const char *v)
{
    static const char *const no[] = {"false", "False", "FALSE", "f", "F", "0"};
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        if (strcmp(v, no[i]) == 0)
            return true;
    return false;
}

/* podman's and docker's `run` short options that take a value: the rest of a cluster (or the
 * next argument) is that value, not more options ("-e" "-d" sets a variable). */
static bool takes_value(char c)
{
    return c && strchr("acehlmpuvw", c) != NULL;
}

/* A cluster "-itd", "-d=true": 1 when it detaches, 0 when not; *skip_next when its last
 * letter takes the next argument as its value. */
static int short_cluster_detaches(const char *arg, bool *skip_next)
{
    for (const char *p = arg + 1; *p; p++) {
        if (*p == 'd')
            return p[1] == '=' ? !is_false(p + 2) : 1;
        if (takes_value(*p)) {
            *skip_next = p[1] == '\0';
            return 0;
        }
    }
    return 0;
}

const char *nvb_engine_detach_arg(const nvb_strv *extra)
{
    for (size_t i = 0; extra && i < extra->n; i++) {
        const char *a = extra->v[i];
        if (strcmp(a, "--detach") == 0)
            return a;
        if (strncmp(a, "--detach=", 9) == 0 && !is_false(a + 9))
            return a;
        if (a[0] != '-' || a[1] == '-' || a[1] == '\0')
            continue;
        bool skip = false;
        if (short_cluster_detaches(a, &skip))
            return a;
        if (skip)
            i++;
    }
    return NULL;
}
