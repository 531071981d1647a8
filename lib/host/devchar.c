/* /dev/char/MAJ:MIN links for GPU device nodes: see devchar.h. */
#include "host/devchar.h"
#include "host/rootpath.h"
#include "util/cleanup.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

int nvb_open_host_dev(const char *root, nvb_err *err)
{
    _cleanup_close_ int rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0)
        return nvb_errf_errno(err, NVB_EXIT_IO, errno, "opening the host root %s", root);
    int dev = openat(rootfd, "dev", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dev < 0)
        return nvb_errf_errno(err, NVB_EXIT_IO, errno, "opening %s/dev (a folder, not a link)", root);
    return dev;
}

/* ROOT/dev/char, made if missing, opened without following a link at any step: a host root
 * whose dev or dev/char is a symlink could send the links anywhere. */
static int open_dev_char(const char *root, bool dry_run, nvb_err *err)
{
    _cleanup_close_ int dev = nvb_open_host_dev(root, err);
    if (dev < 0)
        return -1;
    if (!dry_run && mkdirat(dev, "char", 0755) < 0 && errno != EEXIST)
        return nvb_errf_errno(err, NVB_EXIT_IO, errno, "creating /dev/char under %s", root);
    int fd = openat(dev, "char", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && !(dry_run && errno == ENOENT))
        return nvb_errf_errno(err, NVB_EXIT_IO, errno, "opening /dev/char under %s (a folder, not a link)", root);
    return fd < 0 ? -2 : fd; /* -2: a dry run where /dev/char does not exist yet */
}

/* Does the link at rel lead, inside the host root, to the node itself? */
static bool leads_to(nvb_rootpath *rp, const char *rel, const nvb_devnode *n)
{
    char out[PATH_MAX];
    struct stat st;
    return nvb_rootpath_lookup(rp, rel, out, &st) == 0 && S_ISCHR(st.st_mode) &&
           st.st_rdev == makedev(n->major, n->minor);
}

static bool seen_before(const nvb_devnode *const *done, size_t n_done, const nvb_devnode *n)
{
    for (size_t i = 0; i < n_done; i++)
        if (done[i]->major == n->major && done[i]->minor == n->minor)
            return true;
    return false;
}

typedef struct ctx {
    nvb_rootpath rp;
    int charfd; /* -2 in a dry run without /dev/char */
    bool dry_run;
    FILE *out, *err_out;
    nvb_devchar_counts *counts;
} ctx;

static int link_one(ctx *c, const nvb_devnode *n, nvb_err *err)
{
    if (n->type != 'c' || strncmp(n->path, "/dev/", 5) != 0)
        return 0;
    char name[32], rel[64], target[PATH_MAX];
    snprintf(name, sizeof name, "%u:%u", n->major, n->minor);
    snprintf(rel, sizeof rel, "/dev/char/%s", name);
    snprintf(target, sizeof target, "../%s", n->path + 5);
    char had[PATH_MAX];
    ssize_t len = c->charfd >= 0 ? readlinkat(c->charfd, name, had, sizeof had - 1) : -1;
    struct stat st;
    bool exists = c->charfd >= 0 && fstatat(c->charfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
    if (exists && len >= 0 && leads_to(&c->rp, rel, n)) {
        c->counts->present++;
        return 0;
    }
    if (exists) {
        c->counts->conflicts++;
        if (len >= 0) {
            had[len] = '\0';
            fprintf(c->err_out, "nvbind: %s points to %s, not to %s: left as it is (remove it and run again)\n", rel,
                    had, n->path);
        } else {
            fprintf(c->err_out, "nvbind: %s exists and is not a link to %s: left as it is (remove it and run again)\n",
                    rel, n->path);
        }
        return 0;
    }
    if (!c->dry_run && symlinkat(target, c->charfd, name) < 0)
        return nvb_errf_errno(err, NVB_EXIT_IO, errno, "linking %s -> %s", rel, target);
    c->counts->created++;
    fprintf(c->out, "%s %s -> %s\n", c->dry_run ? "would link" : "linked", rel, target);
    return 0;
}

static int link_list(ctx *c, const nvb_devnode_list *l, const nvb_devnode **done, size_t *n_done, nvb_err *err)
{
    for (size_t i = 0; i < l->n; i++) {
        if (seen_before(done, *n_done, &l->v[i]))
            continue;
        done[(*n_done)++] = &l->v[i];
        if (link_one(c, &l->v[i], err) < 0)
            return -1;
    }
    return 0;
}

static size_t count_nodes(const nvb_host *h)
{
    size_t n = h->nodes.n + h->cap_nodes.n;
    for (size_t i = 0; i < h->n_gpus; i++)
        n += h->gpus[i].nodes.n;
    return n;
}

int nvb_devchar_create(const nvb_host *h, bool dry_run, FILE *out, FILE *err_out, nvb_devchar_counts *counts,
                       nvb_err *err)
{
    *counts = (nvb_devchar_counts){0};
    int fd = open_dev_char(h->root, dry_run, err);
    if (fd == -1)
        return -1;
    ctx c = {.charfd = fd, .dry_run = dry_run, .out = out, .err_out = err_out, .counts = counts};
    nvb_rootpath_init(&c.rp, h->root);
    _cleanup_free_ const nvb_devnode **done = calloc(count_nodes(h) + 1, sizeof *done);
    size_t n_done = 0;
    int r = done ? 0 : nvb_errf(err, NVB_EXIT_IO, "out of memory");
    if (r == 0)
        r = link_list(&c, &h->nodes, done, &n_done, err);
    for (size_t i = 0; r == 0 && i < h->n_gpus; i++)
        r = link_list(&c, &h->gpus[i].nodes, done, &n_done, err);
    if (r == 0)
        r = link_list(&c, &h->cap_nodes, done, &n_done, err);
    nvb_rootpath_clear(&c.rp);
    if (fd >= 0)
        close(fd);
    return r;
}
