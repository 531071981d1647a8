/* Device requests: "all", "none", or a comma-separated list of GPU indices ("0,2"), GPU UUIDs
 * ("GPU-…"), type-index names ("gpu1"), MIG devices ("0:1", "mig0:1", "MIG-…"), resolved
 * against the host model. The same parser serves `nvbind run --gpu`, the shim's
 * NVIDIA_VISIBLE_DEVICES / annotations and the C API. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "host/host.h"
#include "policy/edits.h"
#include "util/error.h"
#include "util/strv.h"

typedef struct nvb_selected {
    const nvb_gpu *gpu;          /* the GPU, or the MIG device's parent */
    const nvb_mig_device *mig;   /* NULL for a whole GPU */
    char name[32];               /* its device name in nvbind's spec (index naming): "1", "0:1" */
} nvb_selected;

typedef struct nvb_selection {
    bool all;                    /* "all": every GPU of the host (device "all" in the spec) */
    nvb_selected *v;             /* the devices, in request order; every GPU when all */
    size_t n, cap;
    /* WSL2 without NVML's GPU list: "all" is the host's /dev/dxg, with no GPU in v. */
    const nvb_devnode_list *all_nodes;
} nvb_selection;

#define NVB_DEVREQ_MAX_LEN 65536 /* longer request texts are refused */

/* Syntax only, no host needed: split a request list into its entries (trimmed of blanks).
 * "none" (and, when env_words is true, "void" and "") give zero entries. Errors: an empty list
 * or entry, "all"/"none" combined with other entries, an entry that is not an index, UUID,
 * type-index or MIG name. Messages start with "<what> <list>: " (list shell-quoted when it
 * holds anything but letters, digits and -_.:/), e.g. "--gpu '0,,1': empty entry".
 * Returns the number of entries, or -1 with err set (NVB_EXIT_USAGE). */
int nvb_devreq_split(const char *list, const char *what, bool env_words, nvb_strv *entries, nvb_err *err);

/* Parse `list` and add what it names to sel. Within one list a device named twice (also
 * under two names, or a MIG device together with its parent GPU) is an error; a device that
 * an earlier call already added is skipped, so several request sources merge. Errors name the
 * entry and what the host has: "--gpu 7: no GPU 7 on this host (GPUs 0-1)".
 * Returns 0, or -1 with err set (NVB_EXIT_USAGE for bad requests, NVB_EXIT_IO for memory). */
int nvb_select_add(nvb_selection *sel, const nvb_host *h, const char *what, const char *list, bool env_words,
                   nvb_err *err);
void nvb_selection_clear(nvb_selection *sel);
/* True when nothing is selected (the request was "none"). */
bool nvb_selection_empty(const nvb_selection *sel);

/* The device nodes of every selected device (nvb_edits_for_gpu / nvb_edits_for_mig). */
int nvb_selection_edits(const nvb_selection *sel, nvb_edits *e);
/* Fully qualified CDI names under `kind`: "kind=all" for all, else "kind=<name>" each. */
int nvb_selection_cdi_names(const nvb_selection *sel, const char *kind, nvb_strv *out);
/* The request back as a list of spec names, "all" or "0,2:1" (for messages and the audit). */
char *nvb_selection_describe(const nvb_selection *sel);
