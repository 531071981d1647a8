/* GPU usage from NVML for the exporter and `nvbind top`: utilization, memory, temperature,
 * power, clocks, PCIe throughput, energy and the processes on each GPU.
 *
 * NVML is loaded with dlopen from the driver root and asked on a worker thread with a
 * deadline, so a hung driver delays a scrape by the deadline and no more. Unless the sampler
 * keeps NVML open (--interval), each sample is nvmlInit ... nvmlShutdown: between samples
 * the process holds no NVML handle that would keep a GPU busy. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NVB_SAMPLE_MAX_PROCS 1024 /* per GPU; more are counted in n_procs_dropped */

typedef struct nvb_gpu_proc {
    unsigned pid;
    uint64_t used_bytes;   /* UINT64_MAX when NVML does not know */
    bool graphics;         /* a graphics process (else compute) */
} nvb_gpu_proc;

/* One GPU; every number is -1 when NVML does not report it. */
typedef struct nvb_gpu_sample {
    bool found;                 /* NVML knows this UUID */
    int64_t gpu_util, mem_util; /* percent */
    int64_t fb_used_mib, fb_free_mib, fb_total_mib;
    int64_t temp_c, power_mw, energy_mj;
    int64_t sm_clock_mhz, mem_clock_mhz;
    int64_t pcie_tx_kbps, pcie_rx_kbps;
    /* XID errors seen since the sampler started (NVML's event set, so only a sampler that
     * keeps NVML open watches them): the last one (0: none yet) and how many. */
    int64_t xid_last, xid_count;
    nvb_gpu_proc *procs;
    size_t n_procs, n_procs_dropped;
} nvb_gpu_sample;

typedef struct nvb_nvml_sampler nvb_nvml_sampler;

/* A sampler for the NVML library at lib_path (a host path). keep_open: initialise NVML
 * once and keep it until nvb_nvml_sampler_free. NULL when out of memory. */
nvb_nvml_sampler *nvb_nvml_sampler_new(const char *lib_path, bool keep_open);
void nvb_nvml_sampler_free(nvb_nvml_sampler *s);

/* Sample the n GPUs named by uuids into out[n] (cleared first; free with
 * nvb_gpu_samples_clear). 0 on success; -1 with why filled when NVML cannot be loaded or
 * initialised, or did not answer within timeout_ms (then the next calls fail at once until
 * that call returns: a hung NVML gets one thread, not one per scrape). */
int nvb_nvml_sample(nvb_nvml_sampler *s, const char *const *uuids, size_t n, unsigned timeout_ms,
                    nvb_gpu_sample *out, char *why, size_t why_len);
void nvb_gpu_samples_clear(nvb_gpu_sample *v, size_t n);
