/* docker's GET /info, kept from one `nvbind run` to the next. The daemon takes ~20 ms to
 * answer it (it runs `runc --version` and `docker-init --version` for every request), which
 * is most of what nvbind run adds to a container start; what nvbind reads from it (the
 * server's version, its runtimes, its CDI folders) changes only when the daemon starts or
 * reloads its configuration. So the answer is kept, root's only, in
 * [isolation] state_dir/docker-info/, and used again only while
 *   - the same daemon process answers on the same socket: the socket's listener (SO_PEERCRED),
 *     or under systemd's socket activation the daemon of /var/run/docker.pid, is a `dockerd`
 *     run by root, with the same pid, start time and boot;
 *   - its configuration file (its --config-file, else /etc/docker/daemon.json) and that
 *     file's folder are exactly as they were (device, inode, size, mtime and ctime);
 * and it is kept at all only when that file was last changed before the daemon started:
 * a file changed since may or may not have been reloaded (SIGHUP), so its daemon is asked
 * every time until it restarts. Anything unusual (another user's daemon, a proxy on the
 * socket, a daemon in another mount namespace) is simply asked. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

typedef struct nvb_docker_info_key {
    char text[1536];  /* the daemon and its configuration, one line; "" when not cacheable */
    bool keep;        /* a fresh answer may be kept: the file predates the daemon */
} nvb_docker_info_key;

/* The key of the daemon on fd (a socket connected to socket_path); false (key->text "")
 * when this daemon's answer cannot be cached. */
bool nvb_docker_info_key_of(int fd, const char *socket_path, nvb_docker_info_key *key);

/* The kept /info of key's daemon into info (NUL-terminated): true on a hit. state_dir NULL:
 * /run/nvbind. */
bool nvb_docker_info_load(const char *state_dir, const char *socket_path, const nvb_docker_info_key *key,
                          char *info, size_t len);

/* Keep info for key's daemon (when key->keep); failures only cost the next run a request. */
void nvb_docker_info_store(const char *state_dir, const char *socket_path, const nvb_docker_info_key *key,
                           const char *info);
