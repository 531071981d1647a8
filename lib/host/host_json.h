/* The host model as JSON: the shape `nvbind info --json` prints and the C API returns. */
#pragma once
#include <jansson.h>
#include "host/host.h"
#include "util/jsonw.h"

json_t *nvb_host_to_json(const nvb_host *h, bool detailed);
json_t *nvb_devnode_to_json(const nvb_devnode *n);
const char *nvb_kmod_name(enum nvb_kmod k);

/* The same document as nvb_host_to_json, written straight into w (no tree in between):
 * same keys, same order, same values. */
void nvb_host_write_json(nvb_jsonw *w, const nvb_host *h, bool detailed);

/* Every vendor: the GPUs of other drivers (h->drm_gpus), the "drm_gpus" array of both. */
json_t *nvb_drm_gpus_to_json(const nvb_host *h);
void nvb_drm_gpus_write_json(nvb_jsonw *w, const nvb_host *h);
