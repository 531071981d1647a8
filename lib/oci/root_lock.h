/* One hook at a time per container root filesystem: two containers started on the same
 * root (or a hook re-run while another is still busy) would otherwise race on ldconfig's
 * temporary /etc/ld.so.cache~ and on the loader configuration files. */
#pragma once
#include "util/error.h"

/* How long a hook waits for another one on the same root before it gives up. */
#define NVB_ROOT_LOCK_WAIT_MS_DEFAULT 10000u

/* Take an exclusive flock(2) on the root folder itself (root_fd: the root opened O_PATH;
 * root_path for messages), polling for at most wait_ms. Nothing is created inside the
 * root. Returns the fd that holds the lock (close it to release), or -1 with err set
 * (NVB_EXIT_RUNTIME when the wait ran out, NVB_EXIT_IO otherwise). */
int nvb_root_lock(int root_fd, const char *root_path, unsigned wait_ms, nvb_err *err);
