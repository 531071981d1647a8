/* Whether root shares a folder with the nvbind group. See group.h. */
#include "isolation/group.h"

#include "util/names.h"

#include <sys/stat.h>

gid_t nvb_group_shared_folder(int dir_fd)
{
    struct stat st;
    /* The folder first: a root:root one (the usual case) needs no group lookup, whose NSS
     * modules cost more than a claim or an audit line (a hundred system calls and a library
     * loaded). */
    if (dir_fd < 0 || fstat(dir_fd, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != 0 || st.st_gid == 0 ||
        (st.st_mode & S_IWOTH))
        return (gid_t)-1;
    gid_t gid;
    return nvb_group_id(NVB_GROUP_NAME, &gid) && gid == st.st_gid ? st.st_gid : (gid_t)-1;
}
