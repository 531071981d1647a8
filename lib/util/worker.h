/* A bounded wait for work done on a thread of its own (NVML calls that may hang in a driver). */
#pragma once

/* Run fn(arg) on a new thread and wait at most timeout_ms for it to return. 1: it returned
 * and the thread is joined, so nothing of it (libc's per-thread buffers included) outlives
 * the call; 0: still running at the deadline, left detached to finish on its own, so arg must
 * be shared by reference count; -1: no thread could be started (errno). */
int nvb_run_bounded(void *(*fn)(void *), void *arg, unsigned timeout_ms);
