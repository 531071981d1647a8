/* Values the host document spells the same way for every vendor's GPUs (nvb_host_to_json's
 * "gpus", nvb_drm_gpus_to_json's "drm_gpus"), in both of its writers: the jansson tree the C
 * API returns and the stream `nvbind info --json` prints. One spelling each, so that the two
 * arrays and the two writers cannot drift apart. */
#pragma once
#include <jansson.h>
#include <stdint.h>
#include "host/host.h"
#include "util/jsonw.h"

/* A PCI vendor or device id: "0x10de"; null when unknown (0). */
json_t *nvb_json_pci_id(unsigned id);
void nvb_jsonw_kpci_id(nvb_jsonw *w, const char *key, unsigned id);

/* A number that is negative when unknown (NUMA node, memory, KFD node): null then. */
json_t *nvb_json_int_or_null(int64_t v);
void nvb_jsonw_kint_or_null(nvb_jsonw *w, const char *key, int64_t v);

/* The container paths of a device's nodes, as an array of strings. */
json_t *nvb_json_node_paths(const nvb_devnode_list *l);
void nvb_jsonw_knode_paths(nvb_jsonw *w, const char *key, const nvb_devnode_list *l);
