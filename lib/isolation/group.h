/* The group whose members may use GPUs without being root: they claim GPUs (claims_files.h)
 * and write their own audit log (audit.h). docs/isolation.md, "Users who are not root". */
#pragma once

#define NVB_GROUP_NAME "nvbind"
