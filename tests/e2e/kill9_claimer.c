/* Test driver for tests/e2e/test_kill9.py: claims GPUs through lib/isolation, holds them a
 * moment, gives them back, and again, until it is killed (the test kills it with SIGKILL at
 * random moments: while it acquires, holds or releases).
 *
 *   kill9_claimer STATE_DIR CONTAINER exclusive|shared UUID...
 *
 * Each UUID is a whole GPU; its index is its position in the list. Requests that find a GPU
 * busy are retried after a short pause. The process itself is the holder (holder_pid 0), with
 * no container init and no OCI state file, so a claim is stale as soon as it dies. Built by
 * the test against the build's internal library. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "isolation/claims.h"

static void pause_us(long us)
{
    struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

int main(int argc, char **argv)
{
    if (argc < 5 || (strcmp(argv[3], "exclusive") != 0 && strcmp(argv[3], "shared") != 0)) {
        fprintf(stderr, "usage: kill9_claimer STATE_DIR CONTAINER exclusive|shared UUID...\n");
        return 2;
    }
    const char *state = argv[1];
    enum nvb_claim_mode mode = strcmp(argv[3], "exclusive") == 0 ? NVB_CLAIM_EXCLUSIVE : NVB_CLAIM_SHARED;
    size_t n = (size_t)argc - 4;
    nvb_claim_target *targets = calloc(n, sizeof *targets);
    if (!targets)
        return 1;
    for (size_t i = 0; i < n; i++)
        targets[i] = (nvb_claim_target){
            .device = {.gpu_index = (unsigned)i, .mig_index = -1, .uuid = argv[4 + i], .parent_uuid = NULL},
            .mode = mode};
    nvb_claim_owner owner = {.container = argv[2], .runtime = "kill9-test"};
    srand((unsigned)getpid());
    for (unsigned long round = 0;; round++) {
        nvb_err err = {0};
        if (nvb_claims_acquire(state, &owner, targets, n, NVB_CLAIM_NO_WAIT, NULL, &err) < 0) {
            if (err.exit_code != NVB_EXIT_BUSY) {
                /* Anything but "busy" means the state is damaged: the test reads this. */
                fprintf(stderr, "kill9_claimer: acquire: %s\n", err.msg);
                return 3;
            }
            pause_us(100 + rand() % 900);
            continue;
        }
        pause_us(rand() % 2000);
        if (nvb_claims_release(state, owner.container, &err) < 0) {
            fprintf(stderr, "kill9_claimer: release: %s\n", err.msg);
            return 4;
        }
        pause_us(rand() % 500);
    }
}
