/* Parsers for the driver's /proc files. They take the text, so they can be fuzzed and
 * unit-tested without a filesystem; `origin` names the file in error messages. */
#pragma once
#include <stdint.h>
#include "host/host.h"

/* /proc/driver/nvidia/version: driver version and kernel module flavour. */
int nvb_parse_driver_version(const char *text, const char *origin, char **version,
                             enum nvb_kmod *kmod, nvb_err *err);

typedef struct nvb_gpu_information {
    char *model, *uuid, *bus_location;
    unsigned minor;
} nvb_gpu_information;

/* /proc/driver/nvidia/gpus/<bus id>/information: Model, GPU UUID, Bus Location, Device Minor. */
int nvb_parse_gpu_information(const char *text, const char *origin, nvb_gpu_information *out, nvb_err *err);
void nvb_gpu_information_clear(nvb_gpu_information *info);

/* /proc/devices: the character-device major registered under `name`, -1 when absent. */
int nvb_proc_devices_major(const char *text, const char *name);

/* A decimal "Key: N" line of a driver /proc file (params, a capability's access file): N, or
 * -1 when absent, malformed or over max. */
int64_t nvb_proc_number_field(const char *text, const char *key, int64_t max);

/* The largest minor number Linux has (20 bits). */
#define NVB_MINOR_MAX ((1 << 20) - 1)
/* The longest GPU UUID accepted from the driver (its own are 40 characters). */
#define NVB_GPU_UUID_MAX 64

/* /proc/driver/nvidia/capabilities/.../access: "DeviceFileMinor: N". -1 when absent/malformed. */
int nvb_parse_cap_access_minor(const char *text);
