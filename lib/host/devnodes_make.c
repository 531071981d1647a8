/* The driver's device nodes, made where missing: see devnodes_make.h. */
#include "host/devnodes_make.h"
#include "host/devchar.h"
#include "host/hostio.h"
#include "host/procfs.h"
#include "host/rootpath.h"
#include "util/cleanup.h"
#include "util/trust.h"

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

/* NVIDIA's driver registers its GPUs and control nodes on this fixed major. */
#define NVIDIA_MAJOR 195
#define ID_MAX ((int64_t)UINT32_MAX - 1)

/* How the driver wants a node (/proc/driver/nvidia/params, a capability's own file),
 * nvidia-modprobe's defaults where it does not say. */
typedef struct owner {
    uid_t uid;
    gid_t gid;
    mode_t mode;
    bool modify;
} owner;

typedef struct ctx {
    nvb_rootpath rp;   /* the host root: /proc read inside it, never through a link out of it */
    int dev, caps;     /* ROOT/dev, ROOT/dev/nvidia-caps (-1 until needed; -2 in a dry run without it) */
    bool dry_run;
    FILE *out, *err_out;
    nvb_devnodes_counts *counts;
} ctx;

/* A driver file under the root, NUL-terminated, malloc'd; NULL when it cannot be read. */
static char *read_proc(ctx *c, const char *rel, size_t cap)
{
    char *buf = malloc(cap);
    if (buf && nvb_read_small(&c->rp, rel, buf, cap, NVB_READ_TO_EOF) < 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

static owner read_params(ctx *c)
{
    owner o = {.uid = 0, .gid = 0, .mode = 0666, .modify = true};
    _cleanup_free_ char *text = read_proc(c, "/proc/driver/nvidia/params", 1 << 16);
    if (!text)
        return o;
    int64_t v;
    if ((v = nvb_proc_number_field(text, "DeviceFileUID", ID_MAX)) >= 0)
        o.uid = (uid_t)v;
    if ((v = nvb_proc_number_field(text, "DeviceFileGID", ID_MAX)) >= 0)
        o.gid = (gid_t)v;
    if ((v = nvb_proc_number_field(text, "DeviceFileMode", 0777)) >= 0)
        o.mode = (mode_t)v;
    o.modify = nvb_proc_number_field(text, "ModifyDeviceFiles", 1) != 0;
    return o;
}

/* A major the kernel hands out on request (nvidia-uvm's, nvidia-caps'): 234-254 or 384-511.
 * Any other number in a /proc/devices under --root is not a driver's, whatever it says. */
static bool dynamic_major(int m)
{
    return (m >= 234 && m <= 254) || (m >= 384 && m <= 511);
}

static void describe(char *buf, size_t n, const struct stat *st)
{
    if (S_ISCHR(st->st_mode))
        snprintf(buf, n, "c %u:%u %04o %u:%u", major(st->st_rdev), minor(st->st_rdev), st->st_mode & 07777,
                 (unsigned)st->st_uid, (unsigned)st->st_gid);
    else
        snprintf(buf, n, "%s", S_ISLNK(st->st_mode) ? "a link" : S_ISDIR(st->st_mode) ? "a folder" : "not a character device");
}

/* The node made under a temporary name in dir with no access at all, given its owner, then its
 * mode, then renamed over name: a reader sees the old node or the finished new one. */
static int make_in(int dir, const char *name, dev_t rdev, const owner *o, const char *shown, nvb_err *err)
{
    char tmp[NAME_MAX + 1];
    snprintf(tmp, sizeof tmp, ".%s.nvbind-%ld", name, (long)getpid());
    if (mknodat(dir, tmp, S_IFCHR, rdev) < 0)
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

/* One node: dir is ROOT/dev or ROOT/dev/nvidia-caps (-2: a dry run where it does not exist).
 * A node that cannot be made is said on err_out and counted; the others are still made. */
static void node(ctx *c, int dir, const char *shown, const char *name, unsigned maj, unsigned min, const owner *o)
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
            return;
        }
        if (st.st_rdev == rdev && (st.st_mode & 07777) == o->mode && st.st_uid == o->uid && st.st_gid == o->gid) {
            c->counts->present++;
            return;
        }
    }
    nvb_err err = {0};
    if (!c->dry_run && make_in(dir, name, rdev, o, shown, &err) < 0) {
        c->counts->failed++;
        fprintf(c->err_out, "nvbind: %s\n", err.msg);
        return;
    }
    if (exists)
        c->counts->replaced++;
    else
        c->counts->made++;
    fprintf(c->out, "%s %s c %u:%u %04o %u:%u%s%s%s\n",
            exists ? (c->dry_run ? "would replace" : "replaced") : (c->dry_run ? "would make" : "made"), shown, maj, min,
            (unsigned)o->mode, (unsigned)o->uid, (unsigned)o->gid, exists ? " (was " : "", was, exists ? ")" : "");
}

static void dev_node(ctx *c, const char *name, unsigned maj, unsigned min, const owner *o)
{
    char shown[64];
    snprintf(shown, sizeof shown, "/dev/%s", name);
    node(c, c->dev, shown, name, maj, min, o);
}

/* Nodes are made, given root's owner and their mode only in a folder no one else could
 * write: in another user's folder the half-made node could be swapped for a link (that
 * fchmodat follows) or a hard link to a file of root's between two of these calls. */
static int folder_is_roots(int fd, const char *shown, nvb_err *err)
{
    return nvb_trust_folder_fd(fd, shown, "device nodes are made only in a folder no one but root (or you) may write",
                               err);
}

/* ROOT/dev/nvidia-caps, made (0755 whatever the umask, root's) if missing, never through a link. */
static int caps_dir(ctx *c, nvb_err *err)
{
    if (c->caps != -1)
        return 0;
    if (!c->dry_run) {
        int made = mkdirat(c->dev, "nvidia-caps", 0755);
        if ((made < 0 && errno != EEXIST) || (made == 0 && fchmodat(c->dev, "nvidia-caps", 0755, 0) < 0))
            return nvb_errf_errno(err, NVB_EXIT_IO, errno, "making /dev/nvidia-caps");
    }
    c->caps = openat(c->dev, "nvidia-caps", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (c->caps < 0 && !(c->dry_run && errno == ENOENT))
        return nvb_errf_errno(err, NVB_EXIT_IO, errno, "opening /dev/nvidia-caps (a folder, not a link)");
    if (c->caps < 0)
        c->caps = -2;
    return c->caps >= 0 ? folder_is_roots(c->caps, "/dev/nvidia-caps", err) : 0;
}

/* A capability file (DeviceFileMinor, DeviceFileMode, DeviceFileModify): its
 * /dev/nvidia-caps/nvidia-capN. Capabilities are root's; their own file says who may open
 * them, and whether the node is the administrator's (nvidia-modprobe's way). */
static int cap_node(ctx *c, const char *rel, unsigned caps_major, nvb_err *err)
{
    _cleanup_free_ char *text = read_proc(c, rel, 4096);
    int64_t minor = text ? nvb_proc_number_field(text, "DeviceFileMinor", NVB_MINOR_MAX) : -1;
    if (minor < 0 || nvb_proc_number_field(text, "DeviceFileModify", 1) == 0)
        return 0;
    int64_t mode = nvb_proc_number_field(text, "DeviceFileMode", 0777);
    owner o = {.uid = 0, .gid = 0, .mode = mode >= 0 ? (mode_t)mode : 0444};
    if (caps_dir(c, err) < 0)
        return -1;
    char name[32], shown[64];
    snprintf(name, sizeof name, "nvidia-cap%u", (unsigned)minor);
    snprintf(shown, sizeof shown, "/dev/nvidia-caps/%s", name);
    node(c, c->caps, shown, name, caps_major, (unsigned)minor, &o);
    return 0;
}

/* Every capability file under the driver's capabilities folder (mig/config, mig/monitor,
 * gpuN/mig/giX/access, gpuN/mig/giX/ciY/access), read inside the root. */
static int walk_caps(ctx *c, const char *rel_dir, int depth, unsigned caps_major, nvb_err *err)
{
    nvb_dir dir;
    if (depth > 6 || nvb_dir_open(&dir, &c->rp, rel_dir) < 0)
        return 0;
    const char *name;
    unsigned char type;
    int r = 0;
    while (r == 0 && (name = nvb_dir_next(&dir, &type))) {
        char rel[PATH_MAX];
        if (!nvb_path_cat(rel, sizeof rel, rel_dir, "/", name))
            continue;
        if (type == DT_DIR)
            r = walk_caps(c, rel, depth + 1, caps_major, err);
        else if (type == DT_REG || type == DT_UNKNOWN)
            r = cap_node(c, rel, caps_major, err);
    }
    nvb_dir_close(&dir);
    return r;
}

/* The major /proc/devices gives name, checked against what the kernel could give it; -1 when
 * the module is not loaded, -2 with err when the number cannot be a driver's. */
static int major_of(const char *devices, const char *name, nvb_err *err)
{
    int m = nvb_proc_devices_major(devices, name);
    if (m < 0 || dynamic_major(m))
        return m;
    nvb_errf(err, NVB_EXIT_HOST_DATA, "/proc/devices gives %s the major %d, which the kernel hands out to no "
                                      "module (234-254, 384-511): not the driver's",
             name, m);
    return -2;
}

static int make_all(ctx *c, const nvb_host *h, const char *devices, const owner *o, nvb_err *err)
{
    int uvm = major_of(devices, "nvidia-uvm", err), caps = major_of(devices, "nvidia-caps", err);
    if (uvm == -2 || caps == -2 || folder_is_roots(c->dev, "/dev", err) < 0)
        return -1;
    dev_node(c, "nvidiactl", NVIDIA_MAJOR, 255, o);
    dev_node(c, "nvidia-modeset", NVIDIA_MAJOR, 254, o);
    for (size_t i = 0; i < h->n_gpus; i++) {
        char name[32];
        snprintf(name, sizeof name, "nvidia%u", h->gpus[i].minor);
        dev_node(c, name, NVIDIA_MAJOR, h->gpus[i].minor, o);
    }
    if (uvm >= 0) {
        dev_node(c, "nvidia-uvm", (unsigned)uvm, 0, o);
        dev_node(c, "nvidia-uvm-tools", (unsigned)uvm, 1, o);
    } else {
        c->counts->unloaded += 2;
        fprintf(c->err_out, "nvbind: /proc/devices registers no nvidia-uvm: /dev/nvidia-uvm and /dev/nvidia-uvm-tools "
                            "not made (CUDA needs them: `modprobe nvidia-uvm`, then run this again)\n");
    }
    return caps >= 0 ? walk_caps(c, "/proc/driver/nvidia/capabilities", 0, (unsigned)caps, err) : 0;
}

int nvb_devnodes_make(const nvb_host *h, bool dry_run, FILE *out, FILE *err_out, nvb_devnodes_counts *counts,
                      nvb_err *err)
{
    *counts = (nvb_devnodes_counts){0};
    if (h->wsl2)
        return nvb_errf(err, NVB_EXIT_NO_DRIVER, "a WSL2 guest has no NVIDIA device nodes to make: its GPUs are "
                                                 "reached through /dev/dxg");
    ctx c = {.dev = -1, .caps = -1, .dry_run = dry_run, .out = out, .err_out = err_out, .counts = counts};
    nvb_rootpath_init(&c.rp, h->root);
    _cleanup_free_ char *devices = read_proc(&c, "/proc/devices", 1 << 16);
    int nv = devices ? nvb_proc_devices_major(devices, "nvidia-frontend") : -1;
    if (nv < 0 && devices)
        nv = nvb_proc_devices_major(devices, "nvidia");
    owner o = read_params(&c);
    int r = 0;
    if (nv < 0)
        r = nvb_errf(err, NVB_EXIT_NO_DRIVER, "%s/proc/devices registers no nvidia major: the driver is not loaded",
                     strcmp(h->root, "/") == 0 ? "" : h->root);
    else if (nv != NVIDIA_MAJOR)
        r = nvb_errf(err, NVB_EXIT_HOST_DATA, "/proc/devices gives nvidia the major %d: NVIDIA's driver has %d", nv,
                     NVIDIA_MAJOR);
    else if (!o.modify)
        fprintf(err_out, "nvbind: the driver's ModifyDeviceFiles is 0 (/proc/driver/nvidia/params): its device "
                         "nodes are the administrator's; nothing made\n");
    else if ((c.dev = nvb_open_host_dev(h->root, err)) < 0)
        r = -1;
    else
        r = make_all(&c, h, devices, &o, err);
    if (c.caps >= 0)
        close(c.caps);
    if (c.dev >= 0)
        close(c.dev);
    nvb_rootpath_clear(&c.rp);
    return r;
}
