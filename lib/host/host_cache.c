#include "host/host_cache.h"
#include "host/deps.h"
#include "host/host_codec.h"
#include "util/bytes.h"
#include "util/fileio.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Raised whenever the record's layout or what a model holds changes; the binary's own
 * identity is in the key too, so a rebuilt nvbind never reads another build's record. */
#define FORMAT "nvbind host cache 1"
#define MAX_FILE (8u << 20)

/* The cache folder for this user, in buf; NULL when there is none or it is turned off. */
static const char *cache_dir(char *buf, size_t cap)
{
    const char *env = getenv("NVBIND_HOST_CACHE");
    if (env && *env) {
        if (env[0] != '/' || strlen(env) >= cap)
            return NULL; /* "off", or anything that is not a folder's absolute path */
        return strcpy(buf, env);
    }
    if (geteuid() == 0)
        return strcpy(buf, "/run/nvbind/host-cache");
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    if (!xdg || xdg[0] != '/' || snprintf(buf, cap, "%s/nvbind/host-cache", xdg) >= (int)cap)
        return NULL;
    return buf;
}

/* Whether a descriptor's file belongs to this user and no one else may write it (nor, for
 * the folder, look in it). */
static bool owned(int fd, bool dir)
{
    struct stat st;
    if (fstat(fd, &st) < 0 || st.st_uid != geteuid())
        return false;
    return dir ? S_ISDIR(st.st_mode) && !(st.st_mode & 077) : S_ISREG(st.st_mode) && !(st.st_mode & 022);
}

/* The cache folder, opened (made first when `make`, with the folders above it that are
 * missing); -1 when absent or not safe to use. */
static int open_dir(const char *path, bool make)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && make) {
        if (nvb_make_dirs(path, 0700, "for the host cache", NULL) < 0)
            return -1;
        fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (fd >= 0 && !owned(fd, true)) {
        close(fd);
        fd = -1;
        errno = EPERM;
    }
    return fd;
}

/* What decides the model besides the host: this binary, this user, the options. */
static void make_key(nvb_bytes_out *k, const nvb_discover_opts *o)
{
    nvb_bytes_str(k, FORMAT);
    nvb_bytes_u64(k, geteuid());
    struct stat st;
    if (stat("/proc/self/exe", &st) == 0) {
        int64_t id[] = {(int64_t)st.st_dev, (int64_t)st.st_ino, (int64_t)st.st_size, (int64_t)st.st_mtim.tv_sec,
                        (int64_t)st.st_mtim.tv_nsec, (int64_t)st.st_ctim.tv_sec, (int64_t)st.st_ctim.tv_nsec};
        nvb_bytes_put(k, id, sizeof id);
    } else {
        k->oom = true; /* no identity for the binary: no cache */
    }
    nvb_bytes_str(k, o->root && *o->root ? o->root : "/");
    nvb_bytes_str(k, o->driver_root && *o->driver_root ? o->driver_root : NULL);
    for (const char *const *p = o->library_search; p && *p; p++)
        nvb_bytes_str(k, *p);
    nvb_bytes_str(k, NULL);
    nvb_bytes_u64(k, (uint64_t)o->nvml_for_mig | (uint64_t)o->skip_pci_details << 1 | (uint64_t)o->every_vendor << 2);
}

/* A check over the record, so that a file damaged on disk or cut short is not read as a
 * model (a wrong byte in a path would otherwise read as another path): 64-bit words mixed
 * by multiplication, the tail byte by byte. Not a defence against a writer (the folder's and
 * the file's owner are: see open_dir and owned). */
static uint64_t check_of(const char *p, size_t n)
{
    uint64_t h = 0x9e3779b97f4a7c15ull ^ n;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdull;
        h ^= h >> 29;
    }
    for (; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 0xc4ceb9fe1a85ec53ull;
    return h ^ (h >> 32);
}

/* The file's name: the key's check (the key itself is inside, compared whole). */
static void file_name(char *out, const nvb_bytes_out *k)
{
    snprintf(out, 32, "host-%016llx", (unsigned long long)check_of(k->v, k->n));
}

static bool same_blob(nvb_bytes_in *in, const nvb_bytes_out *want)
{
    size_t len;
    const char *p = nvb_bytes_get_blob(in, &len);
    return p && len == want->n && memcmp(p, want->v, len) == 0;
}

/* The model the cached file holds, when its key and the host's state are still those it
 * was written for; NULL otherwise. */
static nvb_host *load(int dirfd, const char *dir, const char *name, const nvb_bytes_out *key)
{
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return NULL;
    struct stat st;
    nvb_host *h = NULL;
    const char *why = "not a regular file of this user's that only it can write";
    /* Mapped, not read: the page cache's pages come in a few faults, where a buffer of the
     * same size would be faulted in page by page. */
    void *map = MAP_FAILED;
    if (owned(fd, false) && fstat(fd, &st) == 0) {
        why = "empty or too large";
        if (st.st_size > 0 && (uint64_t)st.st_size <= MAX_FILE)
            map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    }
    close(fd);
    if (map == MAP_FAILED) {
        nvb_log(NVB_LOG_WARN, "host cache: %s/%s not used: %s", dir, name, why);
        return NULL;
    }
    nvb_bytes_in in = {map, (const char *)map + st.st_size, false};
    uint64_t check = nvb_bytes_get_u64(&in);
    bool intact = !in.bad && check == check_of(in.p, (size_t)(in.end - in.p));
    why = intact ? "written by another nvbind binary, user or set of options" : "damaged (its check does not match)";
    if (intact && same_blob(&in, key)) {
        size_t deps_len;
        const char *deps = nvb_bytes_get_blob(&in, &deps_len);
        nvb_bytes_in din = {deps, deps + deps_len, false};
        why = "a file or folder discovery looked at has changed";
        if (deps && nvb_deps_check(&din) && din.p == din.end) {
            why = "the model in it cannot be read";
            h = nvb_host_decode(&in);
        }
    }
    munmap(map, (size_t)st.st_size);
    if (h)
        nvb_log(NVB_LOG_INFO, "host cache: the host model from %s/%s", dir, name);
    else
        nvb_log(NVB_LOG_INFO, "host cache: %s/%s not used: %s", dir, name, why);
    return h;
}

static bool cacheable(const nvb_host *h)
{
    if (h->nvml_loaded || h->mig_unknown || h->wsl2)
        return false;
    for (size_t i = 0; i < h->n_gpus; i++)
        if (h->gpus[i].n_migs)
            return false;
    return true;
}

static void store(const char *dir, const char *name, const nvb_bytes_out *key, const nvb_deps *deps,
                  const nvb_host *h)
{
    nvb_bytes_out d = {0}, f = {0};
    nvb_deps_encode(&d, deps);
    nvb_bytes_u64(&f, 0); /* the check, once the rest is written */
    nvb_bytes_blob(&f, key->v, key->n);
    nvb_bytes_blob(&f, d.v, d.n);
    nvb_host_encode(&f, h);
    if (!f.oom) {
        uint64_t check = check_of(f.v + 8, f.n - 8);
        memcpy(f.v, &check, 8);
    }
    int dirfd = d.oom || f.oom ? -1 : open_dir(dir, true);
    if (dirfd >= 0) {
        nvb_err err = {0}; /* a cache that cannot be written is no failure: the next run discovers */
        if (nvb_write_file_volatile_at(dirfd, dir, name, f.v, f.n, 0600, &err) == 0) {
            nvb_log(NVB_LOG_INFO, "host cache: the host model written to %s/%s (%zu entries checked before use)",
                    dir, name, nvb_deps_count(deps));
        } else {
            nvb_log(NVB_LOG_WARN, "host cache: %s", err.msg);
        }
        close(dirfd);
    } else {
        nvb_log(NVB_LOG_WARN, "host cache: %s not used: cannot be made, or not a folder of this user's closed to others", dir);
    }
    free(d.v);
    free(f.v);
}

nvb_host *nvb_host_discover_cached(const nvb_discover_opts *opts, nvb_err *err)
{
    char dir[PATH_MAX];
    const char *root = opts->root && *opts->root ? opts->root : "/";
    /* Discovery through NVML is live state, never kept; a relative root names another host
     * from another folder. */
    if (opts->with_nvml || opts->deps || root[0] != '/' || !cache_dir(dir, sizeof dir))
        return nvb_host_discover(opts, err);
    struct timespec started;
    clock_gettime(CLOCK_REALTIME_COARSE, &started);
    nvb_bytes_out key = {0};
    char name[32];
    make_key(&key, opts);
    bool keyed = !key.oom; /* else out of memory, or no identity for this binary */
    nvb_host *h = NULL;
    if (keyed)
        file_name(name, &key);
    /* Debug logging asks for discovery's own decisions (every driver file considered): it
     * runs then, and its model is still kept for the runs after. */
    if (keyed && nvb_log_on(NVB_LOG_DEBUG)) {
        nvb_log(NVB_LOG_INFO, "host cache: not read: debug logging shows discovery's own decisions");
    } else if (keyed) {
        int dirfd = open_dir(dir, false);
        if (dirfd < 0 && errno != ENOENT)
            nvb_log(NVB_LOG_WARN, "host cache: %s not used: not a folder of this user's closed to others", dir);
        if (dirfd >= 0) {
            h = load(dirfd, dir, name, &key);
            close(dirfd);
        }
    }
    if (!h) {
        nvb_discover_opts o = *opts;
        o.deps = keyed ? nvb_deps_new() : NULL;
        h = nvb_host_discover(&o, err);
        if (h && o.deps) {
            if (!cacheable(h))
                nvb_log(NVB_LOG_INFO, "host cache: this discovery is not kept: it used NVML, or the host is WSL2");
            else if (nvb_deps_settle(o.deps, &started))
                store(dir, name, &key, o.deps, h);
            else
                nvb_log(NVB_LOG_INFO, "host cache: this discovery is not kept: the host changed during it or less "
                                      "than a second before it, or a file system does not keep times that follow "
                                      "changes");
        }
        nvb_deps_free(o.deps);
    }
    free(key.v);
    return h;
}
