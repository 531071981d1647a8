#!/bin/sh
# Prepare a GPU node for nvbind's device plugin: containerd >= 1.7 reads CDI specs from
# /var/run/cdi and runs containers through nvbind-runtime. Run as root on each GPU node, with
# nvbind installed in /usr/bin (built with the device plugin; Debian's package, built with
# -Dstatic_deps=false, needs libgrpc29 and libprotobuf-c1 at run time, the default build links
# them in); the DaemonSet runs that nvbind.
set -eu
nvbind device-plugin --help >/dev/null
nvbind doctor
nvbind runtime configure --runtime containerd --enable-cdi
mkdir -p /var/run/cdi
systemctl restart containerd
echo "now: kubectl label node $(hostname) nvbind.io/gpu=true"
