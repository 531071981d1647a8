/* The driver's device nodes, made where missing: see devnodes_make.h. */
#include "host/devnodes_make.h"
#include "host/devchar.h"
#include "host/procfs.h"
#include "host/rootpath.h"
#include "util/cleanup.h"
#include "util/fileio.h"
#include "util/strv.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* How the driver wants its nodes (/proc/driver/nvidia/params), nvidia-modprobe's defaults
 * where it does not say. */
typedef struct owner {
    uid_t uid;
    gid_t gid;
    mode_t mode;
    bool modify;
} owner;

typedef struct ctx {
    nvb_rootpath rp;
    int dev, caps;     /* ROOT/dev, ROOT/dev/nvidia-caps (-1 until needed; -2 in a dry run without it) */
    bool dry_run;
    FILE *out, *err_out;
    nvb_devnodes_counts *counts;
} ctx;

static char *read_proc(ctx *c, const char *rel)
{
    _cleanup_free_ char *p = nvb_rootpath_host(&c->rp, rel);
    return p ? nvb_read_file(p, 1 << 16, NULL) : NULL;
}

static owner read_params(ctx *c)
{
    owner o = {.uid = 0, .gid = 0, .mode = 0666, .modify = true};
    _cleanup_free_ char *text = read_proc(c, "/proc/driver/nvidia/params");
    if (!text)
        return o;
    long v;
    if ((v = nvb_proc_number_field(text, "DeviceFileUID", UINT32_MAX - 1)) >= 0)
        o.uid = (uid_t)v;
    if ((v = nvb_proc_number_field(text, "DeviceFileGID", UINT32_MAX - 1)) >= 0)
        o.gid = (gid_t)v;
    if ((v = nvb_proc_number_field(text, "DeviceFileMode", 0777)) >= 0)
        o.mode = (mode_t)v;
    o.modify = nvb_proc_number_field(text, "ModifyDeviceFiles", 1) != 0;
    return o;
}

static void describe(char *buf, size_t n, const struct stat *st)
{
    if (S_ISCHR(st->st_mode))
        snprintf(buf, n, "c %u:%u %04o %u:%u", major(st->st_rdev), minor(st->st_rdev), st->st_mode & 07777,
                 (unsigned)st->st_uid, (unsigned)st->st_gid);
    else
        snprintf(buf, n, "%s", S_ISLNK(st->st_mode) ? "a link" : S_ISDIR(st->st_mode) ? "a folder" : "not a character device");
}

/* The node made under a temporary name in dir, given its owner and mode, then renamed over
 * name: a reader sees the old node or the new one, never one with the umask's mode. */
static int make_in(int dir, const char *name, dev_t rdev, const owner *o, const char *shown, nvb_err *err)
{
    char tmp[NAME_MAX + 1];
    snprintf(tmp, sizeof tmp, ".%s.nvbind-new", name);
    if (unlinkat(dir, tmp, 0) < 0 && errno != ENOENT)
        return nvb_errf_errno(err, NVB_EXIT_IO, errno, "removing a leftover %s.nvbind-new", shown);
    if (mknodat(dir, tmp, S_IFCHR | 0600, rdev) < 0)
        return nvb_errf_errno(err, NVB_EXIT_IO, errno, "making %s (c %u:%u)", shown, major(rdev), minor(rdev));
    if (fchownat(dir, tmp, o->uid, o->gid, AT_SYMLINK_NOFOLLOW) < 0 || fchmodat(dir, tmp, o->mode, 0) < 0 ||
        renameat(dir, tmp, dir, name) < 0) {
        int e = errno;
        unlinkat(dir, tmp, 0);
        return nvb_errf_errno(err, NVB_EXIT_IO, e, "making %s (c %u:%u, %u:%u, %04o)", shown, major(rdev), minor(rdev),
                              (unsigned)o->uid, (unsigned)o->gid, (unsigned)o->mode);
    }
    return 0;
}

/* One node: dir is ROOT/dev or ROOT/dev/nvidia-caps (-2: a dry run where it does not exist). */
static int node(ctx *c, int dir, const char *shown, const char *name, unsigned maj, unsigned min, const owner *o,
                nvb_err *err)
{
    dev_t rdev = makedev(maj, min);
    struct stat st;
    bool exists = dir >= 0 && fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
    char was[96] = "";
    if (exists) {
        describe(was, sizeof was, &st);
        if (!S_ISCHR(st.st_mode)) {
            c->counts->conflicts++;
            fprintf(c->err_out, "nvbind: %s is %s: left as it is (remove it and run again)\n", shown, was);
            return 0;
        }
        if (st.st_rdev == rdev && (st.st_mode & 07777) == o->mode && st.st_uid == o->uid && st.st_gid == o->gid) {
            c->counts->present++;
            return 0;
        }
    }
    if (!c->dry_run && make_in(dir, name, rdev, o, shown, err) < 0)
        return -1;
    if (exists)
        c->counts->replaced++;
    else
        c->counts->made++;
    fprintf(c->out, "%s %s c %u:%u %04o %u:%u%s%s%s\n",
            exists ? (c->dry_run ? "would replace" : "replaced") : (c->dry_run ? "would make" : "made"), shown, maj, min,
            (unsigned)o->mode, (unsigned)o->uid, (unsigned)o->gid, exists ? " (was " : "", was, exists ? ")" : "");
    return 0;
}

static int dev_node(ctx *c, const char *name, unsigned maj, unsigned min, const owner *o, nvb_err *err)
{
    char shown[64];
    snprintf(shown, sizeof shown, "/dev/%s", name);
    return node(c, c->dev, shown, name, maj, min, o, err);
}

/* Nodes are made, given root's owner and their mode only in a folder no one else could
 * write: in another user's folder the half-made node could be swapped for a link (that
 * fchmodat follows) or a hard link to a file of root's between two of these calls. */
static int folder_is_roots(int fd, const char *shown, nvb_err *err)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return nvb_errf_errno(err, NVB_EXIT_IO, errno, "checking %s", shown);
    if ((st.st_uid != 0 && st.st_uid != geteuid()) || (st.st_mode & (S_IWGRP | S_IWOTH)))
        return nvb_errf(err, NVB_EXIT_IO, "%s is owned by uid %u with mode %04o: device nodes are made only in a "
                                          "folder no one but root (or you) may write",
                        shown, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
    return 0;
}

/* ROOT/dev/nvidia-caps, made (0755, root's) if missing, never through a link. */
static int caps_dir(ctx *c, nvb_err *err)
{
    if (c->caps != -1)
        return 0;
    if (!c->dry_run && mkdirat(c->dev, "nvidia-caps", 0755) < 0 && errno != EEXIST)
        return nvb_errf_errno(err, NVB_EXIT_IO, errno, "making /dev/nvidia-caps");
    c->caps = openat(c->dev, "nvidia-caps", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (c->caps < 0 && !(c->dry_run && errno == ENOENT))
        return nvb_errf_errno(err, NVB_EXIT_IO, errno, "opening /dev/nvidia-caps (a folder, not a link)");
    if (c->caps < 0)
        c->caps = -2;
    return c->caps >= 0 ? folder_is_roots(c->caps, "/dev/nvidia-caps", err) : 0;
}

/* A capability file (DeviceFileMinor, DeviceFileMode): its /dev/nvidia-caps/nvidia-capN. */
static int cap_node(ctx *c, const char *host_path, unsigned caps_major, nvb_err *err)
{
    _cleanup_free_ char *text = nvb_read_file(host_path, 4096, NULL);
    long minor = text ? nvb_proc_number_field(text, "DeviceFileMinor", 1 << 20) : -1;
    if (minor < 0)
        return 0;
    long mode = nvb_proc_number_field(text, "DeviceFileMode", 0777);
    /* Capabilities are root's; their own file says who may open them (nvidia-modprobe's way). */
    owner o = {.uid = 0, .gid = 0, .mode = mode >= 0 ? (mode_t)mode : 0444};
    if (caps_dir(c, err) < 0)
        return -1;
    char name[32], shown[64];
    snprintf(name, sizeof name, "nvidia-cap%ld", minor);
    snprintf(shown, sizeof shown, "/dev/nvidia-caps/%s", name);
    return node(c, c->caps, shown, name, caps_major, (unsigned)minor, &o, err);
}

/* Every capability file under the driver's capabilities folder (mig/config, mig/monitor,
 * gpuN/mig/giX/access, gpuN/mig/giX/ciY/access), in name order. */
static int walk_caps(ctx *c, const char *host_dir, int depth, unsigned caps_major, nvb_err *err)
{
    if (depth > 6)
        return 0;
    struct dirent **names = NULL;
    int n = scandir(host_dir, &names, NULL, alphasort);
    int r = 0;
    for (int i = 0; i < n; i++) {
        const char *name = names[i]->d_name;
        _cleanup_free_ char *p = name[0] == '.' ? NULL : nvb_path_join(host_dir, name);
        struct stat st;
        if (r == 0 && p && lstat(p, &st) == 0)
            r = S_ISDIR(st.st_mode) ? walk_caps(c, p, depth + 1, caps_major, err)
                : S_ISREG(st.st_mode) ? cap_node(c, p, caps_major, err)
                                      : 0;
        free(names[i]);
    }
    free(names);
    return r;
}

int nvb_devnodes_make(const nvb_host *h, bool dry_run, FILE *out, FILE *err_out, nvb_devnodes_counts *counts,
                      nvb_err *err)
{
    *counts = (nvb_devnodes_counts){0};
    ctx c = {.caps = -1, .dry_run = dry_run, .out = out, .err_out = err_out, .counts = counts};
    nvb_rootpath_init(&c.rp, h->root);
    _cleanup_free_ char *devices = read_proc(&c, "/proc/devices");
    int nv = devices ? nvb_proc_devices_major(devices, "nvidia-frontend") : -1;
    if (nv < 0 && devices)
        nv = nvb_proc_devices_major(devices, "nvidia");
    if (nv < 0)
        return nvb_errf(err, NVB_EXIT_NO_DRIVER, "%s/proc/devices registers no nvidia major: the driver is not loaded",
                        strcmp(h->root, "/") == 0 ? "" : h->root);
    owner o = read_params(&c);
    if (!o.modify) {
        fprintf(err_out, "nvbind: the driver's ModifyDeviceFiles is 0 (/proc/driver/nvidia/params): its device "
                         "nodes are the administrator's; nothing made\n");
        return 0;
    }
    if ((c.dev = nvb_open_host_dev(h->root, err)) < 0)
        return -1;
    int r = folder_is_roots(c.dev, "/dev", err);
    if (r == 0)
        r = dev_node(&c, "nvidiactl", (unsigned)nv, 255, &o, err);
    if (r == 0)
        r = dev_node(&c, "nvidia-modeset", (unsigned)nv, 254, &o, err);
    for (size_t i = 0; r == 0 && i < h->n_gpus; i++) {
        char name[32];
        snprintf(name, sizeof name, "nvidia%u", h->gpus[i].minor);
        r = dev_node(&c, name, (unsigned)nv, h->gpus[i].minor, &o, err);
    }
    int uvm = nvb_proc_devices_major(devices, "nvidia-uvm");
    if (r == 0 && uvm < 0) {
        counts->unloaded += 2;
        fprintf(err_out, "nvbind: /proc/devices registers no nvidia-uvm: /dev/nvidia-uvm and /dev/nvidia-uvm-tools "
                         "not made (CUDA needs them: `modprobe nvidia-uvm`, then run this again)\n");
    }
    if (r == 0 && uvm >= 0)
        r = dev_node(&c, "nvidia-uvm", (unsigned)uvm, 0, &o, err);
    if (r == 0 && uvm >= 0)
        r = dev_node(&c, "nvidia-uvm-tools", (unsigned)uvm, 1, &o, err);
    int caps = nvb_proc_devices_major(devices, "nvidia-caps");
    _cleanup_free_ char *caps_folder = caps >= 0 ? nvb_rootpath_host(&c.rp, "/proc/driver/nvidia/capabilities") : NULL;
    if (r == 0 && caps_folder)
        r = walk_caps(&c, caps_folder, 0, (unsigned)caps, err);
    if (c.caps >= 0)
        close(c.caps);
    close(c.dev);
    nvb_rootpath_clear(&c.rp);
    return r;
}
