/* The options of the commands nvbind hands to a helper executable (src/cmd_helpers.c): one
 * description that serves nvbind (--help, shell completion) and the helper that parses them
 * (nvbind-device-plugin, nvbind-monitor), so the two cannot drift apart. Only these tables
 * are shared: the helpers' gRPC, HTTP and curses code stays out of nvbind. */
#pragma once
#include "cli_table.h"

enum { NVB_DP_KUBELET_DIR = 256, NVB_DP_RESOURCE, NVB_DP_CDI_DIR, NVB_DP_STRATEGY, NVB_DP_MIG_STRATEGY,
       NVB_DP_REPLICAS, NVB_DP_POLL_MS };
extern const nvb_cli_opt nvb_device_plugin_opts[];

enum { NVB_EXPORTER_LISTEN = 256, NVB_EXPORTER_INTERVAL, NVB_EXPORTER_ONCE, NVB_EXPORTER_SNAKE_CASE };
extern const nvb_cli_opt nvb_exporter_opts[];

enum { NVB_TOP_DELAY = 256 };
extern const nvb_cli_opt nvb_top_opts[];
