/* No global state: separate managers used from separate threads at once give exactly what
 * one thread gets alone, and so does one manager shared by several threads (its functions
 * take it const). Errors stay with the thread that got them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>

#include "api_test_util.h"

#define THREADS 8
#define ROUNDS 10

static tu_host host;
static char *want_gaming, *want_aiml, *want_yaml;

static char *spec_text(const nvbind_gpu_manager *m, bool aiml, bool yaml)
{
    nvbind_cdi_spec *s = aiml ? nvbind_generate_aiml_cdi_spec(m, NULL) : nvbind_generate_gaming_cdi_spec(m, NULL);
    if (!s)
        return NULL;
    char *t = yaml ? nvbind_cdi_spec_to_yaml(s, NULL) : nvbind_cdi_spec_to_json(s, NULL);
    nvbind_cdi_spec_free(s);
    return t;
}

static int setup(void **state)
{
    (void)state;
    if (tu_host_build(&host, "--gpus 4") < 0)
        return -1;
    nvbind_manager_options o = tu_options(&host);
    nvbind_gpu_manager *m = nvbind_gpu_manager_new(NULL, &o, NULL);
    if (!m)
        return -1;
    want_gaming = spec_text(m, false, false);
    want_aiml = spec_text(m, true, false);
    want_yaml = spec_text(m, true, true);
    nvbind_gpu_manager_free(m);
    return want_gaming && want_aiml && want_yaml ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    tu_host_free(&host);
    free(want_gaming);
    free(want_aiml);
    free(want_yaml);
    return 0;
}

typedef struct job {
    int id;
    const nvbind_gpu_manager *shared; /* NULL: the thread makes its own manager */
    int mismatches, failures;
    char error_seen[128];
} job;

static void *worker(void *arg)
{
    job *j = arg;
    nvbind_gpu_manager *own = NULL;
    const nvbind_gpu_manager *m = j->shared;
    if (!m) {
        nvbind_manager_options o = tu_options(&host);
        m = own = nvbind_gpu_manager_new(NULL, &o, NULL);
        if (!own) {
            j->failures++;
            return NULL;
        }
    }
    for (int r = 0; r < ROUNDS; r++) {
        char *g = spec_text(m, false, false), *a = spec_text(m, true, false), *y = spec_text(m, true, true);
        if (!g || !a || !y)
            j->failures++;
        else
            j->mismatches += (strcmp(g, want_gaming) != 0) + (strcmp(a, want_aiml) != 0) + (strcmp(y, want_yaml) != 0);
        free(g);
        free(a);
        free(y);
        nvbind_gpu_list *l = nvbind_get_gpu_info(m, NULL);
        if (!l || l->count != 4)
            j->failures++;
        else
            for (size_t i = 0; i < l->count; i++)
                j->mismatches += strcmp(l->gpus[i].uuid, tu_gpu_field(&host, i, "uuid")) != 0;
        nvbind_gpu_list_free(l);
        /* Each thread's error carries its own message. */
        nvbind_error *err = NULL;
        char req[32];
        snprintf(req, sizeof req, "%d", 10 + j->id);
        if (nvbind_run_with_runtime(m, &(nvbind_runtime_adapter){0}, "t", NULL, req, &err) != -1 || !err)
            j->failures++;
        else
            snprintf(j->error_seen, sizeof j->error_seen, "%s", nvbind_error_message(err));
        nvbind_error_free(err);
    }
    nvbind_gpu_manager_free(own);
    return NULL;
}

static void run_jobs(job *jobs)
{
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, worker, &jobs[i]), 0);
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(jobs[i].failures, 0);
        assert_int_equal(jobs[i].mismatches, 0);
        char gpu[32];
        snprintf(gpu, sizeof gpu, "%d", 10 + jobs[i].id);
        assert_non_null(strstr(jobs[i].error_seen, gpu));
    }
}

static void test_separate_managers(void **state)
{
    (void)state;
    job jobs[THREADS];
    for (int i = 0; i < THREADS; i++)
        jobs[i] = (job){.id = i};
    run_jobs(jobs);
}

static void test_shared_manager(void **state)
{
    (void)state;
    nvbind_manager_options o = tu_options(&host);
    nvbind_gpu_manager *m = nvbind_gpu_manager_new(NULL, &o, NULL);
    assert_non_null(m);
    job jobs[THREADS];
    for (int i = 0; i < THREADS; i++)
        jobs[i] = (job){.id = i, .shared = m};
    run_jobs(jobs);
    nvbind_gpu_manager_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_separate_managers),
        cmocka_unit_test(test_shared_manager),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
