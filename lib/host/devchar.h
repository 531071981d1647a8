/* The /dev/char/MAJ:MIN links of a host's GPU device nodes (nvbind system
 * create-dev-char-symlinks). systemd's device cgroup rules name devices by these links; where
 * a node has none, a container loses access to it after `systemctl daemon-reload`. */
#pragma once
#include <stdbool.h>
#include <stdio.h>
#include "host/host.h"
#include "util/error.h"

typedef struct nvb_devchar_counts {
    unsigned created;   /* links made (or, with dry_run, that would be) */
    unsigned present;   /* links already leading to their node */
    unsigned conflicts; /* names taken by something else: left alone, each reported on err_out */
} nvb_devchar_counts;

/* For every character node discovered on h (control nodes, each GPU's nodes, MIG capability
 * nodes): ROOT/dev/char/MAJ:MIN -> the node, as a relative link ("../nvidia0"). Never replaces
 * what is there. Each link made goes on out ("linked ..."), each conflict on err_out.
 * 0, or -1 with err (NVB_EXIT_IO) when /dev/char cannot be made or written. */
int nvb_devchar_create(const nvb_host *h, bool dry_run, FILE *out, FILE *err_out, nvb_devchar_counts *counts,
                       nvb_err *err);

/* ROOT/dev, opened (O_PATH) without following a link: a host root whose dev is a symlink could
 * send what is made there anywhere. -1 with err (NVB_EXIT_IO) otherwise. */
int nvb_open_host_dev(const char *root, nvb_err *err);
