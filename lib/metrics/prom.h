/* A snapshot in Prometheus' text exposition format 0.0.4 (docs/monitoring.md lists every
 * metric). GPU metrics carry dcgm-exporter's names and labels (gpu, UUID, pci_bus_id,
 * device, modelName, Hostname), so dashboards made for it work unchanged. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include "metrics/collect.h"

#define NVB_PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

typedef struct nvb_prom_opts {
    /* model_name instead of dcgm-exporter's modelName: the one label name promtool's lint
     * calls camelCase. */
    bool snake_case_labels;
} nvb_prom_opts;

/* The text for s, NUL-terminated, its length in *len. malloc'd; NULL when out of memory. */
char *nvb_prom_render(const nvb_snapshot *s, const nvb_prom_opts *o, size_t *len);
