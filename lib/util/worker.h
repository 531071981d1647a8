/* A bounded wait for work done on a thread of its own (NVML calls that may hang in a driver). */
#pragma once

/* Run fn(arg) on a new thread and wait at most timeout_ms for it to return. 1: it returned
 * and the thread is joined, so nothing of it (libc's per-thread buffers included) outlives
 * the call; 0: still running at the deadline, left detached to finish on its own, so arg must
 * be shared by reference count; -1: no thread could be started (errno). */
int nvb_run_bounded(void *(*fn)(void *), void *arg, unsigned timeout_ms);

/* nvb_run_bounded for work that may hang for good (a library stuck in a driver), in a process
 * that calls it again and again (a daemon): at most one thread per key (the library's path) is
 * ever left behind. While the thread an earlier call with the same key left is still running,
 * nothing is started and -2 is returned (errno EBUSY); also when NVB_BOUNDED_KEYS keys already
 * have one (errno EAGAIN). Otherwise as nvb_run_bounded. */
#define NVB_BOUNDED_KEYS 8
int nvb_run_bounded_once(const char *key, void *(*fn)(void *), void *arg, unsigned timeout_ms);
