/* The create-symlinks hook, as a library call (`nvbind hook create-symlinks` is a thin
 * skin over it). */
#pragma once
#include <stddef.h>
#include <stdio.h>
#include "oci/symlinks.h"

/* Read the container state from state_fd, open the container's root and make each link
 * inside it, in order. A path that exists and is not a symlink is left as it is, with one
 * line on warn (when non-NULL). */
int nvb_hook_create_symlinks(int state_fd, const char *root_given, const nvb_link_spec *links, size_t nlinks,
                             FILE *warn, nvb_err *err);

/* Make each link inside the open root root_fd, in order; warnings start with who (what nvb_hook_create_symlinks does
 * once the root is open; update-ldcache's --link uses it too). Consecutive links in the same
 * folder share one resolution of that folder. */
int nvb_root_make_links(int root_fd, const nvb_link_spec *links, size_t nlinks, FILE *warn, const char *who,
                        nvb_err *err);
