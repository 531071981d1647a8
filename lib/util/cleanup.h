/* Scope-bound resources: a variable declared with one of these is released when it goes
 * out of scope, so early returns cannot leak. */
#pragma once
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static inline void nvb_freep(void *p) { free(*(void **)p); }
static inline void nvb_closep(int *fd) { if (*fd >= 0) close(*fd); }
static inline void nvb_fclosep(FILE **f) { if (*f) fclose(*f); }

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(nvb_freep)
#define _cleanup_close_ _cleanup_(nvb_closep)
#define _cleanup_fclose_ _cleanup_(nvb_fclosep)

/* Hand a cleanup-owned pointer to the caller. */
#define NVB_TAKE(p) ({ __typeof__(p) _t = (p); (p) = NULL; _t; })
#define NVB_TAKE_FD(fd) ({ int _t = (fd); (fd) = -1; _t; })
