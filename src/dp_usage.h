/* The usage text of `nvbind device-plugin`, shown by nvbind (even when built without the
 * plugin) and by the nvbind-device-plugin executable that serves it. */
#pragma once

static const char nvb_dp_usage[] =
    "usage: nvbind device-plugin [--kubelet-dir DIR] [--resource NAME]... [--cdi-dir DIR]\n"
    "                            [--strategy cdi|envvar|both] [--mig-strategy none|single|mixed]\n"
    "                            [--replicas N] [--poll-ms MS]\n"
    "\n"
    "Serve this node's GPUs to the kubelet (device plugin API v1beta1) until SIGTERM.\n"
    "  --kubelet-dir DIR    the kubelet's folder; it registers on DIR/device-plugins/kubelet.sock\n"
    "                       (default /var/lib/kubelet)\n"
    "  --resource NAME      serve only this resource (repeatable; default every one found:\n"
    "                       nvidia.com/gpu, nvidia.com/mig-<profile>)\n"
    "  --cdi-dir DIR        where Allocate writes nvbind's CDI spec (default: [cdi] output_dir,\n"
    "                       else /var/run/cdi)\n"
    "  --strategy S         what Allocate returns: cdi (CDI device names, the default), envvar\n"
    "                       (NVIDIA_VISIBLE_DEVICES, for nodes running nvbind-runtime) or both\n"
    "  --mig-strategy S     none (whole GPUs, the default), single (MIG devices as nvidia.com/gpu),\n"
    "                       mixed (MIG devices as nvidia.com/mig-<profile>)\n"
    "  --replicas N         time-slicing: advertise each GPU N times (ids UUID::0..N-1)\n"
    "  --poll-ms MS         how often the host is checked for GPUs gone, back or failing (default 1000)\n"
    "Logs one line per event on stderr.\n";
