/* GPU claims: which container uses which GPU (or MIG device), exclusively or shared.
 *
 * State lives in one folder (default /run/nvbind, mode 0700; shared with the group nvbind
 * when that group exists, see claims_files.h):
 *   claims/<key>.json  one record per device and writer (root's; claims/<key>@<uid>.json a
 *                      member's), replaced atomically (temporary file, fsync, rename);
 *                      removed when the writer's last holder goes
 *   locks/<key>.lock   an flock() lock per device, held only while a record is checked and
 *                      updated; lock files stay (removing them would race with lockers)
 * <key> is the device UUID ("GPU-…", "MIG-…"), bytes outside [A-Za-z0-9._-] written %XX.
 *
 * A holder is live while its holder process runs (pid + start time, so a reused pid does
 * not count), or while its container's init process runs (pid + start time given by the
 * caller, or read from the OCI runtime's state file of the container). A holder that is
 * neither is stale and is dropped by the next acquire, list or release that looks at it:
 * nvbind crashing never frees a GPU whose container still runs, and a GPU is never held by
 * a capsule that is gone. */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include "isolation/procid.h"
#include "util/error.h"
#include "util/strv.h"

#define NVB_CLAIMS_DEFAULT_DIR "/run/nvbind"

/* wait_seconds values of nvb_claims_acquire besides a positive number of seconds. */
#define NVB_CLAIM_NO_WAIT 0
#define NVB_CLAIM_WAIT_FOREVER (-1)

enum nvb_claim_mode { NVB_CLAIM_SHARED, NVB_CLAIM_EXCLUSIVE };

/* A device a claim is about: a whole GPU, or a MIG device of one. */
typedef struct nvb_claim_device {
    unsigned gpu_index;       /* the GPU's index (the MIG device's parent) */
    int mig_index;            /* -1: the whole GPU; else the MIG device's position under it */
    const char *uuid;         /* the key: "GPU-…" or "MIG-…" */
    const char *parent_uuid;  /* MIG devices: the parent GPU's UUID; else NULL */
} nvb_claim_device;

typedef struct nvb_claim_target {
    nvb_claim_device device;
    enum nvb_claim_mode mode;
} nvb_claim_target;

/* Who asks. */
typedef struct nvb_claim_owner {
    const char *container;    /* required: the container's id or name */
    const char *runtime;      /* informational: "runc", "podman", "nvbind-runtime", "api", ... */
    pid_t holder_pid;         /* the process whose life holds the claim; 0 = the caller */
    pid_t init_pid;           /* the container's init when known, else 0 */
    const char *oci_state;    /* the OCI runtime's state file of the container, see
                               * nvb_oci_state_file(); NULL when there is none */
} nvb_claim_owner;

/* One holder of a record, as stored. */
typedef struct nvb_claim_holder {
    char *container;
    char *runtime;                    /* NULL when not given */
    pid_t holder_pid;
    unsigned long long holder_start;  /* clock ticks since boot */
    pid_t init_pid;                   /* 0 when unknown */
    unsigned long long init_start;
    char *oci_state;                  /* NULL when none */
    uid_t uid;                        /* who asked */
    char *since;                      /* RFC 3339 UTC */
    char boot_id[NVB_BOOT_ID_LEN + 1]; /* the boot the record was made in; "" when unknown */
    uid_t file_uid;                   /* not stored: whose record file holds it (0: root's) */
} nvb_claim_holder;

/* The record of one device. */
typedef struct nvb_claim_record {
    unsigned gpu_index;
    int mig_index;                    /* -1 for a whole GPU */
    char *uuid;
    char *parent_uuid;                /* NULL for a whole GPU */
    enum nvb_claim_mode mode;         /* exclusive: exactly one holder */
    nvb_claim_holder *holders;
    size_t n_holders;
} nvb_claim_record;

typedef struct nvb_claim_list {
    nvb_claim_record *v;              /* live records, ordered by device (index, MIG index) */
    size_t n;
    nvb_strv reclaimed;               /* one line per stale holder dropped by this call */
    nvb_strv damaged;                 /* one line per record that could not be read: left out */
} nvb_claim_list;

/* Claim every target for owner, all or none. Targets are locked in key order, so two
 * callers asking for overlapping sets cannot deadlock. A target held exclusively by another
 * container, or an exclusive target with shared holders from other containers, makes the
 * call fail with NVB_EXIT_BUSY and a message naming the device, the holder and since when:
 *   "GPU 0 (GPU-…) is held exclusively by container <id> since <time>"
 *   "MIG device 0:1 (MIG-…) is held exclusively by container <id> since <time>"
 *   "GPU 0 (GPU-…) is in shared use by container <id> since <time> (and N more); exclusive use needs it free"
 * unless wait_seconds is not NVB_CLAIM_NO_WAIT: then it waits (inotify on the records,
 * pidfds of the holders, polling with backoff for the rest) until the targets are free or
 * the time is up (the message then ends "; gave up after N s").
 * A container asking again for what it holds replaces its own entries (a retried create):
 * the same name from the same holder process. A live holder of the same name from another
 * process is another container under that name and is a conflict (NVB_EXIT_BUSY) in any mode:
 *   "GPU 0 (GPU-…) is in shared use by another container named <id> since <time>; a name is one container at a time"
 * If conflict is not NULL it receives the index of the target that was busy.
 * state_dir NULL means NVB_CLAIMS_DEFAULT_DIR. */
int nvb_claims_acquire(const char *state_dir, const nvb_claim_owner *owner, const nvb_claim_target *targets,
                       size_t n, int wait_seconds, size_t *conflict, nvb_err *err);

/* Drop every entry of container (all devices), whoever holds it: for a runtime's `delete`,
 * which runs in another process than the create. Returns how many were dropped, or -1. */
int nvb_claims_release(const char *state_dir, const char *container, nvb_err *err);
/* Drop only the entries of container held by holder_pid started at holder_start (clock
 * ticks, nvb_proc_start_time): what one acquire added, never another process's entries
 * under the same name. holder_pid 0: like nvb_claims_release. */
int nvb_claims_release_holder(const char *state_dir, const char *container, pid_t holder_pid,
                              unsigned long long holder_start, nvb_err *err);

/* Record the init process of container once it is known (pid; its start time is read now). */
int nvb_claims_set_init(const char *state_dir, const char *container, pid_t init_pid, nvb_err *err);

/* Live records; stale holders found on the way are dropped and described in out->reclaimed.
 * A missing state folder is an empty list. */
int nvb_claims_list(const char *state_dir, nvb_claim_list *out, nvb_err *err);
/* As nvb_claims_list, but without taking any lock and removing nothing (stale holders are
 * left out of what it returns): for daemons that look every few seconds and must never wait
 * on a lock someone else holds (the exporter, the device plugin, top). */
int nvb_claims_peek(const char *state_dir, nvb_claim_list *out, nvb_err *err);
void nvb_claim_list_free(nvb_claim_list *l);

/* "GPU 0 (GPU-…)" or "MIG device 0:1 (MIG-…)". */
void nvb_claim_device_describe(char *buf, size_t len, unsigned gpu_index, int mig_index, const char *uuid);
const char *nvb_claim_mode_name(enum nvb_claim_mode m);   /* "shared", "exclusive" */

/* The holder was recorded in another boot than the running one (never when either boot id
 * is unknown). */
bool nvb_claim_holder_other_boot(const nvb_claim_holder *h);
/* The holder is still live (see the top of this file): not of another boot, and its holder
 * process or its container still runs. When only the OCI runtime's state file shows the
 * container's init running, that init is noted in h (init_pid, init_start): a record written
 * afterwards carries it, and later checks read /proc/PID/stat instead of the state file,
 * which holds the container's whole configuration (runc's: tens of KB of JSON, parsed for two
 * numbers at every claim next to a running container). */
bool nvb_claim_holder_alive(nvb_claim_holder *h);

/* The record file format (version 1), exposed for tests and `nvbind claims --json`. */
json_t *nvb_claim_record_to_json(const nvb_claim_record *r);

/* s is text a claim record (JSON) can hold and a person can read back: valid UTF-8 and no
 * control characters, C1 included (util/shown.h). Container ids, runtime names, state file
 * paths and UUIDs are checked with it before anything is claimed, and again in every record
 * read: another member of the group may have written it, and its text reaches messages and
 * `nvbind claims`. */
bool nvb_claim_text_ok(const char *s);
#define NVB_CLAIM_TEXT_RULE "not UTF-8 text without control characters, which a GPU claim record cannot hold"
/* Parse a record; where names the file in errors (NVB_EXIT_INPUT, naming the member). */
int nvb_claim_record_parse(const char *text, size_t len, const char *where, nvb_claim_record *out, nvb_err *err);
void nvb_claim_record_clear(nvb_claim_record *r);
void nvb_claim_holder_clear(nvb_claim_holder *h);

/* The file name stem of a UUID ("GPU-1a" -> "GPU-1a", "MIG-GPU-x/1/0" -> "MIG-GPU-x%2F1%2F0").
 * NULL for an empty or over-long UUID. malloc'd. */
char *nvb_claim_key(const char *uuid);
