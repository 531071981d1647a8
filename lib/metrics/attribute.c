/* The containers behind NVML's processes (attribute.h): each process's cgroup against the
 * cgroups of the claimed containers' inits, else the engine's cgroup naming. */
#include "metrics/attribute.h"
#include "isolation/procid.h"
#include "metrics/cgroup.h"
#include "util/grow.h"

#include <fcntl.h>
#include <limits.h>
#include <linux/nsfs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

/* The cgroups of the live claim holders' container inits, parallel to the holders. */
typedef struct holder_cg {
    const char *container;
    char cgroup[512];
} holder_cg;

/* Whether process pid is uid's: it runs as uid, or in a user namespace uid made (a rootless
 * container's processes run under uid's subordinate ids). */
static bool process_of(const char *proc_root, pid_t pid, uid_t uid)
{
    char path[PATH_MAX];
    struct stat st;
    snprintf(path, sizeof path, "%s/%ld", proc_root, (long)pid);
    if (stat(path, &st) == 0 && st.st_uid == uid)
        return true;
    snprintf(path, sizeof path, "%s/%ld/ns/user", proc_root, (long)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    uid_t owner;
    bool of = ioctl(fd, NS_GET_OWNER_UID, &owner) == 0 && owner == uid;
    close(fd);
    return of;
}

/* The container's own init: the OCI runtime's state file names it (for `nvbind run --runtime
 * runc` the claim's init_pid is `runc run`, which stays outside the container's cgroup), else
 * the init the claim recorded; 0 when neither runs. */
static pid_t container_init(const char *proc_root, const nvb_claim_holder *h)
{
    pid_t pid = 0;
    unsigned long long start = 0;
    if (!(h->oci_state && nvb_oci_state_init(h->oci_state, h->uid, &pid, &start) == NVB_OCI_INIT_FOUND &&
          nvb_proc_alive(pid, start)))
        pid = h->init_pid > 0 && nvb_proc_alive(h->init_pid, h->init_start) ? h->init_pid : 0;
    /* A member of the claim group writes its own records, and could name another container's
     * init there to have that container's GPU use shown under a name of its choice: a
     * member's record counts only for processes of that member. Root's records are root's. */
    return pid > 0 && (h->uid == 0 || process_of(proc_root, pid, h->uid)) ? pid : 0;
}

static size_t holder_cgroups(const char *proc_root, const nvb_claim_list *l, holder_cg **out)
{
    size_t n = 0, cap = 0;
    *out = NULL;
    for (size_t i = 0; i < l->n; i++)
        for (size_t k = 0; k < l->v[i].n_holders; k++) {
            const nvb_claim_holder *h = &l->v[i].holders[k];
            holder_cg *v = nvb_grow(*out, &cap, n, sizeof *v, 8);
            if (!v)
                return n;
            *out = v;
            v[n].container = h->container;
            v[n].cgroup[0] = '\0';
            pid_t init = container_init(proc_root, h);
            if (init > 0)
                nvb_proc_cgroup(proc_root, init, v[n].cgroup, sizeof v[n].cgroup);
            n++;
        }
    return n;
}

/* The container of a process in cgroup cg: a claim whose container's init is in that cgroup
 * or above it, else what the engine's cgroup name says. Never a cgroup's name alone matched
 * to a claim's: a container that may make cgroups below its own could name one after another
 * container, while the init's cgroup was set by the runtime before the container ran. */
static void owner_of(const char *cg, const holder_cg *hc, size_t n_hc, nvb_container_use *u)
{
    for (size_t i = 0; i < n_hc; i++)
        if (hc[i].cgroup[0] && nvb_cgroup_within(cg, hc[i].cgroup)) {
            snprintf(u->container, sizeof u->container, "%s", hc[i].container);
            nvb_cgroup_owner parsed;
            nvb_cgroup_owner_parse(cg, &parsed);
            snprintf(u->pod, sizeof u->pod, "%s", parsed.pod);
            return;
        }
    nvb_cgroup_owner parsed;
    nvb_cgroup_owner_parse(cg, &parsed);
    snprintf(u->container, sizeof u->container, "%s", parsed.container);
    snprintf(u->pod, sizeof u->pod, "%s", parsed.pod);
}

static void add_use(nvb_container_use **uses, size_t *n, size_t *cap, const nvb_container_use *u,
                    const nvb_gpu_proc *p)
{
    uint64_t bytes = p->used_bytes != UINT64_MAX ? p->used_bytes : 0;
    for (size_t i = 0; i < *n; i++) {
        nvb_container_use *x = &(*uses)[i];
        if (x->gpu == u->gpu && strcmp(x->container, u->container) == 0 && strcmp(x->pod, u->pod) == 0) {
            x->n_procs++;
            x->used_bytes += bytes;
            return;
        }
    }
    nvb_container_use *v = nvb_grow(*uses, cap, *n, sizeof *v, 8);
    if (!v)
        return;
    *uses = v;
    v[*n] = *u;
    v[*n].n_procs = 1;
    v[*n].used_bytes = bytes;
    (*n)++;
}

void nvb_attribute(const char *proc_root, const nvb_claim_list *claims, const nvb_gpu_sample *gpus, size_t n_gpus,
                   nvb_container_use **uses, size_t *n_uses, size_t *cap_uses)
{
    holder_cg *hc = NULL;
    size_t n_hc = claims ? holder_cgroups(proc_root ? proc_root : "/proc", claims, &hc) : 0;
    for (size_t g = 0; gpus && g < n_gpus; g++) {
        const nvb_gpu_sample *gs = &gpus[g];
        for (size_t k = 0; k < gs->n_procs; k++) {
            nvb_container_use u = {.gpu = g};
            char cg[512];
            if (nvb_proc_cgroup(proc_root ? proc_root : "/proc", (pid_t)gs->procs[k].pid, cg, sizeof cg) == 0)
                owner_of(cg, hc, n_hc, &u);
            add_use(uses, n_uses, cap_uses, &u, &gs->procs[k]);
        }
    }
    free(hc);
}
