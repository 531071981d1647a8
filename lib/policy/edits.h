/* Edits: what a container needs (the CDI containerEdits model): environment, device
 * nodes, mounts, hooks. Built from the host model; emitted as CDI JSON or applied to an
 * OCI config.json by the same code. */
#pragma once
#include <jansson.h>
#include "host/host.h"

typedef struct nvb_mount {
    char *host_path, *container_path;
    bool writable;   /* IPC sockets; everything else is read-only */
} nvb_mount;

typedef struct nvb_hook {
    char *hook_name;  /* OCI hook point, "createContainer" */
    char *path;
    nvb_strv args;
} nvb_hook;

typedef struct nvb_edits {
    nvb_strv env;            /* "KEY=VALUE"; a later KEY replaces an earlier one */
    nvb_devnode_list nodes;
    nvb_mount *mounts;
    size_t n_mounts, cap_mounts;
    nvb_hook *hooks;
    size_t n_hooks, cap_hooks;
} nvb_edits;

void nvb_edits_clear(nvb_edits *e);
int nvb_edits_setenv(nvb_edits *e, const char *key, const char *value);
int nvb_edits_add_mount(nvb_edits *e, const char *host_path, const char *container_path, bool writable);
/* Whether e mounts something at container_path. */
bool nvb_edits_has_mount(const nvb_edits *e, const char *container_path);
int nvb_edits_add_node(nvb_edits *e, const nvb_devnode *n);   /* skips a path already present */
nvb_hook *nvb_edits_add_hook(nvb_edits *e, const char *hook_name, const char *path);
/* Remove (and free) e's hook i; the later ones move up. */
void nvb_edits_remove_hook(nvb_edits *e, size_t i);
/* Is h nvbind's own `nvbind hook SUB ...` run from hook_path? */
bool nvb_hook_is_nvbinds(const nvb_hook *h, const char *hook_path, const char *sub);
/* Append everything of src to dst (env replaces by key, nodes and mounts dedupe by path). */
int nvb_edits_merge(nvb_edits *dst, const nvb_edits *src);

/* Mount options every driver file gets, and those of the writable IPC sockets. */
extern const char *const nvb_mount_options_ro[];
extern const char *const nvb_mount_options_ipc[];

/* A GPU's own nodes: /dev/nvidiaN and its DRM nodes. */
int nvb_edits_for_gpu(nvb_edits *e, const nvb_gpu *g);
/* A MIG device: its parent's /dev/nvidiaN plus its gi/ci capability nodes. */
int nvb_edits_for_mig(nvb_edits *e, const nvb_gpu *parent, const nvb_mig_device *m);

/* What every GPU container needs: control nodes, the driver files of the capabilities in
 * `caps` (enum nvb_cap bits), and nvbind's hooks (run from hook_path) that create the
 * development symlinks and refresh the container's library cache. */
int nvb_edits_shared(nvb_edits *e, const nvb_host *h, unsigned caps, const char *hook_path);

/* For an engine that runs no hooks (docker's legacy --volume form): every driver library
 * e mounts whose file name is not its SONAME (libcuda.so.550.54.14) is also mounted at
 * its SONAME (libcuda.so.1), the name programs dlopen, in a folder the image's loader
 * searches without a cache entry: the same folder, or the multiarch folder above it
 * (/usr/lib/x86_64-linux-gnu for Debian's /usr/lib/x86_64-linux-gnu/nvidia/current).
 * h may be NULL (no host discovered: nothing to add). */
int nvb_edits_add_soname_mounts(nvb_edits *e, const nvb_host *h);

/* CDI containerEdits JSON object of e. */
json_t *nvb_edits_to_cdi_json(const nvb_edits *e);
