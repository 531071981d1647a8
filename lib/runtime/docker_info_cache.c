/* docker's /info kept between runs: see docker_info_cache.h. */
#include "runtime/docker_info_cache.h"
#include "isolation/procid.h"
#include "util/cleanup.h"
#include "util/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CACHE_DIR "docker-info"
#define CACHE_MAX (1 << 20)
#define CMDLINE_MAX (64 * 1024)
/* The file must predate the daemon by more than the kernel's coarse clock and a tick of the
 * process start time can blur. */
#define BEFORE_START_NS (10 * 1000 * 1000LL)

static bool is_dockerd(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/comm", (long)pid);
    _cleanup_free_ char *comm = nvb_read_file(path, 256, NULL);
    struct stat st;
    snprintf(path, sizeof path, "/proc/%ld", (long)pid);
    return comm && strcmp(comm, "dockerd\n") == 0 && stat(path, &st) == 0 && st.st_uid == 0;
}

/* The daemon's arguments, NUL-separated, and their end. */
static char *read_cmdline(pid_t pid, size_t *len)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/cmdline", (long)pid);
    return nvb_read_file(path, CMDLINE_MAX, len);
}

static const char *next_arg(const char *a, const char *end)
{
    a += strlen(a) + 1;
    return a < end ? a : NULL;
}

/* The configuration file dockerd reads: its --config-file (made absolute from its working
 * folder), else /etc/docker/daemon.json. With fd_only, also whether it takes its sockets from
 * systemd (-H fd://); -1 when not. */
static int config_file(pid_t pid, bool fd_only, char *out, size_t n)
{
    size_t len = 0;
    _cleanup_free_ char *cmd = read_cmdline(pid, &len);
    if (!cmd || len == 0)
        return -1;
    const char *end = cmd + len, *conf = "/etc/docker/daemon.json";
    bool from_systemd = false;
    for (const char *a = cmd; a; a = next_arg(a, end)) {
        const char *next = next_arg(a, end);
        if (strcmp(a, "--config-file") == 0 && next)
            conf = next;
        else if (strncmp(a, "--config-file=", 14) == 0)
            conf = a + 14;
        from_systemd |= strncmp(a, "fd://", 5) == 0 || strncmp(a, "--host=fd://", 12) == 0;
    }
    if (fd_only && !from_systemd)
        return -1;
    if (conf[0] == '/')
        return snprintf(out, n, "%s", conf) < (int)n ? 0 : -1;
    char link[64], cwd[4096];
    snprintf(link, sizeof link, "/proc/%ld/cwd", (long)pid);
    ssize_t l = readlink(link, cwd, sizeof cwd - 1);
    if (l <= 0)
        return -1;
    cwd[l] = '\0';
    return snprintf(out, n, "%s/%s", cwd, conf) < (int)n ? 0 : -1;
}

/* systemd's socket activation: the socket's listener is systemd, the daemon the one of
 * docker's default pidfile, when it takes its sockets from systemd; 0 when unknown. */
static pid_t activated_daemon(const char *socket_path)
{
    if (strcmp(socket_path, "/var/run/docker.sock") != 0 && strcmp(socket_path, "/run/docker.sock") != 0)
        return 0;
    _cleanup_free_ char *text = nvb_read_file("/var/run/docker.pid", 64, NULL);
    long pid = text ? strtol(text, NULL, 10) : 0;
    char conf[8];
    if (pid <= 1 || !is_dockerd((pid_t)pid) || config_file((pid_t)pid, true, conf, sizeof conf) == -1)
        return 0;
    return (pid_t)pid;
}

static bool same_mount_namespace(pid_t pid)
{
    char path[64], mine[64] = "", its[64] = "";
    snprintf(path, sizeof path, "/proc/%ld/ns/mnt", (long)pid);
    ssize_t a = readlink("/proc/self/ns/mnt", mine, sizeof mine - 1), b = readlink(path, its, sizeof its - 1);
    return a > 0 && a == b && memcmp(mine, its, (size_t)a) == 0;
}

static int64_t ns_of(struct timespec t)
{
    return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* When the process that started `start` ticks after boot started, on the wall clock. */
static int64_t started_at(unsigned long long start)
{
    struct timespec now, boot;
    long hz = sysconf(_SC_CLK_TCK);
    if (hz <= 0 || clock_gettime(CLOCK_REALTIME, &now) < 0 || clock_gettime(CLOCK_BOOTTIME, &boot) < 0)
        return INT64_MIN;
    return ns_of(now) - ns_of(boot) + (int64_t)(start * (1000000000ULL / (unsigned long long)hz));
}

bool nvb_docker_info_key_of(int fd, const char *socket_path, nvb_docker_info_key *key)
{
    key->text[0] = '\0';
    key->keep = false;
    struct ucred cr;
    socklen_t cl = sizeof cr;
    if (geteuid() != 0 || fd < 0 || strchr(socket_path, '\n') ||
        getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) < 0 || cr.uid != 0 || cr.pid <= 0)
        return false;
    pid_t pid = is_dockerd(cr.pid) ? cr.pid : activated_daemon(socket_path);
    unsigned long long start = pid > 0 ? nvb_proc_start_time(pid) : 0;
    char boot[NVB_BOOT_ID_LEN + 1], conf[4096];
    if (!start || !nvb_boot_id(boot) || !same_mount_namespace(pid) || config_file(pid, false, conf, sizeof conf) < 0 ||
        strchr(conf, '\n'))
        return false;
    struct stat f, d;
    bool exists = stat(conf, &f) == 0;
    char dir[sizeof conf];
    snprintf(dir, sizeof dir, "%s", conf);
    if ((!exists && errno != ENOENT) || stat(dirname(dir), &d) < 0)
        return false;
    /* A file changed after the daemon started may or may not have been reloaded: not kept.
     * Without one, its folder stands for it (a file made and removed since). */
    int64_t changed = exists ? ns_of(f.st_ctim) : ns_of(d.st_ctim);
    key->keep = changed + BEFORE_START_NS < started_at(start);
    int n = exists ? snprintf(key->text, sizeof key->text,
                              "nvbind-docker-info 1 boot=%s pid=%ld start=%llu socket=%s config=%s "
                              "file=%llu:%llu:%lld:%lld:%lld\n",
                              boot, (long)pid, start, socket_path, conf, (unsigned long long)f.st_dev,
                              (unsigned long long)f.st_ino, (long long)f.st_size, (long long)ns_of(f.st_mtim),
                              (long long)ns_of(f.st_ctim))
                   : snprintf(key->text, sizeof key->text,
                              "nvbind-docker-info 1 boot=%s pid=%ld start=%llu socket=%s config=%s "
                              "absent folder=%llu:%llu:%lld\n",
                              boot, (long)pid, start, socket_path, conf, (unsigned long long)d.st_dev,
                              (unsigned long long)d.st_ino, (long long)ns_of(d.st_ctim));
    if (n <= 0 || (size_t)n >= sizeof key->text) {
        key->text[0] = '\0';
        key->keep = false;
        return false;
    }
    return true;
}

/* One file per socket: FNV-1a of its path. */
static void cache_name(const char *socket_path, char *out, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (const unsigned char *p = (const unsigned char *)socket_path; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    snprintf(out, n, "%016llx.info", (unsigned long long)h);
}

/* The cache folder, root's alone (anything else there is not trusted); -1 when there is
 * none (create: made, and state_dir when its parent exists). */
static int open_cache_dir(const char *state_dir, bool create)
{
    if (!state_dir || !*state_dir)
        state_dir = "/run/nvbind";
    if (create)
        mkdir(state_dir, 0700); /* as the claims make it (their parents exist: /run) */
    _cleanup_close_ int sfd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (sfd < 0)
        return -1;
    if (create)
        mkdirat(sfd, CACHE_DIR, 0700);
    int fd = openat(sfd, CACHE_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (fd >= 0 && (fstat(fd, &st) < 0 || st.st_uid != 0 || (st.st_mode & 077))) {
        close(fd);
        return -1;
    }
    return fd;
}

bool nvb_docker_info_load(const char *state_dir, const char *socket_path, const nvb_docker_info_key *key,
                          char *info, size_t len)
{
    if (!key->text[0] || !key->keep)
        return false;
    _cleanup_close_ int dfd = open_cache_dir(state_dir, false);
    char name[64];
    cache_name(socket_path, name, sizeof name);
    _cleanup_close_ int fd = dfd < 0 ? -1 : openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != 0 || (st.st_mode & 077) ||
        st.st_size > CACHE_MAX)
        return false;
    _cleanup_free_ char *text = malloc((size_t)st.st_size + 1);
    ssize_t got = text ? pread(fd, text, (size_t)st.st_size, 0) : -1;
    if (got != st.st_size)
        return false;
    text[got] = '\0';
    size_t kl = strlen(key->text);
    if (strncmp(text, key->text, kl) != 0 || (size_t)got - kl >= len)
        return false;
    memcpy(info, text + kl, (size_t)got - kl + 1);
    return true;
}

void nvb_docker_info_store(const char *state_dir, const char *socket_path, const nvb_docker_info_key *key,
                           const char *info)
{
    if (!key->text[0] || !key->keep)
        return;
    _cleanup_close_ int dfd = open_cache_dir(state_dir, true);
    if (dfd < 0)
        return;
    size_t kl = strlen(key->text), il = strlen(info);
    _cleanup_free_ char *text = malloc(kl + il + 1);
    if (!text)
        return;
    memcpy(text, key->text, kl);
    memcpy(text + kl, info, il + 1);
    char name[64];
    cache_name(socket_path, name, sizeof name);
    /* Atomic: a reader sees the old answer or the new one, never half of one. */
    nvb_write_file_atomic_at(dfd, CACHE_DIR, name, text, kl + il, 0600, NULL);
}
