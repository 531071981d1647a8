/* CDI specs for the GPUs of other vendors (AMD, Intel, nouveau, any DRM driver): one spec
 * per kind, each GPU's device nodes only. docs/vendors.md says what each carries. */
#pragma once
#include <jansson.h>
#include "host/host.h"
#include "util/strv.h"

/* Whether kind is the CDI kind of one of the host's other-vendor GPUs. */
bool nvb_vendor_kind_present(const nvb_host *h, const char *kind);
/* Whether kind belongs to another vendor's GPUs (amd.com/gpu, intel.com/gpu, nvbind.drm/...),
 * present on this host or not: such a kind never names an NVIDIA spec. */
bool nvb_vendor_kind_reserved(const char *kind);
/* The host's other-vendor kinds, each once, in order ("amd.com/gpu", "intel.com/gpu"). */
int nvb_vendor_kinds(const nvb_host *h, nvb_strv *out);
/* Whether GPU g is named by device `name` of its kind: its index, its bus id, or "all". */
bool nvb_vendor_gpu_named(const nvb_drm_gpu *g, const char *name);
/* The spec of kind: per GPU a device named by its index and one by its bus id, each with the
 * GPU's nodes, and "all" with every node of the kind; no mounts, hooks or environment: the
 * image brings its own user space (Mesa, ROCm). NULL with err set when out of memory. */
json_t *nvb_vendor_spec(const nvb_host *h, const char *kind, nvb_err *err);
/* The error for an NVIDIA request on a host without the NVIDIA driver: exit 3, naming the
 * kinds the host does have. Returns -1. */
int nvb_vendor_no_nvidia(const nvb_host *h, nvb_err *err);
/* The error for a reserved vendor kind the host has no GPU of: exit 2, naming the kinds it
 * has. Returns -1. */
int nvb_vendor_kind_absent(const nvb_host *h, const char *kind, nvb_err *err);
/* `cdi check` for a spec of a reserved vendor kind: one line per GPU added, removed or whose
 * nodes changed against what nvb_vendor_spec gives now. The number of reasons, -1 when out of
 * memory. */
int nvb_vendor_stale_reasons(const json_t *spec, const nvb_host *h, nvb_strv *reasons);
