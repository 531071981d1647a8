/* Bounded waits for worker threads (worker.h). Joined rather than signalled: a detached
 * thread still ending when the process exits keeps libc's per-thread buffers (a failed
 * dlopen's dlerror text) past the point where LeakSanitizer stops tracking it. */
#include "util/worker.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>

int nvb_run_bounded(void *(*fn)(void *), void *arg, unsigned timeout_ms)
{
    pthread_t th;
    int r = pthread_create(&th, NULL, fn, arg);
    if (r != 0) {
        errno = r;
        return -1;
    }
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    if (pthread_timedjoin_np(th, NULL, &deadline) == 0)
        return 1;
    pthread_detach(th);
    return 0;
}
