/* nvb_run_bounded: work that returns in time is joined; work that hangs (an NVML call stuck
 * in a driver) is left running at the deadline, and the caller goes on. nvb_run_bounded_once:
 * a caller that asks again and again (a daemon) never keeps more than one such thread per key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "util/worker.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
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

static void open_gate(struct gate *g)
{
    pthread_mutex_lock(&g->lock);
    g->open = true;
    pthread_cond_broadcast(&g->cond);
    while (!g->finished)
        pthread_cond_wait(&g->cond, &g->lock);
    pthread_mutex_unlock(&g->lock);
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
    open_gate(&g);
}

static void test_once_keeps_one_hung_thread_per_key(void **state)
{
    static struct gate g = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
    struct gate other = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
    assert_int_equal(nvb_run_bounded_once("/lib/a.so", hangs, &g, 100), 0);
    /* Asked again while it hangs: refused at once, nothing started. */
    struct gate again = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
    long long t0 = now_ms();
    for (int i = 0; i < 5; i++) {
        errno = 0;
        assert_int_equal(nvb_run_bounded_once("/lib/a.so", quick, &again, 5000), -2);
        assert_int_equal(errno, EBUSY);
    }
    assert_true(now_ms() - t0 < 1000);
    assert_false(again.ran);
    /* Another key is not held up by it. */
    assert_int_equal(nvb_run_bounded_once("/lib/b.so", quick, &other, 5000), 1);
    assert_true(other.ran);
    /* Once the stuck thread returns, the key runs again (its slot is freed as it ends). */
    open_gate(&g);
    int r = -2;
    for (int i = 0; i < 500 && r == -2; i++) {
        r = nvb_run_bounded_once("/lib/a.so", quick, &again, 5000);
        if (r == -2)
            nanosleep(&(struct timespec){.tv_nsec = 10000000}, NULL);
    }
    assert_int_equal(r, 1);
    assert_true(again.ran);
}

static void test_once_holds_at_most_the_set_number_of_keys(void **state)
{
    static struct gate gates[NVB_BOUNDED_KEYS];
    char key[32];
    for (int i = 0; i < NVB_BOUNDED_KEYS; i++) {
        gates[i] = (struct gate){.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
        snprintf(key, sizeof key, "/lib/%d.so", i);
        assert_int_equal(nvb_run_bounded_once(key, hangs, &gates[i], 20), 0);
    }
    struct gate last = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
    errno = 0;
    assert_int_equal(nvb_run_bounded_once("/lib/one-more.so", quick, &last, 5000), -2);
    assert_int_equal(errno, EAGAIN);
    assert_false(last.ran);
    for (int i = 0; i < NVB_BOUNDED_KEYS; i++)
        open_gate(&gates[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_returns_in_time),
        cmocka_unit_test(test_hung_work_is_left_at_the_deadline),
        cmocka_unit_test(test_once_keeps_one_hung_thread_per_key),
        cmocka_unit_test(test_once_holds_at_most_the_set_number_of_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
