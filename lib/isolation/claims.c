/* GPU claims: the state folder, per-device locks, acquire (all or nothing, optionally
 * waiting), release and listing with reclaim of stale holders. See claims.h. */
#include "isolation/claims.h"
#include "isolation/claims_files.h"
#include "isolation/procid.h"
#include "isolation/timefmt.h"
#include "util/cleanup.h"
#include "util/clock.h"
#include "util/fileio.h"
#include "util/json_text.h"
#include "util/shown.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define WAIT_BACKOFF_START_MS 20
#define WAIT_BACKOFF_MAX_MS 500

/* The state folder --------------------------------------------------------------------- */

static void state_close(claims_state *s)
{
    free(s->dir);
    free(s->claims_dir);
    if (s->dir_fd >= 0)
        close(s->dir_fd);
    if (s->claims_fd >= 0)
        close(s->claims_fd);
    if (s->locks_fd >= 0)
        close(s->locks_fd);
    s->dir = s->claims_dir = NULL;
    s->dir_fd = s->claims_fd = s->locks_fd = -1;
}

static int open_subdir(claims_state *s, const char *name, bool create, int *fd, nvb_err *err)
{
    if (create && !s->read_only && mkdirat(s->dir_fd, name, 0700) < 0 && errno != EEXIST)
        return nvb_errf_errno(err, NVB_EXIT_IO, errno, "cannot create %s/%s", s->dir, name);
    *fd = openat(s->dir_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (*fd < 0)
        return nvb_errf_errno(err, NVB_EXIT_IO, errno, "cannot open %s/%s", s->dir, name);
    return 0;
}

/* Open (and with create, make) the state folder. Returns 1 when it does not exist and
 * create is false. */
static int state_open(const char *dir, bool create, claims_state *s, nvb_err *err)
{
    *s = (claims_state){.dir_fd = -1, .claims_fd = -1, .locks_fd = -1};
    if (!dir || !*dir)
        dir = NVB_CLAIMS_DEFAULT_DIR;
    if (dir[0] != '/')
        return nvb_errf(err, NVB_EXIT_USAGE, "claims state folder %s: must be an absolute path", dir);
    s->dir = strdup(dir);
    s->claims_dir = nvb_path_join(dir, "claims");
    if (!s->dir || !s->claims_dir) {
        state_close(s);
        return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    }
    if (create && nvb_make_dirs(dir, 0700, "for GPU claims", err) < 0) {
        state_close(s);
        return -1;
    }
    s->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->dir_fd < 0) {
        int e = errno;
        if (!create && e == ENOENT) {
            state_close(s);
            return 1;
        }
        state_close(s);
        return nvb_errf_errno(err, NVB_EXIT_IO, e, "cannot open the GPU claims folder %s", dir);
    }
    if (!create) {
        struct stat st;
        if (fstatat(s->dir_fd, "claims", &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT) {
            state_close(s);
            return 1;
        }
    }
    s->me = geteuid();
    /* Not root and claims/ not writable (nor, while it is missing, the folder that gets it):
     * a reader (`nvbind claims` for everyone). A user's own state folder stays writable. */
    s->read_only = s->me != 0 && faccessat(s->dir_fd, "claims", W_OK, AT_EACCESS) < 0 &&
                   (errno != ENOENT || faccessat(s->dir_fd, ".", W_OK, AT_EACCESS) < 0);
    if (open_subdir(s, "claims", create, &s->claims_fd, err) < 0 ||
        (!s->read_only && open_subdir(s, "locks", true, &s->locks_fd, err) < 0)) {
        state_close(s);
        return -1;
    }
    if (create && !s->read_only)
        nvb_claims_share_folder(s);
    struct stat st;
    s->shared = fstat(s->claims_fd, &st) == 0 && (st.st_mode & S_ISVTX);
    return 0;
}

/* Locks ------------------------------------------------------------------------------------- */

/* How long a claim waits for a device's lock. nvbind holds one for milliseconds; whoever may
 * open the file (root, members of the group) could also hold it for good, and would then
 * stall every claim on the device, the shim's container creates among them. */
#define LOCK_WAIT_MS 10000

/* key's lock, waited for up to wait_ms: its descriptor; -2 with err (NVB_EXIT_IO) when another
 * process held it all along; -1 with err otherwise. */
static int lock_key(claims_state *s, const char *key, int wait_ms, nvb_err *err)
{
    char name[512];
    snprintf(name, sizeof name, "%s.lock", key);
    /* Read-only is enough for flock, and lets a member lock a file root made. O_NONBLOCK: a
     * FIFO planted under the name must not hang the opener; only a regular file locks. */
    int fd;
    for (int tries = 0;; tries++) {
        fd = openat(s->locks_fd, name, O_RDONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0644);
        struct stat st;
        bool planted = (fd < 0 && errno == ELOOP) || (fd >= 0 && (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)));
        if (!planted)
            break;
        if (fd >= 0)
            close(fd);
        /* A link or FIFO nobody can hold a lock through: root removes it (never following
         * it) and makes the lock file; anyone else reports it. */
        if (s->me != 0 || tries > 0 || unlinkat(s->locks_fd, name, 0) < 0)
            return nvb_errf(err, NVB_EXIT_IO, "lock %s/locks/%s is not a regular file; remove it", s->dir, name);
    }
    if (fd < 0)
        return nvb_errf_errno(err, NVB_EXIT_IO, errno, "cannot open lock %s/locks/%s", s->dir, name);
    int64_t deadline = nvb_mono_ms() + wait_ms;
    unsigned delay_us = 500;
    while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int e = errno;
        if (e == EWOULDBLOCK && nvb_mono_ms() < deadline) {
            usleep(delay_us);
            delay_us = delay_us < 50000 ? delay_us * 2 : 50000;
            continue;
        }
        if (e == EINTR)
            continue;
        close(fd);
        if (e == EWOULDBLOCK) {
            nvb_errf(err, NVB_EXIT_IO, "lock %s/locks/%s has been held by another process for %d s (nvbind holds it "
                     "for milliseconds): `fuser -v` on it names the holder", s->dir, name, wait_ms / 1000);
            return -2;
        }
        return nvb_errf_errno(err, NVB_EXIT_IO, e, "cannot lock %s/locks/%s", s->dir, name);
    }
    return fd;
}

/* Records ------------------------------------------------------------------------------------ */

static int record_read(claims_state *s, const char *key, nvb_claim_record *rec, bool *exists, char **text,
                       size_t *text_len, nvb_err *err)
{
    return nvb_claims_files_read(s, key, rec, exists, text, text_len, err);
}

static int record_write(claims_state *s, const char *key, const nvb_claim_record *rec, nvb_err *err)
{
    return nvb_claims_files_write(s, key, rec, err);
}

static int restore_text(claims_state *s, const char *key, const char *text, size_t len)
{
    return nvb_claims_files_restore(s, key, text, len);
}

static void remove_holder(nvb_claim_record *r, size_t i)
{
    nvb_claim_holder_clear(&r->holders[i]);
    memmove(&r->holders[i], &r->holders[i + 1], (r->n_holders - i - 1) * sizeof *r->holders);
    r->n_holders--;
}

/* Drop holders that are gone; describe each in reclaimed (may be NULL). Returns how many. */
static size_t prune_stale(nvb_claim_record *r, nvb_strv *reclaimed)
{
    size_t dropped = 0;
    for (size_t i = 0; i < r->n_holders;) {
        nvb_claim_holder *h = &r->holders[i];
        if (nvb_claim_holder_alive(h)) {
            i++;
            continue;
        }
        if (reclaimed) {
            char dev[300];
            nvb_claim_device_describe(dev, sizeof dev, r->gpu_index, r->mig_index, r->uuid);
            char why[80];
            if (nvb_claim_holder_other_boot(h))
                snprintf(why, sizeof why, "recorded before the last reboot");
            else
                snprintf(why, sizeof why, "holder %ld and the container are gone", (long)h->holder_pid);
            nvb_strv_pushf(reclaimed, "reclaimed the stale %s claim on %s of container %s since %s (%s)",
                           nvb_claim_mode_name(r->mode), dev, h->container, h->since, why);
        }
        remove_holder(r, i);
        dropped++;
    }
    if (r->n_holders != 1 && r->mode == NVB_CLAIM_EXCLUSIVE)
        r->mode = NVB_CLAIM_SHARED;
    return dropped;
}

/* Acquire ----------------------------------------------------------------------------------- */

typedef struct slot {
    nvb_claim_target t;
    size_t orig;          /* index in the caller's targets */
    char *key;
    int lock_fd;
    nvb_claim_record rec;
    bool exists;
    char *old_text;       /* the record before this call, NULL when there was none */
    size_t old_len;
} slot;

typedef struct blockers {
    pid_t pids[16];
    size_t n;
} blockers;

static void blockers_add(blockers *b, pid_t p)
{
    if (p > 0 && b->n < sizeof b->pids / sizeof b->pids[0])
        b->pids[b->n++] = p;
}

static int cmp_slot(const void *a, const void *b)
{
    return strcmp(((const slot *)a)->key, ((const slot *)b)->key);
}

static void slots_unlock(slot *sl, size_t n)
{
    for (size_t i = n; i-- > 0;) {
        if (sl[i].lock_fd >= 0)
            close(sl[i].lock_fd); /* closing the last descriptor drops the flock */
        sl[i].lock_fd = -1;
        nvb_claim_record_clear(&sl[i].rec);
        free(sl[i].old_text);
        sl[i].old_text = NULL;
    }
}

static int fill_holder(nvb_claim_holder *h, const nvb_claim_owner *o, nvb_err *err)
{
    memset(h, 0, sizeof *h);
    h->holder_pid = o->holder_pid > 0 ? o->holder_pid : getpid();
    h->holder_start = nvb_proc_start_time(h->holder_pid);
    if (!h->holder_start)
        return nvb_errf(err, NVB_EXIT_USAGE, "claim for container %s: holder process %ld is not running", o->container,
                        (long)h->holder_pid);
    if (o->init_pid > 0) {
        h->init_pid = o->init_pid;
        h->init_start = nvb_proc_start_time(o->init_pid);
        if (!h->init_start)
            h->init_pid = 0;
    }
    char since[40];
    nvb_time_format(since, sizeof since, nvb_time_now_ms(), false);
    h->container = strdup(o->container);
    h->runtime = o->runtime ? strdup(o->runtime) : NULL;
    h->oci_state = o->oci_state ? strdup(o->oci_state) : NULL;
    h->since = strdup(since);
    h->uid = getuid();
    h->file_uid = geteuid();
    nvb_boot_id(h->boot_id); /* "" when unreadable: liveness then rests on the processes alone */
    if (!h->container || !h->since || (o->runtime && !h->runtime) || (o->oci_state && !h->oci_state)) {
        nvb_claim_holder_clear(h);
        return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    }
    return 0;
}

/* Is h an entry of `me` itself: the same container name from the same holder process?
 * A container asking again (a retried create) replaces only these; a live holder of the
 * same name from another process is another container that happens to share the name. */
static bool own_entry(const nvb_claim_holder *h, const nvb_claim_holder *me)
{
    return strcmp(h->container, me->container) == 0 && h->holder_pid == me->holder_pid &&
           h->holder_start == me->holder_start;
}

static int add_holder(nvb_claim_record *r, const nvb_claim_holder *proto, const nvb_claim_target *t, nvb_err *err)
{
    /* A container asking again replaces what it held (the conflict check has refused any
     * other live holder of the name). */
    for (size_t i = 0; i < r->n_holders;)
        if (own_entry(&r->holders[i], proto))
            remove_holder(r, i);
        else
            i++;
    nvb_claim_holder *nv = realloc(r->holders, (r->n_holders + 1) * sizeof *nv);
    if (!nv)
        return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    r->holders = nv;
    nvb_claim_holder *h = &r->holders[r->n_holders];
    *h = *proto;
    h->container = strdup(proto->container);
    h->runtime = proto->runtime ? strdup(proto->runtime) : NULL;
    h->oci_state = proto->oci_state ? strdup(proto->oci_state) : NULL;
    h->since = strdup(proto->since);
    r->n_holders++;
    if (!h->container || !h->since || (proto->runtime && !h->runtime) || (proto->oci_state && !h->oci_state))
        return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    if (!r->uuid) {
        r->uuid = strdup(t->device.uuid);
        r->parent_uuid = t->device.parent_uuid ? strdup(t->device.parent_uuid) : NULL;
        if (!r->uuid || (t->device.parent_uuid && !r->parent_uuid))
            return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    }
    /* The caller's view of indices is the current one (indices follow PCI order). */
    r->gpu_index = t->device.gpu_index;
    r->mig_index = t->device.mig_index;
    r->mode = t->mode;
    return 0;
}

static void busy_message(const slot *s, const nvb_claim_holder *me, blockers *b, nvb_err *err)
{
    const nvb_claim_record *r = &s->rec;
    char dev[300];
    nvb_claim_device_describe(dev, sizeof dev, s->t.device.gpu_index, s->t.device.mig_index, s->t.device.uuid);
    const nvb_claim_holder *first = NULL, *same = NULL;
    size_t others = 0;
    for (size_t i = 0; i < r->n_holders; i++) {
        if (own_entry(&r->holders[i], me))
            continue;
        if (!first)
            first = &r->holders[i];
        if (!same && strcmp(r->holders[i].container, me->container) == 0)
            same = &r->holders[i];
        others++;
        blockers_add(b, r->holders[i].holder_pid);
        blockers_add(b, r->holders[i].init_pid);
        pid_t ip;
        unsigned long long is;
        if (r->holders[i].oci_state && nvb_oci_state_init(r->holders[i].oci_state, r->holders[i].uid, &ip, &is) == NVB_OCI_INIT_FOUND)
            blockers_add(b, ip);
    }
    if (!first)
        return;
    if (r->mode == NVB_CLAIM_EXCLUSIVE)
        nvb_errf(err, NVB_EXIT_BUSY, "%s is held exclusively by container %s since %s", dev, first->container,
                 first->since);
    else if (same && s->t.mode == NVB_CLAIM_SHARED) /* only the name stands in the way */
        nvb_errf(err, NVB_EXIT_BUSY, "%s is in shared use by another container named %s since %s; a name is one "
                 "container at a time", dev, same->container, same->since);
    else if (others > 1)
        nvb_errf(err, NVB_EXIT_BUSY, "%s is in shared use by container %s since %s (and %zu more); exclusive use needs it free",
                 dev, first->container, first->since, others - 1);
    else
        nvb_errf(err, NVB_EXIT_BUSY, "%s is in shared use by container %s since %s; exclusive use needs it free", dev,
                 first->container, first->since);
}

/* Does record r stop owner `me` from taking it in mode `want`? Another live holder under
 * me's own name always does: taking the name over would let one container's clean-up give
 * back the other's claim. */
static bool conflicts(const nvb_claim_record *r, const nvb_claim_holder *me, enum nvb_claim_mode want)
{
    bool others = false;
    for (size_t i = 0; i < r->n_holders; i++) {
        if (own_entry(&r->holders[i], me))
            continue;
        if (strcmp(r->holders[i].container, me->container) == 0)
            return true;
        others = true;
    }
    if (!others)
        return false;
    return r->mode == NVB_CLAIM_EXCLUSIVE || want == NVB_CLAIM_EXCLUSIVE;
}

/* One locked pass over every slot. Returns 0 (claimed), -1 with err (NVB_EXIT_BUSY when
 * a device is taken: *busy_at is its slot, b the processes to watch). */
static int attempt(claims_state *s, slot *sl, size_t n, const nvb_claim_owner *o, size_t *busy_at, blockers *b,
                   nvb_err *err)
{
    int r = -1;
    nvb_claim_holder proto = {0};
    size_t locked = 0, written = 0;
    for (; locked < n; locked++) {
        sl[locked].lock_fd = lock_key(s, sl[locked].key, LOCK_WAIT_MS, err);
        if (sl[locked].lock_fd < 0) {
            sl[locked].lock_fd = -1;
            goto out;
        }
    }
    /* Who asks, first: the conflict rules tell this caller's own entries by its process. */
    if (fill_holder(&proto, o, err) < 0)
        goto out;
    bool conflict = false;
    for (size_t i = 0; i < n; i++) {
        if (record_read(s, sl[i].key, &sl[i].rec, &sl[i].exists, &sl[i].old_text, &sl[i].old_len, err) < 0)
            goto out;
        if (prune_stale(&sl[i].rec, NULL) && record_write(s, sl[i].key, &sl[i].rec, err) < 0)
            goto out;
        if (sl[i].rec.n_holders == 0) {
            /* What the stale holders left is gone now: nothing to restore on failure. */
            free(sl[i].old_text);
            sl[i].old_text = NULL;
        }
        if (!conflict && conflicts(&sl[i].rec, &proto, sl[i].t.mode)) {
            conflict = true;
            *busy_at = i;
            busy_message(&sl[i], &proto, b, err);
        }
    }
    if (conflict)
        goto out;
    for (; written < n; written++) {
        if (add_holder(&sl[written].rec, &proto, &sl[written].t, err) < 0 ||
            record_write(s, sl[written].key, &sl[written].rec, err) < 0)
            goto undo;
    }
    r = 0;
    goto out;
undo:
    /* All or nothing: put back what this call replaced. */
    for (size_t i = 0; i <= written && i < n; i++)
        restore_text(s, sl[i].key, sl[i].old_text, sl[i].old_len);
out:
    nvb_claim_holder_clear(&proto);
    slots_unlock(sl, locked);
    return r;
}

static int pidfd_open_compat(pid_t pid)
{
#ifdef SYS_pidfd_open
    return (int)syscall(SYS_pidfd_open, pid, 0);
#else
    (void)pid;
    errno = ENOSYS;
    return -1;
#endif
}

/* Sleep until a record changes, a blocking process ends, or timeout_ms passes. */
static void wait_for_change(int ino_fd, const blockers *b, int timeout_ms)
{
    struct pollfd fds[1 + sizeof b->pids / sizeof b->pids[0]];
    size_t n = 0;
    if (ino_fd >= 0)
        fds[n++] = (struct pollfd){.fd = ino_fd, .events = POLLIN};
    for (size_t i = 0; i < b->n; i++) {
        int fd = pidfd_open_compat(b->pids[i]);
        if (fd >= 0)
            fds[n++] = (struct pollfd){.fd = fd, .events = POLLIN};
        else if (errno == ESRCH)
            timeout_ms = 0; /* already gone: look again now */
    }
    if (poll(fds, n, timeout_ms) > 0 && ino_fd >= 0 && (fds[0].revents & POLLIN)) {
        char buf[4096];
        while (read(ino_fd, buf, sizeof buf) > 0) {
        }
    }
    for (size_t i = ino_fd >= 0 ? 1 : 0; i < n; i++)
        close(fds[i].fd);
}

bool nvb_claim_text_ok(const char *s)
{
    return nvb_shown_plain(s);
}

/* What a claim record cannot hold is refused here, before anything is written: a record
 * that failed to encode one holder was written without it (an exclusive claim with no
 * holder), and every later claim on that GPU was refused as a damaged record. */
static int check_request(const nvb_claim_owner *o, const nvb_claim_target *t, size_t n, nvb_err *err)
{
    if (!o || !o->container || !*o->container)
        return nvb_errf(err, NVB_EXIT_USAGE, "a GPU claim needs a container id");
    if (strlen(o->container) > 1024)
        return nvb_errf(err, NVB_EXIT_USAGE, "container id is longer than 1024 bytes");
    if (!nvb_claim_text_ok(o->container))
        return nvb_errf(err, NVB_EXIT_USAGE, "container id: %s", NVB_CLAIM_TEXT_RULE);
    if (o->runtime && !nvb_claim_text_ok(o->runtime))
        return nvb_errf(err, NVB_EXIT_USAGE, "runtime name: %s", NVB_CLAIM_TEXT_RULE);
    if (o->oci_state && o->oci_state[0] != '/')
        return nvb_errf(err, NVB_EXIT_USAGE, "OCI state file %s: must be an absolute path", o->oci_state);
    if (o->oci_state && !nvb_claim_text_ok(o->oci_state))
        return nvb_errf(err, NVB_EXIT_USAGE, "OCI state file: %s", NVB_CLAIM_TEXT_RULE);
    for (size_t i = 0; i < n; i++) {
        if (!t[i].device.uuid || !*t[i].device.uuid)
            return nvb_errf(err, NVB_EXIT_USAGE, "GPU claim target %zu has no UUID", i);
        if (strlen(t[i].device.uuid) > 200)
            return nvb_errf(err, NVB_EXIT_USAGE, "GPU claim target %zu: UUID longer than 200 bytes", i);
        if (!nvb_claim_text_ok(t[i].device.uuid))
            return nvb_errf(err, NVB_EXIT_USAGE, "GPU claim target %zu: UUID: %s", i, NVB_CLAIM_TEXT_RULE);
    }
    return 0;
}

int nvb_claims_acquire(const char *state_dir, const nvb_claim_owner *owner, const nvb_claim_target *targets,
                       size_t n, int wait_seconds, size_t *conflict, nvb_err *err)
{
    /* Waiting depends on telling "busy" from other failures: keep an error even when the
     * caller does not want one. */
    nvb_err local = {0};
    if (!err)
        err = &local;
    if (check_request(owner, targets, n, err) < 0)
        return -1;
    if (n == 0)
        return 0;
    slot *sl = calloc(n, sizeof *sl);
    if (!sl)
        return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    size_t m = 0;
    int r = -1, ino_fd = -1;
    claims_state s;
    if (state_open(state_dir, true, &s, err) != 0)
        goto out_free;
    if (s.read_only) {
        nvb_errf(err, NVB_EXIT_IO, "cannot claim GPUs: %s is not writable by uid %u; root and members of group %s "
                 "claim GPUs (see nvbind doctor)", s.claims_dir, (unsigned)s.me, NVB_CLAIMS_GROUP);
        goto out;
    }
    /* Sort by key and merge duplicates (the strongest mode wins): locking in one global
     * order is what keeps overlapping requests from deadlocking. */
    for (size_t i = 0; i < n; i++) {
        char *key = nvb_claim_key(targets[i].device.uuid);
        if (!key) {
            nvb_errf(err, NVB_EXIT_IO, "out of memory");
            goto out;
        }
        size_t j = 0;
        for (; j < m && strcmp(sl[j].key, key) != 0; j++) {
        }
        if (j < m) {
            free(key);
            if (targets[i].mode == NVB_CLAIM_EXCLUSIVE)
                sl[j].t.mode = NVB_CLAIM_EXCLUSIVE;
            continue;
        }
        sl[m] = (slot){.t = targets[i], .orig = i, .key = key, .lock_fd = -1};
        sl[m].rec.mig_index = -1;
        m++;
    }
    qsort(sl, m, sizeof *sl, cmp_slot);

    int64_t start = nvb_mono_ms();
    int64_t deadline = wait_seconds > 0 ? start + (int64_t)wait_seconds * 1000 : -1;
    int backoff = WAIT_BACKOFF_START_MS;
    for (;;) {
        size_t busy_at = 0;
        blockers b = {0};
        r = attempt(&s, sl, m, owner, &busy_at, &b, err);
        if (r == 0 || err->exit_code != NVB_EXIT_BUSY)
            break;
        if (conflict)
            *conflict = sl[busy_at].orig;
        if (wait_seconds == NVB_CLAIM_NO_WAIT)
            break;
        int64_t now = nvb_mono_ms();
        if (deadline >= 0 && now >= deadline) {
            char msg[sizeof err->msg];
            snprintf(msg, sizeof msg, "%s", err->msg);
            nvb_errf(err, NVB_EXIT_BUSY, "%s; gave up after %d s", msg, wait_seconds);
            break;
        }
        if (ino_fd < 0) {
            ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
            if (ino_fd >= 0 &&
                inotify_add_watch(ino_fd, s.claims_dir, IN_MOVED_TO | IN_DELETE | IN_CLOSE_WRITE | IN_ATTRIB) < 0) {
                close(ino_fd);
                ino_fd = -2; /* polling only; do not try again */
            }
            if (ino_fd >= 0)
                continue; /* a release between the check and the watch would be missed: look again */
        }
        int timeout = backoff;
        if (deadline >= 0 && deadline - now < timeout)
            timeout = (int)(deadline - now);
        wait_for_change(ino_fd, &b, timeout);
        backoff = backoff * 2 > WAIT_BACKOFF_MAX_MS ? WAIT_BACKOFF_MAX_MS : backoff * 2;
    }
out:
    if (ino_fd >= 0)
        close(ino_fd);
    state_close(&s);
out_free:
    for (size_t i = 0; i < m; i++)
        free(sl[i].key);
    free(sl);
    return r;
}

/* Walking every record -------------------------------------------------------------------- */

/* Calls fn on each record under its lock; fn may change the record (return 1 to have it
 * written back). locked tells fn whether its change can be written: a listing whose lock
 * another process holds past LIST_LOCK_WAIT_MS reads the record without it instead. */
typedef int (*record_fn)(nvb_claim_record *rec, bool locked, void *ctx, nvb_err *err);

/* How long a listing waits for a device's lock before it reads that record unlocked (and
 * leaves its stale holders for the next look). */
#define LIST_LOCK_WAIT_MS 1000

static bool is_leftover_temp(const char *name, pid_t *pid)
{
    /* nvb_write_file_atomic_at's temporaries: ".<name>.tmp.<pid>.<random>" (".<name>.tmp.<pid>" before) */
    const char *t = strstr(name, ".json.tmp.");
    if (name[0] != '.' || !t)
        return false;
    char *end;
    long p = strtol(t + 10, &end, 10);
    if ((*end && *end != '.') || p <= 0)
        return false;
    *pid = (pid_t)p;
    return true;
}

/* listing: damaged is where a listing puts what it could not read (each record then left
 * out, the rest listed); NULL for a change, which stops at the first. */
static int walk_records(claims_state *s, record_fn fn, void *ctx, nvb_strv *damaged, nvb_err *err)
{
    bool listing = damaged != NULL;
    int dfd = openat(s->claims_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return nvb_errf_errno(err, NVB_EXIT_IO, errno, "cannot list %s", s->claims_dir);
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return nvb_errf_errno(err, NVB_EXIT_IO, errno, "cannot list %s", s->claims_dir);
    }
    nvb_strv keys = {0};
    struct dirent *de;
    while ((de = readdir(d))) {
        pid_t tp;
        if (is_leftover_temp(de->d_name, &tp)) {
            /* A writer killed between creating its temporary and renaming it. */
            if (!s->read_only && nvb_proc_start_time(tp) == 0)
                unlinkat(s->claims_fd, de->d_name, 0);
            continue;
        }
        char *key = nvb_claims_file_key(de->d_name);
        if (!key || nvb_strv_contains(&keys, key)) {
            free(key);
            continue;
        }
        if (nvb_strv_push_take(&keys, key) < 0) {
            closedir(d);
            nvb_strv_free(&keys);
            return nvb_errf(err, NVB_EXIT_IO, "out of memory");
        }
    }
    closedir(d);
    int r = 0;
    for (size_t i = 0; r == 0 && i < keys.n; i++) {
        /* A reader goes without the lock: each file is replaced whole, never seen half. */
        int lfd = s->read_only ? -1 : lock_key(s, keys.v[i], listing ? LIST_LOCK_WAIT_MS : LOCK_WAIT_MS, err);
        if (!s->read_only && (lfd == -1 || (lfd == -2 && !listing))) {
            r = -1;
            break;
        }
        bool unlocked = lfd == -2, was_read_only = s->read_only;
        if (unlocked) {
            nvb_err_clear(err);
            s->read_only = true; /* a writer may be halfway through: remove nothing it made */
        }
        nvb_claim_record rec;
        bool exists;
        r = record_read(s, keys.v[i], &rec, &exists, NULL, NULL, err);
        s->read_only = was_read_only;
        if (r < 0 && listing && err && err->exit_code == NVB_EXIT_INPUT) {
            /* One damaged or forged record must not hide every other claim. */
            r = nvb_strv_push(damaged, err->msg);
            exists = false;
        }
        if (r == 0 && exists) {
            int c = fn(&rec, lfd >= 0, ctx, err);
            if (c < 0)
                r = -1;
            else if (c > 0 && lfd >= 0)
                r = record_write(s, keys.v[i], &rec, err);
        }
        nvb_claim_record_clear(&rec);
        if (lfd >= 0)
            close(lfd);
    }
    nvb_strv_free(&keys);
    return r;
}

typedef struct release_ctx {
    const char *container;
    int dropped;
    pid_t init_pid;
    unsigned long long init_start;
    pid_t holder_pid;                 /* release: only this holder's entries; 0 = any */
    unsigned long long holder_start;
} release_ctx;

static bool release_matches(const nvb_claim_holder *h, const release_ctx *c)
{
    if (strcmp(h->container, c->container) != 0)
        return false;
    return c->holder_pid == 0 || (h->holder_pid == c->holder_pid && h->holder_start == c->holder_start);
}

static int release_one(nvb_claim_record *rec, bool locked, void *vctx, nvb_err *err)
{
    (void)err;
    release_ctx *c = vctx;
    size_t before = rec->n_holders;
    for (size_t i = 0; i < rec->n_holders;)
        if (release_matches(&rec->holders[i], c))
            remove_holder(rec, i);
        else
            i++;
    c->dropped += (int)(before - rec->n_holders);
    size_t stale = prune_stale(rec, NULL);
    return before != rec->n_holders || stale ? 1 : 0;
}

int nvb_claims_release(const char *state_dir, const char *container, nvb_err *err)
{
    return nvb_claims_release_holder(state_dir, container, 0, 0, err);
}

int nvb_claims_release_holder(const char *state_dir, const char *container, pid_t holder_pid,
                              unsigned long long holder_start, nvb_err *err)
{
    if (!container || !*container)
        return nvb_errf(err, NVB_EXIT_USAGE, "releasing GPU claims needs a container id");
    claims_state s;
    int o = state_open(state_dir, false, &s, err);
    if (o != 0)
        return o > 0 ? 0 : -1;
    release_ctx c = {.container = container, .holder_pid = holder_pid, .holder_start = holder_start};
    int r = walk_records(&s, release_one, &c, NULL, err);
    state_close(&s);
    return r < 0 ? -1 : c.dropped;
}

static int set_init_one(nvb_claim_record *rec, bool locked, void *vctx, nvb_err *err)
{
    (void)err;
    release_ctx *c = vctx;
    int changed = 0;
    for (size_t i = 0; i < rec->n_holders; i++) {
        if (strcmp(rec->holders[i].container, c->container) != 0)
            continue;
        rec->holders[i].init_pid = c->init_pid;
        rec->holders[i].init_start = c->init_start;
        c->dropped++;
        changed = 1;
    }
    return changed;
}

int nvb_claims_set_init(const char *state_dir, const char *container, pid_t init_pid, nvb_err *err)
{
    if (!container || !*container)
        return nvb_errf(err, NVB_EXIT_USAGE, "recording a container's init process needs a container id");
    unsigned long long start = nvb_proc_start_time(init_pid);
    if (!start)
        return nvb_errf(err, NVB_EXIT_USAGE, "container %s: init process %ld is not running", container, (long)init_pid);
    claims_state s;
    int o = state_open(state_dir, false, &s, err);
    if (o != 0)
        return o > 0 ? 0 : -1;
    release_ctx c = {.container = container, .init_pid = init_pid, .init_start = start};
    int r = walk_records(&s, set_init_one, &c, NULL, err);
    state_close(&s);
    return r < 0 ? -1 : c.dropped;
}

typedef struct list_ctx {
    nvb_claim_list *out;
    bool read_only;   /* a reader drops stale holders from what it shows, but removes nothing */
} list_ctx;

static int list_one(nvb_claim_record *rec, bool locked, void *vctx, nvb_err *err)
{
    list_ctx *c = vctx;
    size_t stale = prune_stale(rec, c->read_only || !locked ? NULL : &c->out->reclaimed);
    if (rec->n_holders) {
        nvb_claim_record *nv = realloc(c->out->v, (c->out->n + 1) * sizeof *nv);
        if (!nv)
            return nvb_errf(err, NVB_EXIT_IO, "out of memory");
        c->out->v = nv;
        /* Hand a copy over through JSON: the caller's record must not share strings with rec. */
        json_t *j = nvb_claim_record_to_json(rec);
        char *text = j ? json_dumps(j, 0) : NULL;
        json_decref(j);
        int r = text ? nvb_claim_record_parse(text, strlen(text), "(copy)", &c->out->v[c->out->n], err) : -1;
        free(text);
        if (r < 0)
            return nvb_errf(err, NVB_EXIT_IO, "out of memory");
        c->out->n++;
    }
    return stale ? 1 : 0;
}

static int cmp_record(const void *a, const void *b)
{
    const nvb_claim_record *x = a, *y = b;
    if (x->gpu_index != y->gpu_index)
        return x->gpu_index < y->gpu_index ? -1 : 1;
    if (x->mig_index != y->mig_index)
        return x->mig_index < y->mig_index ? -1 : 1;
    return strcmp(x->uuid, y->uuid);
}

static int list(const char *state_dir, bool peek, nvb_claim_list *out, nvb_err *err)
{
    memset(out, 0, sizeof *out);
    claims_state s;
    int o = state_open(state_dir, false, &s, err);
    if (o != 0)
        return o > 0 ? 0 : -1;
    if (peek)
        s.read_only = true; /* no lock taken, nothing removed */
    list_ctx c = {out, s.read_only};
    int r = walk_records(&s, list_one, &c, &out->damaged, err);
    state_close(&s);
    if (r < 0) {
        nvb_claim_list_free(out);
        return -1;
    }
    if (out->n > 1)
        qsort(out->v, out->n, sizeof *out->v, cmp_record);
    return 0;
}

int nvb_claims_list(const char *state_dir, nvb_claim_list *out, nvb_err *err)
{
    return list(state_dir, false, out, err);
}

int nvb_claims_peek(const char *state_dir, nvb_claim_list *out, nvb_err *err)
{
    return list(state_dir, true, out, err);
}

void nvb_claim_list_free(nvb_claim_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        nvb_claim_record_clear(&l->v[i]);
    free(l->v);
    nvb_strv_free(&l->reclaimed);
    nvb_strv_free(&l->damaged);
    memset(l, 0, sizeof *l);
}
