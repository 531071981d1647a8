/* The group whose members may use GPUs without being root: they claim GPUs (claims_files.h)
 * and write their own audit log (audit.h). docs/isolation.md, "Users who are not root". */
#pragma once

#include <sys/types.h>

#define NVB_GROUP_NAME "nvbind"

/* The group's id when the folder open at dir_fd is shared with it, (gid_t)-1 when not. The
 * administrator opts in by giving the folder to the group: root's, the group's and not
 * writable by others; any other folder stays root's alone. */
gid_t nvb_group_shared_folder(int dir_fd);
