/* The NVIDIA driver's user-space libraries, by file name.
 *
 * Sources: the "Installed Components" chapter of NVIDIA's driver README, libnvidia-container's
 * library groups (utility, compute, video, graphics, GLVND, NGX) and the libraries the NVIDIA
 * container toolkit mounts for graphics (EGL platform libraries, allocator, Vulkan producer). */
#include "ldcache/driver_libs.h"

#include <stdlib.h>
#include <string.h>

#include "host/host.h"

enum lib_kind {
    /* "<stem>.so", "<stem>.so.<abi>" (the SONAME, e.g. libGLX_nvidia.so.0), "<stem>.so.<driver version>" */
    DRIVER_VERSIONED,
    /* Libraries with their own version (NVIDIA's open-source EGL platform libraries, also
     * built by distributions): "<stem>.so", "<stem>.so.1", "<stem>.so.1.1.13", any numbers. */
    OWN_VERSION,
    /* Names glvnd or Mesa also use (libGL.so.1 is glvnd's): NVIDIA's legacy non-GLVND
     * library is only recognisable by the driver-version suffix. */
    DRIVER_SUFFIX_ONLY,
};

#define U NVB_CAP_UTILITY
#define C NVB_CAP_COMPUTE
#define V NVB_CAP_VIDEO
#define G NVB_CAP_GRAPHICS
#define D NVB_CAP_DISPLAY
#define N NVB_CAP_NGX

struct driver_lib {
    const char *stem;
    unsigned caps;
    enum lib_kind kind;
};

/* Sorted by strcmp (bsearch). */
static const struct driver_lib catalogue[] = {
    { "libEGL", G, DRIVER_SUFFIX_ONLY },             /* legacy EGL (non-GLVND installs) */
    { "libEGL_nvidia", G, DRIVER_VERSIONED },        /* GLVND EGL vendor library */
    { "libGL", G, DRIVER_SUFFIX_ONLY },              /* legacy OpenGL/GLX */
    { "libGLESv1_CM", G, DRIVER_SUFFIX_ONLY },       /* legacy OpenGL ES 1 */
    { "libGLESv1_CM_nvidia", G, DRIVER_VERSIONED },  /* GLVND OpenGL ES 1 vendor library */
    { "libGLESv2", G, DRIVER_SUFFIX_ONLY },          /* legacy OpenGL ES 2 */
    { "libGLESv2_nvidia", G, DRIVER_VERSIONED },     /* GLVND OpenGL ES 2 vendor library */
    { "libGLX_nvidia", G, DRIVER_VERSIONED },        /* GLVND GLX vendor library */
    { "libcuda", C, DRIVER_VERSIONED },              /* CUDA driver API */
    { "libcudadebugger", C, DRIVER_VERSIONED },      /* CUDA debugger back end */
    { "libglxserver_nvidia", D, DRIVER_VERSIONED },  /* X server GLX module: only an X server loads it */
    { "libnvcuvid", V, DRIVER_VERSIONED },           /* video decoder */
    { "libnvidia-allocator", C | G, DRIVER_VERSIONED },   /* buffer allocator (CUDA, GBM) */
    { "libnvidia-api", G, DRIVER_VERSIONED },        /* NVAPI for Linux */
    { "libnvidia-cbl", G, DRIVER_VERSIONED },        /* VK_NV_ray_tracing */
    { "libnvidia-cfg", U, DRIVER_VERSIONED },        /* GPU configuration */
    { "libnvidia-compiler", C, DRIVER_VERSIONED },   /* OpenCL NVVM-PTX compiler (older drivers) */
    { "libnvidia-egl-gbm", G, OWN_VERSION },         /* GBM EGL platform */
    { "libnvidia-egl-wayland", G, OWN_VERSION },     /* Wayland EGL platform */
    { "libnvidia-egl-wayland2", G, OWN_VERSION },    /* Wayland EGL platform, second generation */
    { "libnvidia-egl-xcb", G, OWN_VERSION },         /* X11 (xcb) EGL platform */
    { "libnvidia-egl-xlib", G, OWN_VERSION },        /* X11 (Xlib) EGL platform */
    { "libnvidia-eglcore", G, DRIVER_VERSIONED },    /* EGL core */
    { "libnvidia-encode", V, DRIVER_VERSIONED },     /* video encoder */
    { "libnvidia-fatbinaryloader", C, DRIVER_VERSIONED }, /* fatbin loader (older drivers) */
    { "libnvidia-fbc", G, DRIVER_VERSIONED },        /* framebuffer capture */
    { "libnvidia-glcore", G, DRIVER_VERSIONED },     /* OpenGL core */
    { "libnvidia-glsi", G, DRIVER_VERSIONED },       /* OpenGL system interaction */
    { "libnvidia-glvkspirv", G, DRIVER_VERSIONED },  /* SPIR-V for Vulkan */
    { "libnvidia-gpucomp", C | G, DRIVER_VERSIONED },    /* shader/compute compiler shared by CUDA and GL/VK */
    { "libnvidia-gtk2", D, DRIVER_VERSIONED },       /* nvidia-settings GTK 2 UI */
    { "libnvidia-gtk3", D, DRIVER_VERSIONED },       /* nvidia-settings GTK 3 UI */
    { "libnvidia-ifr", G, DRIVER_VERSIONED },        /* OpenGL framebuffer capture (older drivers) */
    { "libnvidia-ml", U, DRIVER_VERSIONED },         /* NVML */
    { "libnvidia-ngx", N, DRIVER_VERSIONED },        /* NGX (DLSS) */
    { "libnvidia-nscq", U, DRIVER_VERSIONED },       /* NVSwitch configuration and query */
    { "libnvidia-nvvm", C, DRIVER_VERSIONED },       /* NVVM compiler */
    { "libnvidia-nvvm70", C, DRIVER_VERSIONED },     /* NVVM 7.0 for older CUDA (libnvidia-nvvm70.so.4) */
    { "libnvidia-opencl", C, DRIVER_VERSIONED },     /* OpenCL ICD */
    { "libnvidia-opticalflow", V, DRIVER_VERSIONED },/* optical flow */
    { "libnvidia-pkcs11", C, DRIVER_VERSIONED },     /* confidential computing crypto */
    { "libnvidia-pkcs11-openssl3", C, DRIVER_VERSIONED },
    { "libnvidia-present", G, DRIVER_VERSIONED },    /* Vulkan presentation */
    { "libnvidia-ptxjitcompiler", C, DRIVER_VERSIONED }, /* PTX JIT (used by libcuda) */
    { "libnvidia-rtcore", G, DRIVER_VERSIONED },     /* OptiX ray tracing core */
    { "libnvidia-sandboxutils", U, DRIVER_VERSIONED },   /* sandbox (container) utilities */
    { "libnvidia-tileiras", C, DRIVER_VERSIONED },   /* Tile IR JIT */
    { "libnvidia-tls", G, DRIVER_VERSIONED },        /* OpenGL thread-local storage */
    { "libnvidia-vksc-core", G, DRIVER_VERSIONED },  /* Vulkan SC */
    { "libnvidia-vulkan-producer", G, DRIVER_VERSIONED }, /* Vulkan producer for EGL streams */
    { "libnvidia-wayland-client", G, DRIVER_VERSIONED }, /* Wayland client support for Vulkan */
    { "libnvidia-wfb", D, DRIVER_VERSIONED },        /* X server wrapped framebuffer module */
    { "libnvoptix", G, DRIVER_VERSIONED },           /* OptiX */
    { "libvdpau_nvidia", V, DRIVER_VERSIONED },      /* VDPAU ICD */
};

/* A "libnvidia-<x>" library this catalogue does not know yet (drivers add one every few
 * releases; libnvidia-gpucomp arriving in 545 broke containers that lacked it) is accepted
 * only with this driver's exact version suffix — proof that this driver installed it. It
 * goes to the compute, video and graphics groups: a missing dependency breaks those stacks,
 * while one extra read-only library of the same driver costs nothing. Utility stays out:
 * nvidia-smi and NVML need only libnvidia-ml, and display/NGX are opt-in extras. */
#define UNKNOWN_NVIDIA_CAPS (C | V | G)
#define UNKNOWN_PREFIX "libnvidia-"

static int cmp_stem(const void *key, const void *elem)
{
    return strcmp(key, ((const struct driver_lib *)elem)->stem);
}

static const struct driver_lib *lookup(const char *stem)
{
    return bsearch(stem, catalogue, sizeof catalogue / sizeof *catalogue, sizeof *catalogue, cmp_stem);
}

enum suffix { SUF_NONE, SUF_DRIVER, SUF_ABI, SUF_OTHER_VERSION, SUF_JUNK };

/* "1", "1.1.13": digits separated by single dots. */
static bool numeric_version(const char *s, unsigned *parts, size_t *first_len)
{
    *parts = 0;
    *first_len = 0;
    while (*s) {
        size_t n = strspn(s, "0123456789");
        if (n == 0)
            return false;
        if (++*parts == 1)
            *first_len = n;
        s += n;
        if (*s == '.' && s[1])
            s++;
        else if (*s)
            return false;
    }
    return *parts > 0;
}

/* What follows "<stem>.so": nothing, ".<driver version>", a one- or two-digit ABI number
 * (".1", the SONAME form), some other version (".535.129.03", ".1.1.13"), or anything else
 * (".1.bak", ".550.54.14.old", "-foo"). */
static enum suffix classify(const char *suffix, const char *driver_version)
{
    if (!*suffix)
        return SUF_NONE;
    if (*suffix != '.')
        return SUF_JUNK;
    suffix++;
    if (driver_version && *driver_version && !strcmp(suffix, driver_version))
        return SUF_DRIVER;
    unsigned parts;
    size_t first_len;
    if (!numeric_version(suffix, &parts, &first_len))
        return SUF_JUNK;
    return parts == 1 && first_len <= 2 ? SUF_ABI : SUF_OTHER_VERSION;
}

unsigned nvb_driver_lib_caps(const char *name, const char *driver_version)
{
    if (!name || strchr(name, '/'))
        return 0;
    /* The stem ends at the first ".so" that ends the name or is followed by a dot. */
    const char *so = name;
    while ((so = strstr(so, ".so")) && so[3] && so[3] != '.')
        so += 3;
    char stem[64];
    size_t stem_len = so ? (size_t)(so - name) : 0;
    if (stem_len == 0 || stem_len >= sizeof stem)
        return 0;
    memcpy(stem, name, stem_len);
    stem[stem_len] = '\0';
    enum suffix suf = classify(so + 3, driver_version);

    const struct driver_lib *lib = lookup(stem);
    if (!lib)
        return suf == SUF_DRIVER && !strncmp(stem, UNKNOWN_PREFIX, strlen(UNKNOWN_PREFIX)) &&
               stem[strlen(UNKNOWN_PREFIX)] ? UNKNOWN_NVIDIA_CAPS : 0;
    switch (lib->kind) {
    case DRIVER_VERSIONED:
        /* another driver-like version is a leftover of an older driver: never mix versions */
        return suf == SUF_NONE || suf == SUF_ABI || suf == SUF_DRIVER ? lib->caps : 0;
    case OWN_VERSION:
        return suf != SUF_JUNK ? lib->caps : 0;
    case DRIVER_SUFFIX_ONLY:
        return suf == SUF_DRIVER ? lib->caps : 0;
    }
    return 0;
}

/* The unversioned development links NVIDIA's installer and the container toolkit create,
 * by the SONAME they point to. */
static const struct { const char *soname, *link; } dev_links[] = {
    { "libcuda.so.1", "libcuda.so" },
    { "libnvcuvid.so.1", "libnvcuvid.so" },
    { "libnvidia-allocator.so.1", "libnvidia-allocator.so" },
    { "libnvidia-cfg.so.1", "libnvidia-cfg.so" },
    { "libnvidia-encode.so.1", "libnvidia-encode.so" },
    { "libnvidia-fbc.so.1", "libnvidia-fbc.so" },
    { "libnvidia-ifr.so.1", "libnvidia-ifr.so" },
    { "libnvidia-ml.so.1", "libnvidia-ml.so" },
    { "libnvidia-nvvm.so.4", "libnvidia-nvvm.so" },
    { "libnvidia-opticalflow.so.1", "libnvidia-opticalflow.so" },
    { "libnvidia-ptxjitcompiler.so.1", "libnvidia-ptxjitcompiler.so" },
    { "libnvidia-sandboxutils.so.1", "libnvidia-sandboxutils.so" },
};
/* These two carry the driver version in their SONAME; the link points at that. */
static const char *const versioned_soname_links[] = { "libglxserver_nvidia.so", "libnvidia-vulkan-producer.so" };

const char *nvb_driver_lib_dev_link(const char *soname)
{
    if (!soname)
        return NULL;
    for (size_t i = 0; i < sizeof dev_links / sizeof *dev_links; i++)
        if (!strcmp(soname, dev_links[i].soname))
            return dev_links[i].link;
    for (size_t i = 0; i < sizeof versioned_soname_links / sizeof *versioned_soname_links; i++) {
        const char *link = versioned_soname_links[i];
        size_t n = strlen(link);
        unsigned parts;
        size_t first_len;
        if (!strncmp(soname, link, n) && soname[n] == '.' &&
            numeric_version(soname + n + 1, &parts, &first_len) && parts >= 2)
            return link;
    }
    return NULL;
}
