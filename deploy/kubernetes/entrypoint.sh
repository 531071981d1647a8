#!/bin/sh
# Run the node's nvbind device plugin in the host's root (mounted at /host by the DaemonSet).
# exec: the plugin is the container's main process and gets the kubelet's SIGTERM itself.
set -eu
if [ ! -x /host/usr/bin/nvbind ]; then
    echo "nvbind-device-plugin: /usr/bin/nvbind is not installed on this node (see deploy/kubernetes/node-setup.sh)" >&2
    exit 6
fi
exec chroot /host /usr/bin/nvbind device-plugin "$@"
