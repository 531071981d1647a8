/* The /proc parsers, on the driver's real text formats and on broken ones. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/procfs.h"
#include "host/vendors/vendors.h"

static void version_proprietary(void **state)
{
    (void)state;
    char *v = NULL;
    enum nvb_kmod k;
    nvb_err err = {0};
    assert_int_equal(nvb_parse_driver_version("NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.129.03  Thu Oct 19 "
                                              "18:56:32 UTC 2023\nGCC version:  gcc version 12.2.0 (Debian 12.2.0-14)\n",
                                              "v", &v, &k, &err),
                     0);
    assert_string_equal(v, "535.129.03");
    assert_int_equal(k, NVB_KMOD_PROPRIETARY);
    free(v);
}

static void version_open(void **state)
{
    (void)state;
    char *v = NULL;
    enum nvb_kmod k;
    nvb_err err = {0};
    assert_int_equal(nvb_parse_driver_version("NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  550.54.14  "
                                              "Release Build  (dvs-builder@U16-I3-B03-4-3)  Thu Feb 22 01:25:25 UTC 2024\n",
                                              "v", &v, &k, &err),
                     0);
    assert_string_equal(v, "550.54.14");
    assert_int_equal(k, NVB_KMOD_OPEN);
    free(v);
}

static void version_broken(void **state)
{
    (void)state;
    char *v = NULL;
    enum nvb_kmod k;
    nvb_err err = {0};
    assert_int_equal(nvb_parse_driver_version("", "/proc/x", &v, &k, &err), -1);
    assert_string_equal(err.msg, "/proc/x: no 'NVRM version:' line");
    assert_int_equal(err.exit_code, NVB_EXIT_HOST_DATA);
    assert_int_equal(nvb_parse_driver_version("NVRM version: something else 1.2\n", "/p", &v, &k, &err), -1);
    assert_string_equal(err.msg, "/p: 'NVRM version:' line names no kernel module");
    /* A version on the next line does not count. */
    assert_int_equal(nvb_parse_driver_version("NVRM version: NVIDIA UNIX x86_64 Kernel Module\n550.1.2\n", "/p", &v, &k, &err), -1);
    assert_null(v);
}

static const char info_text[] = "Model: \t\t NVIDIA A100-SXM4-80GB\n"
                                "IRQ:   \t\t 142\n"
                                "GPU UUID: \t GPU-3c4f4c8f-6a52-4b7e-1d3c-8e3a7f0b2a11\n"
                                "Video BIOS: \t 92.00.36.00.10\n"
                                "Bus Type: \t PCIe\n"
                                "DMA Size: \t 47 bits\n"
                                "DMA Mask: \t 0x7fffffffffff\n"
                                "Bus Location: \t 0000:C1:00.0\n"
                                "Device Minor: \t 6\n"
                                "GPU Excluded:\t No\n";

static void gpu_information(void **state)
{
    (void)state;
    nvb_gpu_information info;
    nvb_err err = {0};
    assert_int_equal(nvb_parse_gpu_information(info_text, "i", &info, &err), 0);
    assert_string_equal(info.model, "NVIDIA A100-SXM4-80GB");
    assert_string_equal(info.uuid, "GPU-3c4f4c8f-6a52-4b7e-1d3c-8e3a7f0b2a11");
    assert_string_equal(info.bus_location, "0000:c1:00.0");
    assert_int_equal(info.minor, 6);
    nvb_gpu_information_clear(&info);
}

static void gpu_information_broken(void **state)
{
    (void)state;
    nvb_gpu_information info;
    nvb_err err = {0};
    assert_int_equal(nvb_parse_gpu_information("Model: X\nGPU UUID: GPU-1\nBus Location: 0000:01:00.0\n", "/i", &info, &err), -1);
    assert_string_equal(err.msg, "/i: field 'Device Minor' is missing");
    assert_int_equal(nvb_parse_gpu_information("Model: X\nGPU UUID: GPU-1\nBus Location: 0000:01:00.0\nDevice Minor: 9x\n",
                                               "/i", &info, &err),
                     -1);
    assert_string_equal(err.msg, "/i: field 'Device Minor': '9x' is not a minor number 0-254");
    assert_int_equal(nvb_parse_gpu_information("Model: X\nGPU UUID: 1234\nBus Location: 0000:01:00.0\nDevice Minor: 1\n",
                                               "/i", &info, &err),
                     -1);
    assert_string_equal(err.msg, "/i: field 'GPU UUID': '1234' does not start with GPU-");
    /* A UUID names claim files and device plugin ids: no slash, space or endless length. */
    static const char *const bad[] = {"GPU-../../../etc/x", "GPU-1 2", "GPU-abc/def",
                                      "GPU-0000000000000000000000000000000000000000000000000000000000000"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char text[256];
        snprintf(text, sizeof text, "Model: X\nGPU UUID: %s\nBus Location: 0000:01:00.0\nDevice Minor: 1\n", bad[i]);
        assert_int_equal(nvb_parse_gpu_information(text, "/i", &info, &err), -1);
        assert_non_null(strstr(err.msg, "is not GPU- and hex digits and dashes (at most 64 characters)"));
    }
    /* "Model" must not match "Model Name:"-like prefixes of other keys. */
    assert_int_equal(nvb_parse_gpu_information("ModelX: Y\nGPU UUID: GPU-1\nBus Location: b\nDevice Minor: 1\n", "/i",
                                               &info, &err),
                     -1);
    assert_string_equal(err.msg, "/i: field 'Model' is missing");
}

/* A DRM driver's CDI kind: its own name made a CDI class, whatever the name holds. */
static void drm_kind(void **state)
{
    (void)state;
    char *buf;
    assert_string_equal(nvb_drm_kind("amdgpu", &buf), "amd.com/gpu");
    assert_null(buf);
    assert_string_equal(nvb_drm_kind("virtio_gpu", &buf), "nvbind.drm/virtio_gpu");
    free(buf);
    assert_string_equal(nvb_drm_kind("3d fx", &buf), "nvbind.drm/xd-fx");
    free(buf);
    assert_string_equal(nvb_drm_kind("", &buf), "nvbind.drm/x"); /* was left without its NUL */
    free(buf);
}

static void proc_devices(void **state)
{
    (void)state;
    const char *t = "Character devices:\n  1 mem\n195 nvidia-frontend\n226 drm\n509 nvidia-caps\n510 nvidia-uvm\n\n"
                    "Block devices:\n510 nvidia-uvm-block\n  8 sd\n";
    assert_int_equal(nvb_proc_devices_major(t, "nvidia-uvm"), 510);
    assert_int_equal(nvb_proc_devices_major(t, "nvidia-frontend"), 195);
    assert_int_equal(nvb_proc_devices_major(t, "nvidia-caps"), 509);
    assert_int_equal(nvb_proc_devices_major(t, "nvidia"), -1);
    assert_int_equal(nvb_proc_devices_major(t, "sd"), -1); /* block devices do not count */
    assert_int_equal(nvb_proc_devices_major("", "drm"), -1);
}

static void cap_access(void **state)
{
    (void)state;
    assert_int_equal(nvb_parse_cap_access_minor("DeviceFileMinor: 12\nDeviceFileMode: 292\nDeviceFileModify: 1\n"), 12);
    assert_int_equal(nvb_parse_cap_access_minor("DeviceFileMode: 292\n"), -1);
    assert_int_equal(nvb_parse_cap_access_minor("DeviceFileMinor: -3\n"), -1);
}

/* The driver's params: numbers it gives for its nodes' owner and mode. */
static void number_field(void **state)
{
    const char *params = "ModifyDeviceFiles: 1\nDeviceFileUID: 0\nDeviceFileGID: 44\nDeviceFileMode: 432\n";
    assert_int_equal(nvb_proc_number_field(params, "DeviceFileGID", 1000), 44);
    assert_int_equal(nvb_proc_number_field(params, "DeviceFileMode", 0777), 432);
    assert_int_equal(nvb_proc_number_field(params, "DeviceFileMode", 0400), -1); /* over max */
    assert_int_equal(nvb_proc_number_field(params, "DeviceFile", 1000), -1);     /* a prefix is no key */
    assert_int_equal(nvb_proc_number_field("DeviceFileMode: 4x\n", "DeviceFileMode", 0777), -1);
    assert_int_equal(nvb_proc_number_field("DeviceFileUID: 99999999999999999999\n", "DeviceFileUID", 1L << 32), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(version_proprietary), cmocka_unit_test(version_open),   cmocka_unit_test(version_broken),
        cmocka_unit_test(gpu_information),     cmocka_unit_test(gpu_information_broken), cmocka_unit_test(proc_devices),
        cmocka_unit_test(cap_access),          cmocka_unit_test(number_field), cmocka_unit_test(drm_kind),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
