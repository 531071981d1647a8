/* Reading small files whole and writing files atomically. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include "util/error.h"

/* 0 when fd is a regular file; else -1 with errno EISDIR (a folder), NVB_ENOTREG (a FIFO,
 * device or socket) or fstat's error. */
int nvb_check_regular(int fd);

/* Read fd to its end, at most max bytes: a NUL-terminated buffer, length in *len if
 * non-NULL. NULL with errno set (EFBIG when there is more). */
char *nvb_read_fd(int fd, size_t max, size_t *len);

/* Read a whole (small) regular file; returns a NUL-terminated buffer, length in *len if
 * non-NULL. NULL with errno set on failure (ENOENT stays visible to the caller; EISDIR for
 * a folder, NVB_ENOTREG for a FIFO, device or socket, which are opened without blocking
 * and never read). */
char *nvb_read_file(const char *path, size_t max, size_t *len);

/* nvb_read_file for an input the user named (`cdi validate /dev/stdin`, `<(...)`): pipes,
 * FIFOs and character devices are read too, to their end (blocking as the user chose);
 * folders (EISDIR), sockets and block devices (NVB_ENOTREG) are refused. */
char *nvb_read_input(const char *path, size_t max, size_t *len);

/* mkdir -p: the folders of path that are missing, the parents 0755 and the last one `mode`;
 * an existing folder keeps its mode. On failure err says "cannot create folder P <what>". */
int nvb_make_dirs(const char *path, mode_t mode, const char *what, nvb_err *err);

/* Write all of data to fd, going on after short writes and EINTR. 0, or -1 with errno set
 * (EIO when write(2) makes no progress). */
int nvb_write_all(int fd, const void *data, size_t len);

/* Write data to path atomically: a temporary file in the same folder
 * (".<name>.tmp.<pid>.<random>", created with O_EXCL and flock'ed while it exists), fsync,
 * rename, fsync of the folder. A failure leaves the old file untouched and no temporary
 * behind. After a successful write, temporaries of the same name left by writers that died
 * (kill -9) are removed.
 * What is at path decides how it is written:
 *   nothing or a regular file   replaced atomically, as above (never in /dev: refused);
 *   a symbolic link             written through to its target (atomically there); the link stays;
 *   /dev/stdout, /dev/stderr, /dev/fd/N, /proc/self/fd/N
 *                               written to that open descriptor as it is (a stream);
 *   a FIFO, /dev/null, a terminal   opened and written to (a stream, not atomic);
 *   anything else (a folder, socket, other device)   an error. */
int nvb_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, nvb_err *err);

/* Whether nvb_write_file_atomic writes path as a stream (a descriptor alias, a FIFO,
 * /dev/null or a terminal, links followed): there is no file to keep from being replaced. */
bool nvb_path_is_stream(const char *path);

/* Like nvb_write_file_atomic, but relative to an open directory fd, for nvbind's own state
 * files: only a regular file (or nothing) at name is replaced; a link, FIFO, device, socket
 * or folder there is an error. */
int nvb_write_file_atomic_at(int dirfd, const char *dirname_for_errors, const char *name,
                             const void *data, size_t len, mode_t mode, nvb_err *err);
/* nvb_write_file_atomic_at without the fsyncs: readers see the old or the new file whole,
 * but a crash may lose the new one. For files remade at every use (a container's loader
 * configuration, written by a hook at every start), where waiting for the disk buys nothing. */
int nvb_write_file_volatile_at(int dirfd, const char *dirname_for_errors, const char *name,
                               const void *data, size_t len, mode_t mode, nvb_err *err);

/* Read exactly len bytes at offset off of fd (EINTR retried); -1 on a short read or an
 * error (errno set, 0 at the end of the file). */
int nvb_pread_full(int fd, void *buf, size_t len, off_t off);

/* Open for reading the regular file that pathfd (an O_PATH descriptor, always closed
 * here) names, through /proc/self/fd: a FIFO, device or socket someone else put there is
 * never opened, so its driver's open() cannot act. *st is its fstat. -1 with errno (EINVAL:
 * not a regular file). */
struct stat;
int nvb_reopen_regular(int pathfd, struct stat *st);

/* Open for reading the regular file name in dirfd (AT_FDCWD: a path), never following a final
 * link and never opening anything else (a FIFO, a device): nvb_reopen_regular of an
 * O_PATH|O_NOFOLLOW open. -1 with errno (ELOOP: a link; EINVAL: not a regular file). */
int nvb_open_regular_at(int dirfd, const char *name, struct stat *st);
