/* nvb_prefault: after it, a command's first few hundred KiB of heap and its stack below the
 * caller cost no page faults when touched; without it each page is one fault. Each case runs
 * in a fresh child, as a command starts in a fresh process. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "util/asan.h"
#include "util/prefault.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

static long minor_faults(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_minflt;
}

/* Allocates 200 KiB in 4 KiB blocks and writes each: the faults that took. */
static long faults_of_heap_use(void)
{
    enum { N = 50 };
    static char *blocks[N];
    long before = minor_faults();
    for (int i = 0; i < N; i++) {
        blocks[i] = malloc(4000);
        if (blocks[i])
            memset(blocks[i], 1, 4000);
    }
    long n = minor_faults() - before;
    for (int i = 0; i < N; i++)
        free(blocks[i]);
    return n;
}

/* Writes 48 KiB of stack below this frame: the faults that took. */
static __attribute__((noinline)) long faults_of_stack_use(void)
{
    volatile char deep[48 << 10];
    long before = minor_faults();
    for (size_t i = 0; i < sizeof deep; i += 512)
        deep[i] = 1;
    return minor_faults() - before;
}

/* The faults of heap or stack use in a fresh process (this test run again: a command calls
 * nvb_prefault first thing in a process whose heap does not exist yet), after
 * nvb_prefault when asked. */
static long in_fresh_process(const char *prefault, const char *use)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        execl("/proc/self/exe", "test_prefault", use, prefault, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    char out[64] = "";
    ssize_t got = read(fds[0], out, sizeof out - 1);
    close(fds[0]);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_true(got > 0);
    return strtol(out, NULL, 10);
}

/* The fresh process's side: argv[1] says which use, argv[2] whether to take memory first. */
static int child_main(char **argv)
{
    if (strcmp(argv[2], "prefault") == 0 || strcmp(argv[2], "prefault-after-malloc") == 0) {
        /* The static build's start allocates before main decides to prefault. */
        if (strcmp(argv[2], "prefault-after-malloc") == 0)
            free(strdup(argv[0]));
        nvb_prefault(512 << 10, 64 << 10);
    }
    long n = strcmp(argv[1], "heap") == 0 ? faults_of_heap_use() : faults_of_stack_use();
    printf("%ld\n", n);
    return 0;
}

static bool kernel_populates(void)
{
    void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    bool ok = p != MAP_FAILED && madvise(p, 4096, MADV_POPULATE_WRITE) == 0;
    if (p != MAP_FAILED)
        munmap(p, 4096);
    return ok;
}

static void heap_pages_come_without_faults(void **state)
{
    (void)state;
#ifdef NVB_ASAN
    skip(); /* the sanitizer's allocator is not brk's heap: nothing to take at once */
#endif
    if (!kernel_populates())
        skip();
    long without = in_fresh_process("plain", "heap"), with = in_fresh_process("prefault", "heap");
    assert_true(without >= 40); /* a fault a page: what the prefault is for */
    assert_true(with <= 4);
    /* The heap made before nvb_prefault is called: its 200 KiB still come at once. */
    assert_true(in_fresh_process("prefault-after-malloc", "heap") <= 4);
}

static void stack_pages_come_without_faults(void **state)
{
    (void)state;
    if (!kernel_populates())
        skip();
    long without = in_fresh_process("plain", "stack"), with = in_fresh_process("prefault", "stack");
    assert_true(without >= 8);
    assert_true(with <= 1);
}

int main(int argc, char **argv)
{
    if (argc == 3)
        return child_main(argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(heap_pages_come_without_faults),
        cmocka_unit_test(stack_pages_come_without_faults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
