#include "oci/hook_links.h"
#include "oci/bundle_root.h"
#include "util/cleanup.h"

int nvb_hook_create_symlinks(int state_fd, const char *root_given, const nvb_link_spec *links, size_t nlinks,
                             FILE *warn, nvb_err *err)
{
    _cleanup_free_ char *root_path = NULL;
    _cleanup_close_ int root_fd = nvb_oci_state_root_open(state_fd, root_given, &root_path, err);
    if (root_fd < 0)
        return -1;
    return nvb_root_make_links(root_fd, links, nlinks, warn, "nvbind hook create-symlinks", err);
}

int nvb_root_make_links(int root_fd, const nvb_link_spec *links, size_t nlinks, FILE *warn, const char *who,
                        nvb_err *err)
{
    nvb_link_dir dir = NVB_LINK_DIR_INIT;
    int r = 0;
    for (size_t i = 0; r == 0 && i < nlinks; i++) {
        nvb_link_result res;
        if ((r = nvb_root_symlink_in(root_fd, &dir, &links[i], &res, err)) < 0)
            break;
        if (res == NVB_LINK_NOT_A_SYMLINK && warn)
            fprintf(warn, "%s: %s exists and is not a symlink; left as it is\n", who, links[i].link);
    }
    nvb_link_dir_close(&dir);
    return r;
}
