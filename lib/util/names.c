/* User and group names (names.h). */
#include "util/names.h"
#include "util/isolate.h"

#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* NSS modules may wait on a directory server: a lookup that long is given up. */
#define LOOKUP_TIMEOUT_MS 5000

struct user_answer {
    int32_t found;
    char name[256];
};

struct group_answer {
    int32_t found;
    uint32_t gid;
};

/* The line of a colon-separated file (/etc/passwd, /etc/group) with at least three fields
 * whose field `key_field` equals key: its fields split in place into f (at most nf). */
static bool find_line(const char *path, size_t key_field, const char *key, char *line, size_t len, char **f,
                      size_t nf)
{
    FILE *fp = fopen(path, "re");
    if (!fp)
        return false;
    bool found = false;
    while (!found && fgets(line, (int)len, fp)) {
        line[strcspn(line, "\n")] = '\0';
        size_t n = 0;
        for (char *p = line, *colon; n < nf; p = colon + 1) {
            f[n++] = p;
            if (!(colon = strchr(p, ':')))
                break;
            *colon = '\0';
        }
        found = n >= 3 && n > key_field && strcmp(f[key_field], key) == 0;
    }
    fclose(fp);
    return found;
}

static bool user_from_files(uid_t uid, char *buf, size_t n)
{
    char line[1024], key[16], *f[4] = {0};
    snprintf(key, sizeof key, "%u", (unsigned)uid);
    return find_line("/etc/passwd", 2, key, line, sizeof line, f, 4) && (size_t)snprintf(buf, n, "%s", f[0]) < n;
}

static bool group_from_files(const char *name, gid_t *gid)
{
    char line[4096], *f[4] = {0}, *end;
    if (!find_line("/etc/group", 0, name, line, sizeof line, f, 4))
        return false;
    unsigned long v = strtoul(f[2], &end, 10);
    if (end == f[2] || *end || v > UINT32_MAX)
        return false;
    *gid = (gid_t)v;
    return true;
}

bool nvb_user_name(uid_t uid, char *buf, size_t n)
{
    if (!nvb_isolate_wanted()) {
        struct passwd *pw = getpwuid(uid);
        return pw && (size_t)snprintf(buf, n, "%s", pw->pw_name) < n;
    }
    if (user_from_files(uid, buf, n))
        return true;
    uint32_t in = (uint32_t)uid;
    struct user_answer a;
    char why[PATH_MAX + 128];
    return nvb_isolated_call("user-name", &in, sizeof in, &a, sizeof a, LOOKUP_TIMEOUT_MS, why, sizeof why) == 1 &&
           a.found && memchr(a.name, '\0', sizeof a.name) && (size_t)snprintf(buf, n, "%s", a.name) < n;
}

bool nvb_group_id(const char *name, gid_t *gid)
{
    if (!nvb_isolate_wanted()) {
        struct group *g = getgrnam(name);
        if (g)
            *gid = g->gr_gid;
        return g != NULL;
    }
    if (group_from_files(name, gid))
        return true;
    struct group_answer a;
    char why[PATH_MAX + 128];
    if (nvb_isolated_call("group-id", name, strlen(name) + 1, &a, sizeof a, LOOKUP_TIMEOUT_MS, why, sizeof why) != 1 ||
        !a.found)
        return false;
    *gid = (gid_t)a.gid;
    return true;
}

int nvb_user_name_serve(const void *in, size_t in_len, void **out, size_t *out_len)
{
    uint32_t uid;
    struct user_answer *a = in_len == sizeof uid ? calloc(1, sizeof *a) : NULL;
    if (!a)
        return -1;
    memcpy(&uid, in, sizeof uid);
    struct passwd *pw = getpwuid((uid_t)uid);
    a->found = pw && strlen(pw->pw_name) < sizeof a->name;
    if (a->found)
        strcpy(a->name, pw->pw_name);
    *out = a;
    *out_len = sizeof *a;
    return 0;
}

int nvb_group_id_serve(const void *in, size_t in_len, void **out, size_t *out_len)
{
    const char *name = in;
    struct group_answer *a = in_len > 1 && name[in_len - 1] == '\0' ? calloc(1, sizeof *a) : NULL;
    if (!a)
        return -1;
    struct group *g = getgrnam(name);
    a->found = g != NULL;
    a->gid = g ? (uint32_t)g->gr_gid : 0;
    *out = a;
    *out_len = sizeof *a;
    return 0;
}
