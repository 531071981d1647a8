/* nvb_run_bounded: work that returns in time is joined; work that hangs (an NVML call stuck
 * in a driver) is left running at the deadline, and the caller goes on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "util/worker.h"

#include <pthread.h>
#include <stdbool.h>
#include <time.h>

struct gate {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool open, ran, finished;
};

static void *quick(void *arg)
{
    struct gate *g = arg;
    g->ran = true;
    return NULL;
}

/* Blocks until the test opens the gate: a hung call. */
static void *hangs(void *arg)
{
    struct gate *g = arg;
    pthread_mutex_lock(&g->lock);
    while (!g->open)
        pthread_cond_wait(&g->cond, &g->lock);
    g->finished = true;
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->lock);
    return NULL;
}

static long long now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000LL + t.tv_nsec / 1000000;
}

static void test_returns_in_time(void **state)
{
    struct gate g = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
    assert_int_equal(nvb_run_bounded(quick, &g, 5000), 1);
    assert_true(g.ran); /* joined: what it wrote is there */
}

static void test_hung_work_is_left_at_the_deadline(void **state)
{
    /* static: the detached thread may still be leaving pthread_mutex_unlock when this returns */
    static struct gate g = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
    long long t0 = now_ms();
    assert_int_equal(nvb_run_bounded(hangs, &g, 200), 0);
    long long took = now_ms() - t0;
    assert_true(took >= 190 && took < 5000);
    /* The thread runs on, detached: let it finish before the test does. */
    pthread_mutex_lock(&g.lock);
    g.open = true;
    pthread_cond_broadcast(&g.cond);
    while (!g.finished)
        pthread_cond_wait(&g.cond, &g.lock);
    pthread_mutex_unlock(&g.lock);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_returns_in_time),
        cmocka_unit_test(test_hung_work_is_left_at_the_deadline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
