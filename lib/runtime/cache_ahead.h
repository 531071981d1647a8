/* nvbind-runtime's create, and `nvbind run` with runc or crun, make the container's loader
 * cache themselves before the runtime runs, and leave the update-ldcache hook out of
 * config.json: a hook is a process the runtime forks, execs and waits for at every container
 * start, and the hook's work alone is a fraction of that. Only where the result is the one the hook would arrive at in the
 * container's mount namespace (oci/hook_ldcache.h, nvb_ldcache_ahead_of_runtime); anywhere
 * else the hook stays and does it there. */
#pragma once
#include <jansson.h>
#include "policy/edits.h"

/* all: nvbind's edits (no other mounts) about to go into config (the engine's document, of
 * the bundle at bundle, NULL: the current folder; for a bundle nvbind writes itself, a
 * document with root.path and the other mounts is enough); hook_path: the nvbind the hooks
 * run. When the update-ldcache
 * hook in all is nvbind's only hook there, this process runs as root, the container has no
 * user namespace, no other tool's hook runs before the container's (docker's
 * libnetwork-setkey aside), and nvb_ldcache_ahead_of_runtime did the work: that hook is
 * removed from all. Otherwise all is left as it is; nothing here fails the create. */
void nvb_cache_ahead(nvb_edits *all, const json_t *config, const char *bundle, const char *hook_path);
