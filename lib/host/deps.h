/* What one discovery looked at, so that the host cache (host/host_cache.c) can later tell,
 * with about one statx(2) per entry, whether a discovery made now would look at the same
 * things and find them as they were. docs/host-cache.md says what is compared and when a
 * discovery is not kept.
 *
 * Discovery's reads all go through nvb_rootpath and nvb_dir; when a recorder is attached to
 * them (nvb_rootpath.deps) they note every path element they resolved, with what was asked of
 * it (walked through, looked at itself, listed, read) and what the kernel answered; the names
 * a listing saw and the bytes a read got. nvb_deps_settle opens again what was opened in one
 * system call and resolves it element by element, takes each element's identity once, and
 * refuses a discovery during which anything it looked at changed. */
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
    /* What the walk found there when it asked the kernel: told against what is there when
     * the discovery is settled, so that nothing added, removed or replaced in between is
     * kept. */
    NVB_DEP_SAW_MISSING = 0x10,
    NVB_DEP_SAW_LINK = 0x20,
    NVB_DEP_SAW_OTHER = 0x40,
};

nvb_deps *nvb_deps_new(void);
void nvb_deps_free(nvb_deps *d);

/* An element resolved inside the root `root` (root_len bytes, 0 for "/"): el[0..len), an
 * absolute path inside the root whose folders are resolved. */
void nvb_deps_element(nvb_deps *d, const char *root, size_t root_len, const char *el, size_t len, unsigned what);
/* A path opened in one system call with these open(2) flags, to be resolved by
 * nvb_deps_settle. Its index, for the open's result and for the names or bytes read from it;
 * -1 when out of memory. */
long nvb_deps_opened(nvb_deps *d, const char *root, size_t root_len, const char *path, int flags, unsigned what);
/* What the open gave: 0, or its errno. */
void nvb_deps_open_result(nvb_deps *d, long idx, int err);
/* The next entry name discovery read from the listing of opened path idx; name NULL at
 * the listing's end. */
void nvb_deps_name(nvb_deps *d, long idx, const char *name);
/* The whole content discovery read from opened file idx. */
void nvb_deps_content(nvb_deps *d, long idx, const void *data, size_t len);

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
