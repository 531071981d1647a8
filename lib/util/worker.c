/* Bounded waits for worker threads (worker.h). Joined rather than signalled: a detached
 * thread still ending when the process exits keeps libc's per-thread buffers (a failed
 * dlopen's dlerror text) past the point where LeakSanitizer stops tracking it. */
#include "util/worker.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
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

/* The keys whose thread is running, each cleared by that thread as it returns. */
static pthread_mutex_t running_lock = PTHREAD_MUTEX_INITIALIZER;
static char *running[NVB_BOUNDED_KEYS];

struct keyed_job {
    void *(*fn)(void *);
    void *arg;
    int slot;
};

static void *keyed_main(void *p)
{
    struct keyed_job job = *(struct keyed_job *)p;
    free(p);
    job.fn(job.arg);
    pthread_mutex_lock(&running_lock);
    free(running[job.slot]);
    running[job.slot] = NULL;
    pthread_mutex_unlock(&running_lock);
    return NULL;
}

/* A free slot now holding a copy of key; -2 when key is running, -3 when no slot is free, -1
 * when out of memory. */
static int take_slot(const char *key)
{
    int slot = -3;
    pthread_mutex_lock(&running_lock);
    for (int i = 0; i < NVB_BOUNDED_KEYS; i++) {
        if (running[i] && strcmp(running[i], key) == 0) {
            slot = -2;
            break;
        }
        if (!running[i] && slot == -3)
            slot = i;
    }
    if (slot >= 0 && !(running[slot] = strdup(key)))
        slot = -1;
    pthread_mutex_unlock(&running_lock);
    return slot;
}

int nvb_run_bounded_once(const char *key, void *(*fn)(void *), void *arg, unsigned timeout_ms)
{
    int slot = take_slot(key);
    if (slot < 0) {
        errno = slot == -2 ? EBUSY : slot == -3 ? EAGAIN : ENOMEM;
        return slot < -1 ? -2 : -1;
    }
    struct keyed_job *job = malloc(sizeof *job);
    int ran = -1;
    if (job) {
        *job = (struct keyed_job){.fn = fn, .arg = arg, .slot = slot};
        ran = nvb_run_bounded(keyed_main, job, timeout_ms);
    } else {
        errno = ENOMEM;
    }
    if (ran < 0) { /* no thread: the slot is still this call's */
        int e = errno;
        free(job);
        pthread_mutex_lock(&running_lock);
        free(running[slot]);
        running[slot] = NULL;
        pthread_mutex_unlock(&running_lock);
        errno = e;
    }
    return ran;
}
