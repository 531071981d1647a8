/* The create-symlinks hook, as a library call (`nvbind hook create-symlinks` is a thin
 * skin over it). */
#pragma once
#include <stddef.h>
#include <stdio.h>
#include "oci/symlinks.h"

/* Read the container state from state_fd, open the container's root and make each link
 * inside it, in order. A path that exists and is not a symlink is left as it is, with one
 * line on warn (when non-NULL). */
int nvb_hook_create_symlinks(int state_fd, const nvb_link_spec *links, size_t nlinks, FILE *warn, nvb_err *err);
