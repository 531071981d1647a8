/* Internal to discovery: the state its steps share. */
#pragma once
#include "host/host.h"
#include "host/rootpath.h"

typedef struct nvb_discovery {
    nvb_host *h;
    nvb_rootpath root;          /* the host root */
    nvb_rootpath drv_own;       /* the driver root when it is not the host root */
    nvb_rootpath *drv;          /* the driver root, itself a root for its symlinks: &root or &drv_own */
    char *drv_dir;              /* root + driver root, as this process sees it */
    char *proc_devices;         /* text of /proc/devices, NULL when unreadable */
    const char *const *library_search;
    bool skip_pci_details;      /* nvb_discover_opts.skip_pci_details */
    nvb_strv listed;            /* folders already searched, "<pattern>\n<resolved folder>" */
    struct nvb_comp_slot {
        uint32_t hash, pos;     /* hash of a component's host path, its index + 1 (0: empty) */
    } *comp_index;              /* open addressing over h->comps, for nvb_host_add_component */
    size_t comp_index_mask;
} nvb_discovery;

int nvb_discover_gpus(nvb_discovery *d, nvb_err *err);
int nvb_discover_devnodes(nvb_discovery *d, nvb_err *err);
int nvb_discover_components(nvb_discovery *d, nvb_err *err);
int nvb_discover_nvml(nvb_discovery *d, unsigned timeout_ms);
/* fn(job) on a thread for NVML library lib, bounded as nvb_run_bounded_once (util/worker.h):
 * while an earlier call's thread for lib is stuck, none is started and d's warnings say why. */
int nvb_nvml_run_bounded(nvb_discovery *d, const char *lib, void *(*fn)(void *), void *job, unsigned timeout_ms);

/* nvbind-helper's side of nvb_discover_nvml and nvb_wsl2_nvml_list (util/isolate.h), for
 * static executables: a job's input in, its answer out (malloc'd); -1 for input that is not
 * such a job. */
#define NVB_NVML_MAX_GPUS 256
int nvb_nvml_serve(const void *in, size_t in_len, void **out, size_t *out_len);
int nvb_wsl2_nvml_serve(const void *in, size_t in_len, void **out, size_t *out_len);
/* Whether a GPU shows MIG instances: a gi<N> folder in its
 * /proc/driver/nvidia/capabilities/gpu<minor>/mig/, which the driver makes per GPU instance. */
bool nvb_mig_shown(nvb_discovery *d);

/* stat the node at container path `path` (resolved inside the host root) into *out.
 * 0 on success, -errno when absent or not a device. */
int nvb_stat_devnode(nvb_discovery *d, const char *path, nvb_devnode *out);
/* Add a component (taking both strings) or merge it into the one with the same host path
 * and container path: one file offered at two paths programs use (libnvidia-allocator as
 * itself and as the GBM backend) is two components. Returns the component, NULL when out of
 * memory. */
nvb_component *nvb_host_add_component(nvb_discovery *d, enum nvb_component_kind kind, char *host_path,
                                      char *container_path, unsigned caps, bool is_dir);
/* A component whose data is the file at host_path, at any container path; NULL when none. */
nvb_component *nvb_host_find_file(const nvb_discovery *d, const char *host_path);
