/* The option tables of device-plugin, exporter and top (cli_helper_opts.h): compiled into
 * nvbind and into the helper executable that runs each command. */
#include "cli_helper_opts.h"

#include <stddef.h>

const nvb_cli_opt nvb_device_plugin_opts[] = {
    {"kubelet-dir", 0, NVB_DP_KUBELET_DIR, "DIR", 0, "the kubelet's folder; registers on DIR/device-plugins/kubelet.sock\n"
                                                     "(default /var/lib/kubelet)", NVB_COMPLETE_DIR, NULL},
    {"resource", 0, NVB_DP_RESOURCE, "NAME", NVB_OPT_REPEAT, "serve only this resource (default every one found:\n"
                                                             "nvidia.com/gpu, nvidia.com/mig-<profile>)", 0, NULL},
    {"cdi-dir", 0, NVB_DP_CDI_DIR, "DIR", 0, "where Allocate writes nvbind's CDI spec (default: [cdi] output_dir,\n"
                                             "else /var/run/cdi)", NVB_COMPLETE_DIR, NULL},
    {"strategy", 0, NVB_DP_STRATEGY, "S", 0, "what Allocate returns: cdi (CDI device names, the default), envvar\n"
                                             "(NVIDIA_VISIBLE_DEVICES, for nodes running nvbind-runtime) or both",
     NVB_COMPLETE_WORDS, "cdi envvar both"},
    {"mig-strategy", 0, NVB_DP_MIG_STRATEGY, "S", 0, "none (whole GPUs, the default), single (MIG devices as nvidia.com/gpu),\n"
                                                     "mixed (MIG devices as nvidia.com/mig-<profile>)",
     NVB_COMPLETE_WORDS, "none single mixed"},
    {"replicas", 0, NVB_DP_REPLICAS, "N", 0, "time-slicing: advertise each GPU N times (ids UUID::0..N-1)", 0, NULL},
    {"poll-ms", 0, NVB_DP_POLL_MS, "MS", 0, "how often the host is checked for GPUs gone, back or failing (default 1000)",
     0, NULL},
    {0},
};

const nvb_cli_opt nvb_exporter_opts[] = {
    {"listen", 0, NVB_EXPORTER_LISTEN, "ADDR:PORT", 0, "where to listen (default 127.0.0.1:9400; [::1]:PORT for IPv6;\n"
                                                       "0.0.0.0:PORT to serve every interface)", 0, NULL},
    {"interval", 0, NVB_EXPORTER_INTERVAL, "SECONDS", 0, "sample every SECONDS and serve the latest sample, keeping NVML open;\n"
                                                         "without it each scrape asks NVML afresh and nothing stays open", 0, NULL},
    {"once", 0, NVB_EXPORTER_ONCE, NULL, 0, "print the metrics once on stdout and exit", 0, NULL},
    {"snake-case-labels", 0, NVB_EXPORTER_SNAKE_CASE, NULL, 0, "model_name instead of dcgm-exporter's modelName", 0, NULL},
    {0},
};

const nvb_cli_opt nvb_top_opts[] = {
    {"delay", 0, NVB_TOP_DELAY, "SECONDS", 0, "redraw every SECONDS instead of every second (1 to 60)", 0, NULL},
    {0},
};
