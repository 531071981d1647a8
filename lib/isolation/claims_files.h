/* The files behind the GPU claims (internal to lib/isolation): the state folder, who may
 * write what in it, and a device's record spread over one file per writer.
 *
 * Who may claim: root, and when the administrator gave the state folder to the group
 * NVB_CLAIMS_GROUP (root:nvbind, e.g. a tmpfiles.d line), its members: root then keeps claims/
 * and locks/ root:nvbind 3775 (setgid, sticky). The sticky bit is what keeps a member from
 * replacing or removing what another wrote; the records are 0644, so everyone can read
 * `nvbind claims`.
 *
 * A device's record is the union of one file per writer: claims/<key>.json (root's) and
 * claims/<key>@<uid>.json (uid's). A writer changes only its own file (root may change any,
 * giving each file back to its uid). A file counts only when it is a regular file with one
 * link, owned by the uid its name says, not writable by group or others, and (for a uid's
 * file) every holder in it is that uid: a member can plant files, never a claim in another's
 * name. Files that fail the test are skipped (and removed by root, under the device's lock). */
#pragma once
#include <stdbool.h>
#include <sys/types.h>
#include "isolation/claims.h"
#include "isolation/group.h"

#define NVB_CLAIMS_GROUP NVB_GROUP_NAME

typedef struct claims_state {
    char *dir;         /* as given, for messages */
    char *claims_dir;  /* dir/claims, for messages and inotify */
    int dir_fd, claims_fd, locks_fd;
    uid_t me;          /* the caller's effective uid: the record file it writes */
    bool shared;       /* the folder is the group's (claims/ is sticky): records 0644 */
    bool read_only;    /* the caller cannot write claims/: list without locks or clean-up */
} claims_state;

/* Root making (or finding) the folder: when the folder is the group's, make claims/ and
 * locks/ the group's too. */
void nvb_claims_share_folder(claims_state *s);

/* Read key's record: every trusted file merged, each holder's file_uid set. *exists is false
 * (rec empty) when no file holds a holder. own_text/own_len (may be NULL) receive the
 * caller's own file, NULL when it has none, so a failed update can put it back. */
int nvb_claims_files_read(claims_state *s, const char *key, nvb_claim_record *rec, bool *exists, char **own_text,
                          size_t *own_len, nvb_err *err);
/* Write rec back: the caller's own file (root: every writer's file), removing emptied ones. */
int nvb_claims_files_write(claims_state *s, const char *key, const nvb_claim_record *rec, nvb_err *err);
/* Put the caller's own file back as it was (text NULL: remove it). */
int nvb_claims_files_restore(claims_state *s, const char *key, const char *text, size_t len);
/* The device key of a record file name ("GPU-x.json", "GPU-x@1000.json"); NULL otherwise. */
char *nvb_claims_file_key(const char *name);
