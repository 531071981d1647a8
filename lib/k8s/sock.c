/* The plugin's own socket: named after its resource, and never blocked by a stale one. */
#include "k8s/plugin.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

char *nvb_dp_socket_name(const char *resource)
{
    char *name = NULL;
    if (asprintf(&name, "nvbind-%s.sock", resource) < 0)
        return NULL;
    for (char *p = name; *p; p++)
        if (*p == '/')
            *p = '-';
    return name;
}

/* Whether something accepts connections on the unix socket at path. */
static bool socket_answers(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path)
        return false;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    bool up = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    return up;
}

int nvb_dp_socket_clear(const char *path, nvb_err *err)
{
    struct sockaddr_un sa;
    if (strlen(path) >= sizeof sa.sun_path)
        return nvb_errf(err, NVB_EXIT_USAGE, "socket path %s: longer than the %zu bytes a unix socket allows", path,
                        sizeof sa.sun_path - 1);
    struct stat st;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : nvb_errf_errno(err, NVB_EXIT_IO, errno, "cannot inspect %s", path);
    if (!S_ISSOCK(st.st_mode))
        return nvb_errf(err, NVB_EXIT_IO, "%s exists and is not a socket: not removing it", path);
    if (socket_answers(path))
        return nvb_errf(err, NVB_EXIT_RUNTIME, "%s: another device plugin is serving this socket", path);
    if (unlink(path) < 0 && errno != ENOENT)
        return nvb_errf_errno(err, NVB_EXIT_IO, errno, "cannot remove the stale socket %s", path);
    return 0;
}
