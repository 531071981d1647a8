/* What one discovery looked at, so that the host cache (host/host_cache.c) can later tell,
 * with about one stat(2) per entry, whether a discovery made now would look at the same
 * things and find them as they were.
 *
 * Discovery's reads all go through nvb_rootpath and nvb_dir; when a recorder is attached
 * to them (nvb_rootpath.deps) they note every path element they resolved, with what was
 * asked of it: walked through, looked at itself, listed, or read. nvb_deps_settle then
 * resolves what was opened in one system call (openat2) element by element, stats every
 * element once, and keeps for each what can tell a change:
 *   - an element only walked through: that it is still the same folder (device, inode,
 *     type), or still missing with the same error;
 *   - an element looked at, listed or read, on a file system whose change time moves with
 *     every write, attribute change and entry added, removed or renamed (ext4, tmpfs, xfs,
 *     btrfs, devtmpfs): its whole identity (inode, type, mode, owner, device number, size,
 *     modification and change times); refused (not cached) when a change time is less than
 *     a second older than the discovery, so a later change is always stamped later;
 *   - the same on procfs and sysfs, whose times do not move: device, inode, mode and device
 *     number; for a listed folder its entry names as discovery saw them;
 *   - anything in a listed folder (on a disk file system) but a device node, a file read or
 *     a folder listed: nothing of its own, since discovery takes only its presence, name and
 *     type, which cannot change without the folder's times moving.
 * The content of files read on procfs and sysfs is not kept here: what can change in it
 * under the same inode (/proc/devices, the driver's version) is in host_cache.c's record. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include "util/bytes.h"

typedef struct nvb_deps nvb_deps;

enum nvb_dep_what {
    NVB_DEP_PASS = 1,   /* walked through on the way to something else */
    NVB_DEP_FINAL = 2,  /* the element itself was asked about (stat, link, existence) */
    NVB_DEP_LISTED = 4, /* a folder whose entries were listed */
    NVB_DEP_READ = 8,   /* a file whose content was read */
};

nvb_deps *nvb_deps_new(void);
void nvb_deps_free(nvb_deps *d);

/* An element resolved inside the root `root` (root_len bytes, 0 for "/"): el[0..len), an
 * absolute path inside the root whose folders are resolved. */
void nvb_deps_element(nvb_deps *d, const char *root, size_t root_len, const char *el, size_t len, unsigned what);
/* A path opened in one system call, to be resolved by nvb_deps_settle. Its index, for the
 * names a listing sees (nvb_deps_name); -1 when out of memory. */
long nvb_deps_opened(nvb_deps *d, const char *root, size_t root_len, const char *path, unsigned what);
/* The next entry name discovery read from the listing of opened path idx; name NULL at
 * the listing's end. */
void nvb_deps_name(nvb_deps *d, long idx, const char *name);

/* After the discovery that began at `started` (CLOCK_REALTIME_COARSE): resolve, stat and
 * keep what tells a change, as above. false when the discovery cannot be kept (something it
 * looked at changed during it or within the second before it, or out of memory). */
bool nvb_deps_settle(nvb_deps *d, const struct timespec *started);
/* How many entries the settled record holds (tests, bench). */
size_t nvb_deps_count(const nvb_deps *d);
void nvb_deps_encode(nvb_bytes_out *o, const nvb_deps *d);
/* Whether every entry of an encoded record is still as it was; false on any difference,
 * and on a record that cannot be read. */
bool nvb_deps_check(nvb_bytes_in *in);
