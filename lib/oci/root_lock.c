#include "oci/root_lock.h"
#include "util/cleanup.h"
#include "util/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

int nvb_root_lock(int root_fd, const char *root_path, unsigned wait_ms, nvb_err *err)
{
    /* flock needs a real open file, not O_PATH; "." of the root fd is the root itself, so
     * no path of the container is looked up again. */
    _cleanup_close_ int fd = openat(root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return nvb_errf_errno(err, NVB_EXIT_IO, errno, "container root %s: cannot open it to lock it", root_path);
    int64_t deadline = nvb_mono_ms() + wait_ms;
    /* Polling, not a blocking flock: a holder that never lets go (a process inside the
     * container may flock its own "/") must not hang the container's start. */
    for (;;) {
        if (flock(fd, LOCK_EX | LOCK_NB) == 0)
            return NVB_TAKE_FD(fd);
        if (errno != EWOULDBLOCK && errno != EINTR)
            return nvb_errf_errno(err, NVB_EXIT_IO, errno, "container root %s: cannot lock it", root_path);
        if (nvb_mono_ms() >= deadline)
            return nvb_errf(err, NVB_EXIT_RUNTIME,
                            "container root %s: still locked by another hook after %u ms; gave up", root_path,
                            wait_ms);
        nvb_sleep_ms(2);
    }
}
