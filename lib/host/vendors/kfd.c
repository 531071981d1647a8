/* AMD's compute interface: /dev/kfd is one node for every GPU, and the KFD topology lists a
 * node per GPU (and per CPU) whose properties name the GPU's render node minor. A GPU the
 * topology lists gets /dev/kfd too: ROCm opens it and then the render node it pairs with. */
#include "host/vendors/vendors.h"
#include "host/hostio.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOPOLOGY "/sys/class/kfd/kfd/topology/nodes"

long nvb_kfd_render_minor(const char *props)
{
    static const char key[] = "drm_render_minor ";
    for (const char *l = props; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
        if (strncmp(l, key, sizeof key - 1) == 0)
            return strtol(l + sizeof key - 1, NULL, 10);
    return -1;
}

static void pair_node(nvb_discovery *d, nvb_drm_gpu *gpus, size_t n, const char *node)
{
    char path[512], text[8192];
    long minor;
    if (!nvb_path_cat(path, sizeof path, TOPOLOGY "/", node, "/properties") ||
        nvb_read_small(&d->root, path, text, sizeof text, NVB_READ_TO_EOF) < 0 ||
        (minor = nvb_kfd_render_minor(text)) <= 0)
        return;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(gpus[i].driver, "amdgpu") != 0 || gpus[i].render_minor != (unsigned long)minor)
            continue;
        gpus[i].kfd_node = atoi(node);
        if (nvb_path_cat(path, sizeof path, TOPOLOGY "/", node, "/gpu_id") &&
            nvb_read_small(&d->root, path, text, 64, NVB_READ_ONE_PIECE) > 0)
            gpus[i].kfd_gpu_id = (unsigned)strtoul(text, NULL, 10);
    }
}

int nvb_kfd_pair(nvb_discovery *d, nvb_drm_gpu *gpus, size_t n, nvb_err *err)
{
    bool amd = false;
    for (size_t i = 0; i < n; i++)
        amd |= strcmp(gpus[i].driver, "amdgpu") == 0;
    nvb_dir dir;
    if (!amd || nvb_dir_open(&dir, &d->root, TOPOLOGY) < 0)
        return 0; /* no amdgpu GPU, or no KFD (amdgpu without compute): render and card only */
    nvb_strv nodes = {0};
    const char *name;
    int r = 0;
    while (r == 0 && (name = nvb_dir_next(&dir, NULL)))
        if (name[0] >= '0' && name[0] <= '9')
            r = nvb_strv_push(&nodes, name);
    nvb_dir_close(&dir);
    for (size_t i = 0; r == 0 && i < nodes.n; i++)
        pair_node(d, gpus, n, nodes.v[i]);
    nvb_strv_free(&nodes);
    if (r < 0)
        return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    bool paired = false;
    for (size_t i = 0; i < n; i++)
        paired |= gpus[i].kfd_node >= 0;
    if (!paired)
        return 0;
    nvb_devnode kfd;
    int s = nvb_stat_devnode(d, "/dev/kfd", &kfd);
    if (s < 0)
        return nvb_strv_pushf(&d->h->warnings, "amdgpu: the KFD topology lists GPUs but /dev/kfd is missing: %s "
                                               "(containers get no ROCm compute)", strerror(-s)) < 0
                   ? nvb_errf(err, NVB_EXIT_IO, "out of memory")
                   : 0;
    kfd.path = (char *)"/dev/kfd";
    for (size_t i = 0; r == 0 && i < n; i++)
        if (gpus[i].kfd_node >= 0)
            r = nvb_devnode_list_add(&gpus[i].nodes, &kfd);
    free(kfd.host_path);
    return r < 0 ? nvb_errf(err, NVB_EXIT_IO, "out of memory") : 0;
}
