/* Which file names count as the NVIDIA driver's libraries, and for which capability. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "host/host.h"
#include "ldcache/driver_libs.h"

#define DRV "550.54.14"

struct want {
    const char *name;
    unsigned caps;
};

static void check(const struct want *w, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned got = nvb_driver_lib_caps(w[i].name, DRV);
        if (got != w[i].caps)
            fail_msg("%s (driver " DRV "): caps 0x%x, want 0x%x", w[i].name, got, w[i].caps);
    }
}
#define CHECK(...) do { static const struct want w_[] = { __VA_ARGS__ }; check(w_, sizeof w_ / sizeof *w_); } while (0)

#define U NVB_CAP_UTILITY
#define C NVB_CAP_COMPUTE
#define V NVB_CAP_VIDEO
#define G NVB_CAP_GRAPHICS
#define D NVB_CAP_DISPLAY
#define N NVB_CAP_NGX

static void test_utility(void **state)
{
    (void)state;
    CHECK({ "libnvidia-ml.so." DRV, U }, { "libnvidia-ml.so.1", U }, { "libnvidia-ml.so", U },
          { "libnvidia-cfg.so." DRV, U }, { "libnvidia-cfg.so.1", U },
          { "libnvidia-nscq.so." DRV, U }, { "libnvidia-sandboxutils.so." DRV, U });
}

static void test_compute(void **state)
{
    (void)state;
    CHECK({ "libcuda.so." DRV, C }, { "libcuda.so.1", C }, { "libcuda.so", C },
          { "libcudadebugger.so." DRV, C }, { "libnvidia-opencl.so." DRV, C }, { "libnvidia-opencl.so.1", C },
          { "libnvidia-ptxjitcompiler.so." DRV, C }, { "libnvidia-ptxjitcompiler.so.1", C },
          { "libnvidia-nvvm.so." DRV, C }, { "libnvidia-nvvm.so.4", C }, { "libnvidia-nvvm70.so.4", C },
          { "libnvidia-fatbinaryloader.so." DRV, C }, { "libnvidia-compiler.so." DRV, C },
          { "libnvidia-pkcs11.so." DRV, C }, { "libnvidia-pkcs11-openssl3.so." DRV, C },
          { "libnvidia-tileiras.so." DRV, C },
          /* used by both the CUDA and the OpenGL/Vulkan stacks */
          { "libnvidia-gpucomp.so." DRV, C | G }, { "libnvidia-allocator.so." DRV, C | G },
          { "libnvidia-allocator.so.1", C | G });
}

static void test_video(void **state)
{
    (void)state;
    CHECK({ "libnvcuvid.so." DRV, V }, { "libnvcuvid.so.1", V }, { "libnvidia-encode.so." DRV, V },
          { "libnvidia-encode.so.1", V }, { "libnvidia-opticalflow.so." DRV, V },
          { "libnvidia-opticalflow.so.1", V }, { "libvdpau_nvidia.so." DRV, V }, { "libvdpau_nvidia.so.1", V });
}

static void test_graphics(void **state)
{
    (void)state;
    CHECK({ "libnvidia-glcore.so." DRV, G }, { "libnvidia-eglcore.so." DRV, G }, { "libnvidia-glsi.so." DRV, G },
          { "libnvidia-tls.so." DRV, G }, { "libnvidia-glvkspirv.so." DRV, G }, { "libnvidia-cbl.so." DRV, G },
          { "libnvidia-rtcore.so." DRV, G }, { "libnvoptix.so." DRV, G }, { "libnvoptix.so.1", G },
          { "libnvidia-fbc.so." DRV, G }, { "libnvidia-fbc.so.1", G }, { "libnvidia-ifr.so." DRV, G },
          { "libnvidia-vulkan-producer.so." DRV, G }, { "libnvidia-present.so." DRV, G },
          { "libnvidia-wayland-client.so." DRV, G }, { "libnvidia-vksc-core.so." DRV, G },
          { "libnvidia-api.so.1", G },
          /* NVIDIA's own pre-GLVND libraries carry the driver version */
          { "libGL.so." DRV, G }, { "libEGL.so." DRV, G }, { "libGLESv2.so." DRV, G },
          { "libGLESv1_CM.so." DRV, G });
}

/* EGL platform libraries version themselves independently of the driver. */
static void test_graphics_own_versions(void **state)
{
    (void)state;
    CHECK({ "libnvidia-egl-wayland.so.1.1.13", G }, { "libnvidia-egl-wayland.so.1", G },
          { "libnvidia-egl-wayland2.so.1.0.0", G }, { "libnvidia-egl-gbm.so.1.1.2", G },
          { "libnvidia-egl-gbm.so.1", G }, { "libnvidia-egl-xcb.so.1.0.2", G }, { "libnvidia-egl-xlib.so.1.0.2", G },
          { "libnvidia-egl-wayland.so.1.1.13.dpkg-old", 0 });
}

static void test_glvnd_vendor_libraries(void **state)
{
    (void)state;
    /* the versioned files, and the SONAME names some distributions ship as plain files */
    CHECK({ "libGLX_nvidia.so." DRV, G }, { "libGLX_nvidia.so.0", G },
          { "libEGL_nvidia.so." DRV, G }, { "libEGL_nvidia.so.0", G },
          { "libGLESv2_nvidia.so." DRV, G }, { "libGLESv2_nvidia.so.2", G },
          { "libGLESv1_CM_nvidia.so." DRV, G }, { "libGLESv1_CM_nvidia.so.1", G });
}

static void test_ngx_and_display(void **state)
{
    (void)state;
    CHECK({ "libnvidia-ngx.so." DRV, N }, { "libnvidia-ngx.so.1", N },
          { "libglxserver_nvidia.so." DRV, D }, { "libnvidia-gtk3.so." DRV, D },
          { "libnvidia-gtk2.so." DRV, D }, { "libnvidia-wfb.so." DRV, D });
}

/* A libnvidia-* library newer than the catalogue: only with this driver's version. */
static void test_unknown_future_library(void **state)
{
    (void)state;
    CHECK({ "libnvidia-futurething.so." DRV, C | V | G }, { "libnvidia-futurething.so.1", 0 },
          { "libnvidia-futurething.so", 0 }, { "libnvidia-futurething.so.535.129.03", 0 },
          { "libnvidia-.so." DRV, 0 }, { "libnvidia-container.so.1.17.8", 0 },
          { "libnvidia-container-go.so.1", 0 });
}

static void test_not_nvidia(void **state)
{
    (void)state;
    /* glvnd's loaders and dispatch, Khronos loaders, system libraries */
    CHECK({ "libGL.so.1", 0 }, { "libGL.so", 0 }, { "libEGL.so.1", 0 }, { "libGLX.so.0", 0 },
          { "libOpenGL.so.0", 0 }, { "libGLdispatch.so.0", 0 }, { "libGLESv2.so.2", 0 },
          { "libGLESv1_CM.so.1", 0 }, { "libvulkan.so.1", 0 }, { "libOpenCL.so.1", 0 },
          { "libGLX_mesa.so.0", 0 }, { "libGLX_indirect.so.0", 0 }, { "libc.so.6", 0 },
          { "libm.so.6", 0 }, { "libz.so.1", 0 }, { "libnvinfer.so.8", 0 }, { "libcudart.so.12", 0 },
          { "ld-linux-x86-64.so.2", 0 });
}

static void test_leftovers_and_look_alikes(void **state)
{
    (void)state;
    CHECK({ "libnvidia-ml.so.535.129.03", 0 }, { "libcuda.so.535.129.03", 0 }, { "libcuda.so.550.54", 0 },
          { "libcuda.so.550.54.15", 0 }, { "libGLX_nvidia.so.535.129.03", 0 }, { "libGL.so.535.129.03", 0 },
          { "libcuda.so.550", 0 },
          { "libcuda.so.1.bak", 0 }, { "libnvidia-ml.so.550.54.14.old", 0 }, { "libcuda.so.", 0 },
          { "libcuda.so..1", 0 }, { "libcuda.so.1.", 0 }, { "libcuda.sox", 0 }, { "libcuda", 0 },
          { "notlibcuda.so.1", 0 }, { "libcuda2.so.1", 0 }, { "xlibnvidia-ml.so." DRV, 0 },
          { "LIBCUDA.so.1", 0 }, { "", 0 }, { ".so.1", 0 }, { "/usr/lib/libcuda.so.1", 0 });
    assert_int_equal(nvb_driver_lib_caps(NULL, DRV), 0);
}

/* Without a known driver version only the unversioned and SONAME names can match. */
static void test_driver_version_unknown(void **state)
{
    (void)state;
    assert_int_equal(nvb_driver_lib_caps("libcuda.so.1", NULL), C);
    assert_int_equal(nvb_driver_lib_caps("libcuda.so." DRV, NULL), 0);
    assert_int_equal(nvb_driver_lib_caps("libcuda.so." DRV, ""), 0);
    assert_int_equal(nvb_driver_lib_caps("libGL.so." DRV, NULL), 0);
    /* a two-part driver version */
    assert_int_equal(nvb_driver_lib_caps("libcuda.so.550.100", "550.100"), C);
    assert_int_equal(nvb_driver_lib_caps("libcuda.so.550.100", DRV), 0);
}

static void test_dev_links(void **state)
{
    (void)state;
    static const struct { const char *soname, *link; } cases[] = {
        { "libcuda.so.1", "libcuda.so" },
        { "libnvidia-ml.so.1", "libnvidia-ml.so" },
        { "libnvcuvid.so.1", "libnvcuvid.so" },
        { "libnvidia-encode.so.1", "libnvidia-encode.so" },
        { "libnvidia-opticalflow.so.1", "libnvidia-opticalflow.so" },
        { "libnvidia-fbc.so.1", "libnvidia-fbc.so" },
        { "libnvidia-cfg.so.1", "libnvidia-cfg.so" },
        { "libnvidia-ptxjitcompiler.so.1", "libnvidia-ptxjitcompiler.so" },
        { "libnvidia-allocator.so.1", "libnvidia-allocator.so" },
        { "libnvidia-nvvm.so.4", "libnvidia-nvvm.so" },
        { "libnvidia-vulkan-producer.so." DRV, "libnvidia-vulkan-producer.so" },
        { "libglxserver_nvidia.so." DRV, "libglxserver_nvidia.so" },
        /* no development link: GLVND vendor libraries are found by the loader, ICDs by JSON */
        { "libGLX_nvidia.so.0", NULL },
        { "libEGL_nvidia.so.0", NULL },
        { "libnvidia-glcore.so." DRV, NULL },
        { "libvdpau_nvidia.so.1", NULL },
        { "libnvidia-opencl.so.1", NULL },
        /* not ours, not a SONAME, or already the link */
        { "libOpenCL.so.1", NULL },
        { "libcuda.so." DRV, NULL },
        { "libcuda.so", NULL },
        { "libnvidia-vulkan-producer.so.1.bak", NULL },
        { "", NULL },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *got = nvb_driver_lib_dev_link(cases[i].soname);
        if (cases[i].link)
            assert_string_equal(got, cases[i].link);
        else if (got)
            fail_msg("%s: unexpected dev link %s", cases[i].soname, got);
    }
    assert_null(nvb_driver_lib_dev_link(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utility),
        cmocka_unit_test(test_compute),
        cmocka_unit_test(test_video),
        cmocka_unit_test(test_graphics),
        cmocka_unit_test(test_graphics_own_versions),
        cmocka_unit_test(test_glvnd_vendor_libraries),
        cmocka_unit_test(test_ngx_and_display),
        cmocka_unit_test(test_unknown_future_library),
        cmocka_unit_test(test_not_nvidia),
        cmocka_unit_test(test_leftovers_and_look_alikes),
        cmocka_unit_test(test_driver_version_unknown),
        cmocka_unit_test(test_dev_links),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
