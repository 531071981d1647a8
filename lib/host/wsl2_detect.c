/* Is this a WSL2 guest whose GPU Windows lends through /dev/dxg? Both signs are needed:
 * /dev/dxg alone can be a leftover node or a test host with the Linux driver, and WSL2's
 * kernel alone runs on machines without GPU paravirtualization. One answer for discovery,
 * doctor, `nvbind wsl2 check` and nvbind_detect_wsl2(). */
#include "host/hostio.h"
#include "host/wsl2.h"

#include <limits.h>
#include <string.h>

/* Microsoft's WSL2 kernels name themselves "<version>-microsoft-standard-WSL2" (WSL1 and the
 * first WSL2 kernels said "Microsoft" / "microsoft-standard": those have no /dev/dxg GPU). */
static const char wsl2_signature[] = "microsoft-standard-WSL2";

static bool file_has_signature(nvb_rootpath *root, const char *path)
{
    char text[1024];
    return nvb_read_small(root, path, text, sizeof text, NVB_READ_TO_EOF) >= 0 && strcasestr(text, wsl2_signature);
}

bool nvb_wsl2_kernel(nvb_rootpath *root)
{
    return file_has_signature(root, "/proc/sys/kernel/osrelease") || file_has_signature(root, "/proc/version");
}

bool nvb_wsl2_detect(nvb_rootpath *root)
{
    char buf[PATH_MAX];
    return nvb_rootpath_lookup(root, NVB_WSL2_DXG, buf, NULL) == 0 && nvb_wsl2_kernel(root);
}

bool nvb_wsl2_detect_root(const char *root)
{
    nvb_rootpath rp;
    nvb_rootpath_init(&rp, root && *root ? root : "/");
    bool yes = nvb_wsl2_detect(&rp);
    nvb_rootpath_clear(&rp);
    return yes;
}
