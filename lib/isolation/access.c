/* Who may use nvbind's isolation state: doctor's checks that the caller can claim GPUs and
 * write the audit log, saying which user and group can do what, and the fix. The model is
 * in claims_files.h and audit.h (docs/isolation.md, "Users who are not root"). */
#include "isolation/access.h"
#include "isolation/audit.h"
#include "isolation/claims.h"
#include "isolation/group.h"
#include "util/cleanup.h"
#include "util/names.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Is the caller in group gid (primary or supplementary)? */
static bool in_group(gid_t gid)
{
    if (getegid() == gid)
        return true;
    gid_t groups[256];
    int n = getgroups(256, groups);
    for (int i = 0; i < n; i++)
        if (groups[i] == gid)
            return true;
    return false;
}

/* May the caller make or write entries in folder path (its nearest existing ancestor when it
 * is missing)? *missing says whether path itself is missing. */
static bool can_write_into(const char *path, bool *missing)
{
    _cleanup_free_ char *p = strdup(path);
    *missing = false;
    while (p && *p) {
        if (access(p, F_OK) == 0)
            return faccessat(AT_FDCWD, p, W_OK | X_OK, AT_EACCESS) == 0;
        *missing = true;
        char *slash = strrchr(p, '/');
        if (!slash)
            return false;
        if (slash == p)
            slash[1] = '\0';
        else
            *slash = '\0';
        if (strcmp(p, "/") == 0)
            return faccessat(AT_FDCWD, p, W_OK | X_OK, AT_EACCESS) == 0;
    }
    return false;
}

/* Whether root shares the folder with the group as claims and audit logs see it (group.h). */
static bool shared_with_group(const char *path)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    return nvb_group_shared_folder(fd) != (gid_t)-1;
}

/* The fix for a user who is not in the group (making the group first when there is none). */
static void join_fix(char *buf, size_t n, bool group_exists, const char *user)
{
    snprintf(buf, n, "%ssudo usermod -aG %s %s, then log in again", group_exists ? "" : "sudo groupadd --system " NVB_GROUP_NAME " && ",
             NVB_GROUP_NAME, user);
}

static void check_claims(nvb_doctor *d, const char *state_dir, const char *me, bool group_exists, bool member,
                         const char *user)
{
    _cleanup_free_ char *claims = nvb_path_join(state_dir, "claims");
    bool missing;
    if (!claims)
        return;
    char fix[1024];
    snprintf(fix, sizeof fix, "%sas root: install -d -m 0755 -g %s %s && install -d -m 3775 -g %s %s/claims %s/locks",
             group_exists ? "" : "groupadd --system " NVB_GROUP_NAME " && ", NVB_GROUP_NAME, state_dir, NVB_GROUP_NAME, state_dir,
             state_dir);
    if (geteuid() == 0) {
        if (group_exists && shared_with_group(state_dir))
            nvb_doctor_add(d, NVB_CHECK_OK, "claims", NULL, "%s claims GPUs in %s; members of group %s may claim too",
                           me, state_dir, NVB_GROUP_NAME);
        else
            nvb_doctor_add(d, NVB_CHECK_INFO, "claims", fix, "%s claims GPUs in %s; only root may claim (%s is not "
                           "shared with group %s)", me, state_dir, state_dir, NVB_GROUP_NAME);
        return;
    }
    if (can_write_into(claims, &missing)) {
        nvb_doctor_add(d, NVB_CHECK_OK, "claims", NULL, "%s can claim GPUs in %s%s; everyone can read `nvbind claims`",
                       me, state_dir, member ? " (group " NVB_GROUP_NAME ")" : "");
        return;
    }
    if (!member) {
        join_fix(fix, sizeof fix, group_exists, user);
        nvb_doctor_add(d, NVB_CHECK_ERROR, "claims", fix,
                       "%s is not root and not in group %s: `nvbind run` cannot claim GPUs in %s (exit 6); "
                       "`nvbind claims` still reads them", me, NVB_GROUP_NAME, state_dir);
    } else {
        nvb_doctor_add(d, NVB_CHECK_ERROR, "claims", fix, "%s is in group %s but %s %s: root has not shared it with "
                       "the group yet", me, NVB_GROUP_NAME, claims, missing ? "does not exist" : "is not writable");
    }
}

static void check_audit(nvb_doctor *d, const char *log, const char *me, bool group_exists, bool member,
                        const char *user)
{
    _cleanup_free_ char *copy = strdup(log);
    if (!copy)
        return;
    const char *dir = dirname(copy);
    bool missing;
    char fix[1024];
    snprintf(fix, sizeof fix, "%sas root: install -d -m 3770 -g %s %s", group_exists ? "" : "groupadd --system " NVB_GROUP_NAME
             " && ", NVB_GROUP_NAME, dir);
    if (geteuid() == 0) {
        if (group_exists && shared_with_group(dir))
            nvb_doctor_add(d, NVB_CHECK_OK, "audit", NULL, "%s writes the audit log %s; members of group %s read it "
                           "and write their own beside it", me, log, NVB_GROUP_NAME);
        else
            nvb_doctor_add(d, NVB_CHECK_INFO, "audit", fix, "%s writes the audit log %s; only root reads it (%s is not "
                           "shared with group %s)", me, log, dir, NVB_GROUP_NAME);
        return;
    }
    if (faccessat(AT_FDCWD, log, W_OK, AT_EACCESS) == 0) {
        nvb_doctor_add(d, NVB_CHECK_OK, "audit", NULL, "%s writes the audit log %s", me, log);
        return;
    }
    if (can_write_into(dir, &missing) && !missing) {
        nvb_doctor_add(d, NVB_CHECK_OK, "audit", NULL, "%s writes its own audit log %s@%u (`nvbind audit` shows it "
                       "after root's)", me, log, (unsigned)geteuid());
        return;
    }
    if (!member) {
        join_fix(fix, sizeof fix, group_exists, user);
        nvb_doctor_add(d, NVB_CHECK_ERROR, "audit", fix, "%s is not root and not in group %s: `nvbind run` cannot "
                       "write the audit log %s (exit 6), nor `nvbind audit` read it", me, NVB_GROUP_NAME, log);
    } else {
        nvb_doctor_add(d, NVB_CHECK_ERROR, "audit", fix, "%s is in group %s but cannot add its log to %s: root has "
                       "not shared the folder with the group yet", me, NVB_GROUP_NAME, dir);
    }
}

void nvb_isolation_doctor(nvb_doctor *d, const char *state_dir, const char *audit_log)
{
    if (!state_dir || !*state_dir)
        state_dir = NVB_CLAIMS_DEFAULT_DIR;
    if (!audit_log)
        audit_log = NVB_AUDIT_DEFAULT_LOG;
    /* One lookup serves both: "name (uid N)" for the messages, the name for the fixes. */
    char me[300], user[256];
    uid_t uid = geteuid();
    if (nvb_user_name(uid, user, sizeof user)) {
        snprintf(me, sizeof me, "%s (uid %u)", user, (unsigned)uid);
    } else {
        snprintf(me, sizeof me, "uid %u", (unsigned)uid);
        snprintf(user, sizeof user, "USER");
    }
    gid_t gid;
    bool group_exists = nvb_group_id(NVB_GROUP_NAME, &gid), member = group_exists && in_group(gid);
    check_claims(d, state_dir, me, group_exists, member, user);
    if (*audit_log) /* "" turns the audit log off */
        check_audit(d, audit_log, me, group_exists, member, user);
}
