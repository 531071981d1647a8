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

/* The folder the last link went into, kept open for the next link in the same folder: a hook
 * makes dozens of links in two or three folders, and resolving a folder inside the root
 * costs a system call per path component. */
typedef struct nvb_link_dir {
    char *parent; /* container path of the open folder; NULL when none */
    int fd;       /* -1 when none */
} nvb_link_dir;
#define NVB_LINK_DIR_INIT {NULL, -1}
/* nvb_root_symlink, reusing *dir when the link's folder is the one open there. */
int nvb_root_symlink_in(int rootfd, nvb_link_dir *dir, const nvb_link_spec *l, nvb_link_result *result,
                        nvb_err *err);
void nvb_link_dir_close(nvb_link_dir *dir);
