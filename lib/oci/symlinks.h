/* The links create-symlinks makes inside a container: "TARGET::LINK" arguments and their
 * creation relative to the container's root fd. */
#pragma once
#include "util/error.h"

typedef struct nvb_link_spec {
    char *target; /* the symlink's content, usually relative ("libcuda.so.1") */
    char *link;   /* absolute, normalised container path of the link itself */
} nvb_link_spec;

/* Parse "TARGET::LINK", split at the last "::" (LINK, a normalised absolute path, never
 * needs one). TARGET must be non-empty and shorter than PATH_MAX; LINK must pass
 * nvb_container_path_ok and not be "/". Errors are NVB_EXIT_USAGE and quote the argument. */
int nvb_link_spec_parse(const char *arg, nvb_link_spec *out, nvb_err *err);
void nvb_link_spec_free(nvb_link_spec *l);

typedef enum nvb_link_result {
    NVB_LINK_CREATED,        /* there was nothing at LINK */
    NVB_LINK_UNCHANGED,      /* LINK was already a symlink to TARGET */
    NVB_LINK_REPLACED,       /* LINK was a symlink elsewhere; replaced atomically */
    NVB_LINK_NOT_A_SYMLINK,  /* LINK is a file, folder or other; left as it is */
} nvb_link_result;

/* Make LINK -> TARGET inside the root rootfd. LINK's parent is resolved inside the root
 * (missing folders created, mode 0755); the final component is never followed. */
int nvb_root_symlink(int rootfd, const nvb_link_spec *l, nvb_link_result *result, nvb_err *err);
