#include "oci/hook_links.h"
#include "oci/bundle_root.h"
#include "util/cleanup.h"

int nvb_hook_create_symlinks(int state_fd, const nvb_link_spec *links, size_t nlinks, FILE *warn, nvb_err *err)
{
    _cleanup_free_ char *root_path = NULL;
    _cleanup_close_ int root_fd = nvb_oci_state_root_open(state_fd, &root_path, err);
    if (root_fd < 0)
        return -1;
    for (size_t i = 0; i < nlinks; i++) {
        nvb_link_result res;
        if (nvb_root_symlink(root_fd, &links[i], &res, err) < 0)
            return -1;
        if (res == NVB_LINK_NOT_A_SYMLINK && warn)
            fprintf(warn, "nvbind hook create-symlinks: %s exists and is not a symlink; left as it is\n",
                    links[i].link);
    }
    return 0;
}
