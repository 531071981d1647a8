#include "oci/cuda_compat.h"
#include "oci/safepath.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_PARTS 4
#define MAX_DIGITS 9

/* Split s into its numbers; the count, or -1 when s is not a version. */
static int parse_version(const char *s, unsigned long part[MAX_PARTS])
{
    int n = 0;
    for (;;) {
        size_t digits = strspn(s, "0123456789");
        if (digits == 0 || digits > MAX_DIGITS || n == MAX_PARTS)
            return -1;
        part[n++] = strtoul(s, NULL, 10);
        s += digits;
        if (*s == '\0')
            break;
        if (*s++ != '.')
            return -1;
    }
    return n >= 2 ? n : -1;
}

bool nvb_driver_version_ok(const char *s)
{
    unsigned long p[MAX_PARTS];
    return s && parse_version(s, p) > 0;
}

int nvb_driver_version_cmp(const char *a, const char *b)
{
    unsigned long pa[MAX_PARTS] = {0}, pb[MAX_PARTS] = {0};
    parse_version(a, pa);
    parse_version(b, pb);
    for (int i = 0; i < MAX_PARTS; i++)
        if (pa[i] != pb[i])
            return pa[i] < pb[i] ? -1 : 1;
    return 0;
}

bool nvb_cuda_compat_newest(int rootfd, char *out, size_t outlen)
{
    int fd = nvb_root_open(rootfd, NVB_CUDA_COMPAT_DIR, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return false;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return false;
    }
    static const char prefix[] = "libcuda.so.";
    bool found = false;
    for (struct dirent *de; (de = readdir(d));) {
        const char *v = de->d_name + sizeof prefix - 1;
        /* libcuda.so.1 (the SONAME link) has one part and is no version. */
        if (strncmp(de->d_name, prefix, sizeof prefix - 1) != 0 || !nvb_driver_version_ok(v) ||
            strlen(v) >= outlen)
            continue;
        if (!found || nvb_driver_version_cmp(v, out) > 0) {
            strcpy(out, v);
            found = true;
        }
    }
    closedir(d);
    return found;
}

bool nvb_cuda_compat_wanted(int rootfd, const char *host_version)
{
    char newest[64];
    return nvb_cuda_compat_newest(rootfd, newest, sizeof newest) && nvb_driver_version_cmp(newest, host_version) > 0;
}
