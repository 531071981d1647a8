/* GPU isolation for `nvbind run` (docs/isolation.md): the before_start / after_exit /
 * engine_started hooks of nvb_run_opts that claim the chosen GPUs through lib/isolation
 * (shared, exclusive or virtual, one audit line per decision) and give them back when the
 * container is gone.
 *
 *   nvb_run_isolation iso = {.cfg = &cfg, .wait_seconds = NVB_CLAIM_NO_WAIT};
 *   nvb_run_isolation_attach(&iso, &opts);
 *   status = nvb_run(&cfg, &opts, &err);     // a denial: -1, NVB_EXIT_BUSY, nothing started
 *   nvb_run_isolation_clear(&iso);
 *
 * Who keeps a claim alive (so that it survives `kill -9` of nvbind while the container runs,
 * and never outlives it): nvbind; the engine's foreground process (`runc run`, `podman run`,
 * `bolt`, ...), recorded by engine_started before it may run anything (nvb_fg_opts.spawned:
 * it runs nothing if nvbind dies first, so no container ever runs unrecorded); and for runc
 * and crun also the runtime's state file of the container (<root>/<id>/state.json or
 * status), which exists while the container does. */
#pragma once
#include <stdbool.h>
#include <stdio.h>

#include "config/config.h"
#include "isolation/isolation.h"
#include "runtime/run.h"

typedef struct nvb_run_isolation {
    const nvb_config *cfg;    /* [isolation] state_dir, audit_log, [bolt.capsule] limits, MIG */
    int wait_seconds;         /* NVB_CLAIM_NO_WAIT, NVB_CLAIM_WAIT_FOREVER or seconds (--wait) */
    FILE *warnings;           /* where the grant's warnings go; NULL = stderr */
    /* filled in by the hooks */
    nvb_isolation_grant grant;
    bool held;
} nvb_run_isolation;

/* Set o's hooks (before_start, after_exit, engine_started, hook_ctx) to iso's and ask nvb_run
 * to name engine containers. Nothing is claimed for --gpu none or in a dry run. */
void nvb_run_isolation_attach(nvb_run_isolation *iso, nvb_run_opts *o);

/* The hooks themselves (ctx is the nvb_run_isolation). before_start claims the devices of
 * info->sel for info->container_id and puts the grant into the run: a MIG device chosen by
 * `virtual` replaces its GPU in info->sel, MPS variables go to info->plan->env and the MPS
 * folders to info->plan->extra. A denial is NVB_EXIT_BUSY with the holder named. */
int nvb_run_isolation_before_start(void *ctx, const nvb_run_info *info, nvb_err *err);
void nvb_run_isolation_after_exit(void *ctx, const nvb_run_info *info, int status);
void nvb_run_isolation_engine_started(void *ctx, const nvb_run_info *info, int engine_pid);

/* Make sel what grant g gives: the device at each position (a MIG device that `virtual` chose
 * in place of a whole GPU, with its spec name "0:1"); "all" no longer stands for the
 * selection once a GPU was replaced. */
void nvb_selection_take_grant(nvb_selection *sel, const nvb_isolation_grant *g);

/* sel's devices as an isolation request's `devices`, in sel's order: calloc'd with room for
 * sel->n (never NULL for an empty selection); free() it. NULL when out of memory. */
nvb_isolation_device *nvb_selection_isolation_devices(const nvb_selection *sel);

/* Give back what is still held (also after a failed start) and free the grant. */
void nvb_run_isolation_clear(nvb_run_isolation *iso);

/* The OCI runtime's root folder nvbind's own `runc run` / `crun run` uses: NULL (the
 * runtime's default, /run/runc or /run/crun) for root; $XDG_RUNTIME_DIR/<runtime> for other
 * users when that variable is set, as runc and crun do themselves. malloc'd or NULL. */
char *nvb_run_oci_root(enum nvb_engine engine);
