/* Which process is which: a pid plus its start time (clock ticks since boot, field 22 of
 * /proc/<pid>/stat) names one process for the life of one boot, so a pid that the kernel
 * hands to a new process after the old one died is never mistaken for the old one. The boot
 * id tells boots apart: after a reboot, the same pid can start at the same tick again. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* The start time of pid, 0 when no such process exists or it has already exited (a zombie
 * waiting for its parent counts as gone: it runs nothing and holds nothing). */
unsigned long long nvb_proc_start_time(pid_t pid);

/* The length of a boot id: a UUID in its 36-character text form. */
#define NVB_BOOT_ID_LEN 36

/* The kernel's id of the running boot (/proc/sys/kernel/random/boot_id) into out, which holds
 * NVB_BOOT_ID_LEN + 1 bytes. false, with out = "", when it cannot be read. */
bool nvb_boot_id(char *out);

/* s has the shape of a boot id: 36 characters, lower-case hex digits and dashes at 8, 13, 18
 * and 23. */
bool nvb_boot_id_valid(const char *s);

/* The process pid started at start_time is still running. */
bool nvb_proc_alive(pid_t pid, unsigned long long start_time);

/* Parse the text of a /proc/<pid>/stat file: the state letter and the start time.
 * Returns 0, or -1 when the text does not have that shape. */
int nvb_proc_stat_parse(const char *text, char *state, unsigned long long *start_time);

/* What an OCI runtime's state file says of the container's init process: runc's
 * <root>/<id>/state.json ("init_process_pid", "init_process_start") and crun's
 * <root>/<id>/status ("pid", "process-start-time"). When state_file is missing, what the
 * first of nvb_oci_state_alternatives() that is there says. Only a regular file owned by
 * owner (the uid whose runtime wrote it: the claim's holder) counts; anything else is
 * GONE, and is never opened for reading. */
enum nvb_oci_init {
    NVB_OCI_INIT_GONE,     /* no state file (the container was deleted) or no init recorded */
    NVB_OCI_INIT_FOUND,    /* *pid and *start_time are set */
    NVB_OCI_INIT_UNKNOWN,  /* the file could not be read (permissions): assume it runs */
};
enum nvb_oci_init nvb_oci_state_init(const char *state_file, uid_t owner, pid_t *pid, unsigned long long *start_time);

/* Where else the same container's state may be when state_file is missing: the shim and
 * nvbind know a runtime's layout by its name ("crun", else runc's), and a runtime that is
 * neither by name (a wrapper script, a renamed or versioned binary) may keep the other's.
 * The same folder with the other layout's file name and, under a runtime's default root, the
 * other runtime's default root: /run/runc/ID/state.json gives /run/runc/ID/status and
 * /run/crun/ID/status, and the other way round. nvb_oci_state_init reads them when
 * state_file is missing. Writes up to 2 malloc'd paths into alt; returns how many. */
size_t nvb_oci_state_alternatives(const char *state_file, char *alt[2]);

/* The state file an OCI runtime keeps for container id under root: runtime names the
 * runtime (a path or a name; "crun" selects crun's layout, anything else runc's); root NULL
 * means the runtime's default for root (/run/runc, /run/crun). malloc'd; NULL on bad input
 * (an id that is empty, starts with '.', or holds '/'). */
char *nvb_oci_state_file(const char *runtime, const char *root, const char *id);
