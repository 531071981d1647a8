/* May nvbind trust a file that decides what root runs (a configuration file naming a hook,
 * a hook binary)? Only when nobody but root and the caller could have written it: the file,
 * every folder above it and every symbolic link on the way are owned by root or the caller,
 * and none is writable by its group or others (a folder with the sticky bit, like /tmp, is
 * fine: others cannot replace what they do not own there). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include "util/error.h"

/* 0: trusted. 1: not trusted, why holds "PATH is owned by uid 1000, not by root or you" or
 * "folder PATH is writable by others". -1: cannot tell (errno set, why holds "PATH: reason").
 * A relative path is taken from the current folder. */
int nvb_trust_path(const char *path, uid_t caller, char *why, size_t n);

/* The folder open at fd, where root writes (an engine's configuration, device nodes): owned by
 * root or the caller and writable by no one else, since whoever may write in it could plant
 * a link or swap a file between root's calls. 0, or -1 with err (NVB_EXIT_IO): "SHOWN is owned
 * by uid N, neither root nor you: BECAUSE" or "SHOWN is writable by everyone (mode M): BECAUSE". */
int nvb_trust_folder_fd(int fd, const char *shown, const char *because, nvb_err *err);

/* Only the links on the way to path (as nvb_trust_path checks them: each link, its folder and
 * the links its target passes through), not the file nor the folders above it. */
int nvb_trust_links(const char *path, uid_t caller, char *why, size_t n);

/* May nvbind load a library into its own process (dlopen: NVML)? As nvb_trust_path; with
 * read_only_vouches (a WSL2 guest's /usr/lib/wsl: mode bits there can claim a write access
 * nobody has through the mount) also a root-owned file on read-only mounts whose folders up
 * to the first writable one are root's and that folder trusted, reached through links that
 * are trusted themselves. Elsewhere a read-only mount proves nothing: a user may mount one
 * (udisks, FUSE) holding files that claim to be root's. 0: trusted; otherwise why holds the
 * reason. */
int nvb_trust_library(const char *path, bool read_only_vouches, char *why, size_t n);
