/* The library names an image's cache (and the driver's files) account for, folder by
 * folder, for judging whether that cache still lists what ldconfig would find. Folders are
 * known by their identity (device and inode), looked up inside the container's root: the
 * cache may name /lib/x86_64-linux-gnu where the configuration says /usr/lib/..., one folder
 * on merged /usr. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

/* The most folders the names may be in: a cache naming more is not judged. */
#define NVB_FOLDER_NAMES_MAX_DIRS 256

typedef struct nvb_folder_names nvb_folder_names;

nvb_folder_names *nvb_folder_names_new(int rootfd);
void nvb_folder_names_free(nvb_folder_names *f);

/* Add the name at the end of the container path `path` (FOLDER/NAME, kept alive by the
 * caller) to its folder. A folder that is not in the root is skipped. 0, or -1 when out of
 * memory or over NVB_FOLDER_NAMES_MAX_DIRS folders. */
int nvb_folder_names_add(nvb_folder_names *f, const char *path);

/* Whether the folder (its fstat) lists name, or, for a versioned name, a name of the same
 * library and major version: "libfoo.so.1" for libfoo.so.1.2.3 (ldconfig files a library
 * under its SONAME, the link beside the file), "libbz2.so.1.0" for a libbz2.so.1 link. */
bool nvb_folder_names_has(nvb_folder_names *f, const struct stat *folder, const char *name);
