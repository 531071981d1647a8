/* Path operations inside a container's root filesystem that never leave it.
 *
 * The root is an open directory fd; every lookup goes through openat2(2) with
 * RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS, so an absolute symlink resolves against the
 * container's root, ".." stops at it, and /proc magic links are refused. Nothing here
 * follows the final component of a path that is about to be created or replaced. */
#pragma once
#include <stdbool.h>
#include <limits.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include "util/error.h"
#include "util/fileio.h" /* nvb_reopen_regular */

/* openat2(2) with the given resolve flags; returns an fd or -1 with errno set
 * (ENOSYS on kernels older than 5.6). Retries EINTR/EAGAIN a bounded number of times. */
int nvb_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve);

/* Open path (absolute or relative, taken relative to rootfd either way) inside the root
 * rootfd with extra open flags (O_CLOEXEC is always added). -1 with errno on failure. */
int nvb_root_open(int rootfd, const char *path, int flags);

/* nvb_root_open where no part of path may be a symbolic link: ELOOP at the first. */
int nvb_root_open_no_links(int rootfd, const char *path, int flags);

/* Is p an absolute, normalised container path ("/a/b": no empty, "." or ".." components,
 * no trailing slash, each name at most NAME_MAX, whole at most PATH_MAX-1)?
 * On false, *why (if non-NULL) says what is wrong. "/" itself is allowed when allow_root. */
bool nvb_container_path_ok(const char *p, bool allow_root, const char **why);

/* Open the directory at container path dir (absolute, normalised) inside rootfd, creating
 * missing folders with mode (before umask). Every step resolves inside the root; a
 * component that is a dangling symlink or a non-directory is an error. Returns an
 * O_PATH|O_DIRECTORY fd, -1 with err set (NVB_EXIT_IO). */
int nvb_root_mkdir_p(int rootfd, const char *dir, mode_t mode, nvb_err *err);

/* The folder holding the container path path (absolute): "/" for "/x". */
void nvb_container_folder(const char *path, char out[PATH_MAX]);

/* Where a lookup of path (absolute, normalised) inside the root goes, as the kernel's
 * RESOLVE_IN_ROOT and runc go: each symbolic link met is followed against the root, ".."
 * never leaves it. out: the container path reached, its missing part as written (what a
 * runtime would make there). visit, when given, is called with the place of each link met
 * and then with out; returning true stops the walk. 1 when visit stopped it, 0 when
 * resolved; -1 with errno (ELOOP past 40 links, ENAMETOOLONG). A path with no link on the
 * way costs one lookup. */
int nvb_root_resolve(int rootfd, const char *path, char out[PATH_MAX], bool (*visit)(const char *at, void *ctx),
                     void *ctx);

/* The root filesystem as runc takes it, O_PATH|O_DIRECTORY: value (root.path) absolute, or
 * relative to the bundle folder (which runc enters, following its links), and no symbolic
 * link on the way through value (runc refuses such a root: "not an absolute path, or a
 * symlink"; a link there is a path someone can swap for another tree). -1 with errno
 * (ELOOP: a link). */
int nvb_root_open_as_runtime(const char *bundle, const char *value);

/* Open a host directory path (trusted: it comes from the runtime) as O_PATH|O_DIRECTORY. */
int nvb_root_open_host_dir(const char *host_path, nvb_err *err);
