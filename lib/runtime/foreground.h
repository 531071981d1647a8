/* Running an engine or OCI runtime in the foreground: stdio inherited, nvbind's termination
 * signals passed on, the child's exit status returned. */
#pragma once
#include "util/error.h"

typedef struct nvb_fg_opts {
    const char *exe;             /* absolute path of the program */
    char *const *argv;           /* argv[0] is what the program sees as its name */
    /* Stop the container for good: called once, after a second termination signal or
     * grace_ms after the first. NULL = never (the engine handles its own signals). */
    void (*force_stop)(void *ctx, int child_pid);
    void *ctx;
    unsigned grace_ms;
    /* Told the child's pid once it exists, before it runs the program (may be NULL): claims
     * record the engine's process this way, so they outlive nvbind while it runs. The child
     * waits until spawned() has returned, and runs nothing if nvbind dies before that. */
    void (*spawned)(void *spawned_ctx, int child_pid);
    void *spawned_ctx;
    /* > 2: a close-on-exec descriptor the program inherits all the same (the flag is cleared
     * in the child only, so that no other program nvbind or its host process starts gets it). */
    int pass_fd;
} nvb_fg_opts;

/* Spawn the program and wait for it. SIGINT, SIGTERM, SIGHUP and SIGQUIT sent to nvbind by
 * another process are forwarded to the child; the same signals from the terminal (Ctrl-C)
 * already reach the child through the process group and are not sent twice.
 * *forced is set when force_stop ran (may be NULL).
 * Returns the exit status (0-255, 128+N after signal N), or -1 with err set
 * (NVB_EXIT_RUNTIME) when the program could not be started. */
int nvb_run_foreground(const nvb_fg_opts *o, int *forced, nvb_err *err);
