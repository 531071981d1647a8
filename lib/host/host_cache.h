/* Discovery kept on disk between runs (issue 16): `nvbind info`, `cdi generate` and the
 * runtime shim discover the same host again and again; a run whose host has not changed
 * reads the model the last discovery left instead, after checking that nothing it depends
 * on has changed (host/deps.h: about one stat(2) per element discovery looked at, instead of
 * discovery's few hundred system calls). It can never answer for a host that has changed in
 * a way discovery would see; what it checks, and how, is in docs/host-cache.md.
 *
 * Where: /run/nvbind/host-cache for root (tmpfs: gone at reboot), $XDG_RUNTIME_DIR/nvbind/
 * host-cache for other users, or the folder NVBIND_HOST_CACHE names; NVBIND_HOST_CACHE=off
 * turns it off. The folder must belong to the user running nvbind and be closed to others,
 * and so must each file in it, or it is not used: a model read from there is trusted to
 * describe the host's files. */
#pragma once
#include "host/host.h"

/* nvb_host_discover, through the cache where it can serve: not for discovery through NVML
 * (opts->with_nvml, or MIG devices: their live state is NVML's), nor for WSL2. */
nvb_host *nvb_host_discover_cached(const nvb_discover_opts *opts, nvb_err *err);
