/* See ldcache_ahead.h. */
#include "oci/ldcache_ahead.h"
#include "oci/safepath.h"

#include <limits.h>
#include <string.h>

/* Is a the folder above b, or b itself? Both normalised. */
static bool at_or_above(const char *a, const char *b)
{
    size_t n = strlen(a);
    if (n == 1)
        return true; /* "/" */
    return strncmp(a, b, n) == 0 && (b[n] == '\0' || b[n] == '/');
}

bool nvb_path_related(const char *a, const char *b)
{
    if (!nvb_container_path_ok(a, true, NULL) || !nvb_container_path_ok(b, true, NULL))
        return true;
    return at_or_above(a, b) || at_or_above(b, a);
}

bool nvb_ldcache_ahead_covers(const nvb_ldcache_ahead *ahead, const char *path)
{
    for (size_t i = 0; ahead && i < ahead->ncovered; i++)
        if (nvb_path_related(ahead->covered[i], path))
            return true;
    return false;
}

static bool visit_covered(const char *at, void *ahead)
{
    return nvb_ldcache_ahead_covers(ahead, at);
}

bool nvb_ldcache_ahead_reaches(const nvb_ldcache_ahead *ahead, int rootfd, const char *path)
{
    if (!ahead || !ahead->ncovered)
        return false;
    if (nvb_ldcache_ahead_covers(ahead, path))
        return true;
    char out[PATH_MAX];
    return nvb_root_resolve(rootfd, path, out, visit_covered, (void *)ahead) != 0;
}

bool nvb_ldcache_ahead_file(const nvb_ldcache_ahead *ahead, const char *path)
{
    for (size_t i = 0; ahead && i < ahead->nfiles; i++)
        if (strcmp(ahead->files[i], path) == 0)
            return true;
    return false;
}
