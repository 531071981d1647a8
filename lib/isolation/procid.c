#include "isolation/procid.h"
#include "util/json_scan.h"
#include "util/cleanup.h"
#include "util/fileio.h"

#include <errno.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int nvb_proc_stat_parse(const char *text, char *state, unsigned long long *start_time)
{
    /* The command name (field 2) may hold spaces and ')': fields resume after the last ')'. */
    const char *p = strrchr(text, ')');
    if (!p || p[1] != ' ')
        return -1;
    p += 2;
    /* p is at field 3 (state); the start time is field 22, 19 fields further. */
    if (!*p || *p == ' ')
        return -1;
    *state = *p;
    for (int field = 3; field < 22; field++) {
        p = strchr(p, ' ');
        if (!p)
            return -1;
        p++;
    }
    char *end;
    errno = 0;
    unsigned long long v = strtoull(p, &end, 10);
    if (errno || end == p || (*end != ' ' && *end != '\n' && *end != '\0'))
        return -1;
    *start_time = v;
    return 0;
}

/* This process's own start time, read once: it cannot change while the process lives, and a
 * create asks for it twice (the holder of its lock, the holder of its claims). Keyed by the
 * pid, so a forked child reads its own. */
static pid_t self_pid;
static unsigned long long self_start;

unsigned long long nvb_proc_start_time(pid_t pid)
{
    if (pid <= 0)
        return 0;
    bool self = pid == getpid();
    if (self && __atomic_load_n(&self_pid, __ATOMIC_ACQUIRE) == pid)
        return __atomic_load_n(&self_start, __ATOMIC_RELAXED);
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    _cleanup_free_ char *text = nvb_read_file(path, 64 * 1024, NULL);
    char state;
    unsigned long long start;
    if (!text || nvb_proc_stat_parse(text, &state, &start) < 0)
        return 0;
    if (state == 'Z' || state == 'X' || state == 'x')
        return 0;
    /* A process that started in the first tick after boot reads 0; 0 means "none" here. */
    start = start ? start : 1;
    if (self) {
        __atomic_store_n(&self_start, start, __ATOMIC_RELAXED);
        __atomic_store_n(&self_pid, pid, __ATOMIC_RELEASE);
    }
    return start;
}

bool nvb_boot_id_valid(const char *s)
{
    for (size_t i = 0; i < NVB_BOOT_ID_LEN; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    }
    return s[NVB_BOOT_ID_LEN] == '\0';
}

/* The boot id cannot change while a process runs: read once, then every holder checked
 * and every claim made uses the copy. */
static char boot_id[NVB_BOOT_ID_LEN + 1];
static pthread_once_t boot_id_once = PTHREAD_ONCE_INIT;

static void read_boot_id(void)
{
    _cleanup_free_ char *text = nvb_read_file("/proc/sys/kernel/random/boot_id", 4096, NULL);
    if (!text || strlen(text) < NVB_BOOT_ID_LEN)
        return;
    text[NVB_BOOT_ID_LEN] = '\0'; /* drop the newline */
    if (nvb_boot_id_valid(text))
        memcpy(boot_id, text, NVB_BOOT_ID_LEN + 1);
}

bool nvb_boot_id(char *out)
{
    pthread_once(&boot_id_once, read_boot_id);
    memcpy(out, boot_id, NVB_BOOT_ID_LEN + 1);
    return out[0] != '\0';
}

bool nvb_proc_alive(pid_t pid, unsigned long long start_time)
{
    if (pid <= 0 || start_time == 0)
        return false;
    unsigned long long now = nvb_proc_start_time(pid);
    return now != 0 && now == start_time;
}

/* A JSON member that is a non-negative integer, or a string of digits (old runc). */
static int json_uint(json_t *v, unsigned long long *out)
{
    if (json_is_integer(v)) {
        if (json_integer_value(v) < 0)
            return -1;
        *out = (unsigned long long)json_integer_value(v);
        return 0;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;
        errno = 0;
        unsigned long long n = strtoull(s, &end, 10);
        if (errno || end == s || *end)
            return -1;
        *out = n;
        return 0;
    }
    return -1;
}

size_t nvb_oci_state_alternatives(const char *state_file, char *alt[2])
{
    static const struct {
        const char *file, *root, *other_file, *other_root;
    } layouts[] = {{"/state.json", "/run/runc/", "/status", "/run/crun/"},
                   {"/status", "/run/crun/", "/state.json", "/run/runc/"}};
    size_t n = 0, len = strlen(state_file);
    for (size_t i = 0; i < 2 && n == 0; i++) {
        size_t fl = strlen(layouts[i].file);
        if (len <= fl || strcmp(state_file + len - fl, layouts[i].file) != 0)
            continue;
        int folder = (int)(len - fl); /* <root>/<id> */
        if (asprintf(&alt[n], "%.*s%s", folder, state_file, layouts[i].other_file) >= 0)
            n++;
        size_t rl = strlen(layouts[i].root);
        const char *id = state_file + rl; /* its folder's name, one component */
        if ((size_t)folder > rl && strncmp(state_file, layouts[i].root, rl) == 0 &&
            !memchr(id, '/', (size_t)folder - rl) &&
            asprintf(&alt[n], "%s%.*s%s", layouts[i].other_root, (int)((size_t)folder - rl), id,
                     layouts[i].other_file) >= 0)
            n++;
    }
    return n;
}

static enum nvb_oci_init state_init_at(const char *state_file, uid_t owner, pid_t *pid,
                                       unsigned long long *start_time);

enum nvb_oci_init nvb_oci_state_init(const char *state_file, uid_t owner, pid_t *pid, unsigned long long *start_time)
{
    enum nvb_oci_init r = state_init_at(state_file, owner, pid, start_time);
    if (r != NVB_OCI_INIT_GONE || access(state_file, F_OK) == 0)
        return r; /* a file that is there says what it says */
    char *alt[2] = {NULL, NULL};
    size_t n = nvb_oci_state_alternatives(state_file, alt);
    for (size_t i = 0; i < n; i++) {
        if (r == NVB_OCI_INIT_GONE)
            r = state_init_at(alt[i], owner, pid, start_time);
        free(alt[i]);
    }
    return r;
}

static enum nvb_oci_init state_init_at(const char *state_file, uid_t owner, pid_t *pid,
                                       unsigned long long *start_time)
{
    /* The path comes from a claim record, which a member of the group may have written: a
     * device there is never opened (its driver's open would run as root), a link never
     * followed, and only a file of the record's own writer (the runtime it ran) counts. */
    struct stat st;
    _cleanup_close_ int fd = nvb_open_regular_at(AT_FDCWD, state_file, &st);
    if (fd < 0)
        return errno == ENOENT || errno == ENOTDIR || errno == EINVAL || errno == ELOOP ? NVB_OCI_INIT_GONE
                                                                                      : NVB_OCI_INIT_UNKNOWN;
    if (st.st_uid != owner)
        return NVB_OCI_INIT_GONE;
    size_t len;
    _cleanup_free_ char *text = nvb_read_fd(fd, 16 * 1024 * 1024, &len);
    if (!text)
        return NVB_OCI_INIT_UNKNOWN;
    /* runc's state.json carries the container's whole configuration under "config" (tens of
     * KB with the seccomp profile), and two numbers are wanted: that member is not parsed
     * where the scan finds it unambiguously (util/json_scan.h). Its inside is then not
     * checked either: liveness rests on the process's identity (pid and start time). */
    static const char *const config_member[] = {"config"};
    size_t cs, ce;
    json_t *doc = nvb_json_load_cut(text, len, config_member, 1, &cs, &ce);
    if (!doc)
        doc = json_loadb(text, len, 0, NULL);
    if (!json_is_object(doc)) {
        /* Both runtimes replace the file by rename: unreadable JSON is garbage left behind
         * by something else, not a container being written. */
        json_decref(doc);
        return NVB_OCI_INIT_GONE;
    }
    json_t *p = json_object_get(doc, "init_process_pid"), *s = json_object_get(doc, "init_process_start");
    if (!p) {
        p = json_object_get(doc, "pid");
        s = json_object_get(doc, "process-start-time");
    }
    unsigned long long pv, sv;
    enum nvb_oci_init r = NVB_OCI_INIT_GONE;
    if (p && s && json_uint(p, &pv) == 0 && json_uint(s, &sv) == 0 && pv > 0 && pv <= INT32_MAX && sv > 0) {
        *pid = (pid_t)pv;
        *start_time = sv;
        r = NVB_OCI_INIT_FOUND;
    }
    json_decref(doc);
    return r;
}

char *nvb_oci_state_file(const char *runtime, const char *root, const char *id)
{
    if (!id || !*id || id[0] == '.' || strchr(id, '/') || strlen(id) > 1024)
        return NULL;
    const char *base = runtime ? strrchr(runtime, '/') : NULL;
    base = base ? base + 1 : runtime;
    bool crun = base && strcmp(base, "crun") == 0;
    if (!root || !*root)
        root = crun ? "/run/crun" : "/run/runc";
    char *out = NULL;
    if (asprintf(&out, "%s%s%s/%s", root, root[strlen(root) - 1] == '/' ? "" : "/", id,
                 crun ? "status" : "state.json") < 0)
        return NULL;
    return out;
}
