/* The files behind the GPU claims: one record file per writer and device, trusted only as
 * its name and owner agree. See claims_files.h. */
#include "isolation/claims_files.h"
#include "isolation/group.h"
#include "util/cleanup.h"
#include "util/fileio.h"
#include "util/json_text.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RECORD_MAX (4 * 1024 * 1024)
#define MAX_WRITERS 256

void nvb_claims_share_folder(claims_state *s)
{
    gid_t gid = s->me == 0 ? nvb_group_shared_folder(s->dir_fd) : (gid_t)-1;
    if (gid == (gid_t)-1)
        return;
    int subs[] = {s->claims_fd, s->locks_fd};
    for (size_t i = 0; i < 2; i++)
        if (fchown(subs[i], 0, gid) == 0)
            fchmod(subs[i], 03775);
}

char *nvb_claims_file_key(const char *name)
{
    size_t l = strlen(name);
    if (name[0] == '.' || l <= 5 || strcmp(name + l - 5, ".json") != 0)
        return NULL;
    const char *at = memchr(name, '@', l - 5);
    return strndup(name, at ? (size_t)(at - name) : l - 5);
}

/* The writer a record file name of key stands for: 1 with *uid set, 0 for another name. */
static int file_writer(const char *name, const char *key, uid_t *uid)
{
    size_t k = strlen(key);
    if (strncmp(name, key, k) != 0)
        return 0;
    if (strcmp(name + k, ".json") == 0) {
        *uid = 0;
        return 1;
    }
    if (name[k] != '@' || name[k + 1] < '1' || name[k + 1] > '9')
        return 0;
    char *end;
    unsigned long u = strtoul(name + k + 1, &end, 10);
    if (strcmp(end, ".json") != 0 || u > 0xfffffffeUL)
        return 0;
    *uid = (uid_t)u;
    return 1;
}

static void file_name(char *buf, size_t n, const char *key, uid_t uid)
{
    if (uid == 0)
        snprintf(buf, n, "%s.json", key);
    else
        snprintf(buf, n, "%s@%u.json", key, (unsigned)uid);
}

/* The writers that have a file for key (root's first when present). */
static int key_writers(claims_state *s, const char *key, uid_t *uids, size_t *n, nvb_err *err)
{
    *n = 0;
    int dfd = openat(s->claims_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = dfd < 0 ? NULL : fdopendir(dfd);
    if (!d) {
        if (dfd >= 0)
            close(dfd);
        return nvb_errf_errno(err, NVB_EXIT_IO, errno, "cannot list %s", s->claims_dir);
    }
    struct dirent *de;
    while ((de = readdir(d)) && *n < MAX_WRITERS) {
        uid_t u;
        if (file_writer(de->d_name, key, &u))
            uids[(*n)++] = u;
    }
    closedir(d);
    return 0;
}

/* Is the open file fd, named for writer uid, one that writer made? */
static bool file_trusted(int fd, uid_t uid)
{
    struct stat st;
    return fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink == 1 && st.st_uid == uid &&
           !(st.st_mode & (S_IWGRP | S_IWOTH));
}

/* A uid's file speaks only for that uid. */
static bool holders_are(const nvb_claim_record *r, uid_t uid)
{
    for (size_t i = 0; uid != 0 && i < r->n_holders; i++)
        if (r->holders[i].uid != uid)
            return false;
    return true;
}

static char *read_all(int fd, size_t *len)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        if (n == cap) {
            char *nb = cap >= RECORD_MAX ? NULL : realloc(buf, 2 * cap + 1);
            if (!nb) {
                free(buf);
                errno = cap >= RECORD_MAX ? EFBIG : ENOMEM;
                return NULL;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            free(buf);
            errno = e;
            return NULL;
        }
        if (r == 0) {
            buf[n] = '\0';
            *len = n;
            return buf;
        }
        n += (size_t)r;
    }
    return NULL;
}

/* Move part's holders into rec (part is left empty). */
static int merge(nvb_claim_record *rec, nvb_claim_record *part, uid_t uid, nvb_err *err)
{
    if (!rec->uuid) {
        rec->uuid = NVB_TAKE(part->uuid);
        rec->parent_uuid = NVB_TAKE(part->parent_uuid);
        rec->gpu_index = part->gpu_index;
        rec->mig_index = part->mig_index;
    }
    if (part->mode == NVB_CLAIM_EXCLUSIVE)
        rec->mode = NVB_CLAIM_EXCLUSIVE;
    nvb_claim_holder *nv = realloc(rec->holders, (rec->n_holders + part->n_holders + 1) * sizeof *nv);
    if (!nv)
        return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    rec->holders = nv;
    for (size_t i = 0; i < part->n_holders; i++) {
        part->holders[i].file_uid = uid;
        rec->holders[rec->n_holders++] = part->holders[i];
    }
    part->n_holders = 0;
    return 0;
}

/* Read one writer's file into rec. A file that fails the trust test is skipped (root removes
 * it: the device's lock is held). */
static int read_one(claims_state *s, const char *key, uid_t uid, nvb_claim_record *rec, char **own_text,
                    size_t *own_len, nvb_err *err)
{
    char name[512], where[1024];
    file_name(name, sizeof name, key, uid);
    snprintf(where, sizeof where, "%s/%s", s->claims_dir, name);
    _cleanup_close_ int fd = openat(s->claims_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0 && errno == ENOENT)
        return 0;
    if ((fd < 0 && errno == ELOOP) || (fd >= 0 && !file_trusted(fd, uid))) {
        if (s->me == 0 && !s->read_only)
            unlinkat(s->claims_fd, name, 0);
        return 0;
    }
    if (fd < 0)
        return nvb_errf_errno(err, NVB_EXIT_IO, errno, "cannot read claim record %s", where);
    size_t len;
    _cleanup_free_ char *buf = read_all(fd, &len);
    if (!buf)
        return nvb_errf_errno(err, NVB_EXIT_IO, errno, "cannot read claim record %s", where);
    nvb_claim_record part = {.mig_index = -1};
    if (nvb_claim_record_parse(buf, len, where, &part, err) < 0) {
        /* nvbind replaces records atomically: a broken one was edited by hand or by
         * something else. Refusing is safer than guessing who holds the device. */
        if (err) {
            char msg[sizeof err->msg];
            snprintf(msg, sizeof msg, "%s", err->msg);
            nvb_errf(err, NVB_EXIT_INPUT, "%s (remove the file if no container holds the device)", msg);
        }
        return -1;
    }
    int r = 0;
    _cleanup_free_ char *part_key = nvb_claim_key(part.uuid);
    if (!part_key) {
        r = nvb_errf(err, NVB_EXIT_IO, "out of memory");
    } else if (!holders_are(&part, uid) || strcmp(part_key, key) != 0) {
        /* A claim in another's name, or on another device than its file's name says (a member
         * could otherwise pile any number of files on one device): forged. */
        if (s->me == 0 && !s->read_only)
            unlinkat(s->claims_fd, name, 0);
    } else {
        r = merge(rec, &part, uid, err);
        if (r == 0 && own_text && uid == s->me) {
            *own_text = NVB_TAKE(buf);
            *own_len = len;
        }
    }
    nvb_claim_record_clear(&part);
    return r;
}

int nvb_claims_files_read(claims_state *s, const char *key, nvb_claim_record *rec, bool *exists, char **own_text,
                          size_t *own_len, nvb_err *err)
{
    memset(rec, 0, sizeof *rec);
    rec->mig_index = -1;
    *exists = false;
    if (own_text)
        *own_text = NULL;
    uid_t uids[MAX_WRITERS];
    size_t n;
    if (key_writers(s, key, uids, &n, err) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (read_one(s, key, uids[i], rec, own_text, own_len, err) < 0) {
            nvb_claim_record_clear(rec);
            if (own_text) {
                free(*own_text);
                *own_text = NULL;
            }
            return -1;
        }
    }
    *exists = rec->n_holders > 0;
    if (rec->n_holders != 1 && rec->mode == NVB_CLAIM_EXCLUSIVE)
        rec->mode = NVB_CLAIM_SHARED; /* exclusive files from two writers: one of them is stale or forged */
    return 0;
}

/* Write writer uid's part of rec (its holders), or remove its file when it has none. */
static int write_one(claims_state *s, const char *key, const nvb_claim_record *rec, uid_t uid, nvb_err *err)
{
    char name[512];
    file_name(name, sizeof name, key, uid);
    nvb_claim_record part = *rec;
    part.holders = calloc(rec->n_holders + 1, sizeof *part.holders);
    if (!part.holders)
        return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    part.n_holders = 0;
    for (size_t i = 0; i < rec->n_holders; i++)
        if (rec->holders[i].file_uid == uid)
            part.holders[part.n_holders++] = rec->holders[i];
    int r = 0;
    if (part.n_holders == 0) {
        if (unlinkat(s->claims_fd, name, 0) < 0 && errno != ENOENT)
            r = nvb_errf_errno(err, NVB_EXIT_IO, errno, "cannot remove claim record %s/%s", s->claims_dir, name);
        fsync(s->claims_fd);
    } else {
        json_t *j = nvb_claim_record_to_json(&part);
        _cleanup_free_ char *text = j ? nvb_json_dump_line(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
        json_decref(j);
        if (!text)
            r = nvb_errf(err, NVB_EXIT_IO, "claim record %s/%s: out of memory", s->claims_dir, name);
        else
            r = nvb_write_file_atomic_at(s->claims_fd, s->claims_dir, name, text, strlen(text),
                                         s->shared ? 0644 : 0600, err);
        /* Root rewrote a member's file: it stays that member's (and trusted as such). */
        if (r == 0 && uid != s->me && fchownat(s->claims_fd, name, uid, (gid_t)-1, AT_SYMLINK_NOFOLLOW) < 0)
            r = nvb_errf_errno(err, NVB_EXIT_IO, errno, "cannot give claim record %s/%s back to uid %u",
                               s->claims_dir, name, (unsigned)uid);
    }
    free(part.holders);
    return r;
}

int nvb_claims_files_write(claims_state *s, const char *key, const nvb_claim_record *rec, nvb_err *err)
{
    if (s->me != 0)
        return write_one(s, key, rec, s->me, err);
    uid_t uids[MAX_WRITERS + 1];
    size_t n;
    if (key_writers(s, key, uids, &n, err) < 0)
        return -1;
    for (size_t i = 0; i < rec->n_holders && n < MAX_WRITERS + 1; i++) {
        size_t j = 0;
        while (j < n && uids[j] != rec->holders[i].file_uid)
            j++;
        if (j == n)
            uids[n++] = rec->holders[i].file_uid;
    }
    for (size_t i = 0; i < n; i++)
        if (write_one(s, key, rec, uids[i], err) < 0)
            return -1;
    return 0;
}

int nvb_claims_files_restore(claims_state *s, const char *key, const char *text, size_t len)
{
    char name[512];
    file_name(name, sizeof name, key, s->me);
    if (!text)
        return unlinkat(s->claims_fd, name, 0) < 0 && errno != ENOENT ? -1 : 0;
    return nvb_write_file_atomic_at(s->claims_fd, s->claims_dir, name, text, len, s->shared ? 0644 : 0600, NULL);
}
