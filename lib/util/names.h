/* A user id's name and a group name's id, for the nvbind group's checks and doctor's
 * messages, through the system's name services (nsswitch.conf) as getpwuid and getgrnam see
 * them. A static executable (util/isolate.h) must not call those: glibc would dlopen NSS
 * modules such as libnss_systemd into it and crash. There the files (/etc/passwd,
 * /etc/group) are read directly first, and only a name they do not hold is asked of the
 * nvbind-helper process, whose glibc is the shared one. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* The name of uid into buf: false when no name service knows it. */
bool nvb_user_name(uid_t uid, char *buf, size_t n);

/* The id of group name into *gid: false when no name service knows it. */
bool nvb_group_id(const char *name, gid_t *gid);

/* nvbind-helper's side (util/isolate.h): "user-name" (a uint32 uid in) and "group-id" (a
 * name with its NUL in). */
int nvb_user_name_serve(const void *in, size_t in_len, void **out, size_t *out_len);
int nvb_group_id_serve(const void *in, size_t in_len, void **out, size_t *out_len);
