/* Reading and writing files (util/fileio.c) against the attacks on them: temporaries
 * another user plants under the name the writer will use, outputs that are streams or
 * links, FIFOs where a file is read. alarm() turns a hang into a failure (see on_alarm). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "../common/test_util.h"

#include "util/error.h"
#include "util/fileio.h"

#define HANG_SECONDS 10

static const char text[] = "{\"cdiVersion\": \"0.6.0\"}\n";

static int setup_dir(void **state)
{
    const char *tmp = getenv("TMPDIR");
    char *dir = t_printf("%s/nvb-fileio-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(dir));
    *state = dir;
    return 0;
}

static int teardown_dir(void **state)
{
    char *cmd = t_printf("rm -rf '%s'", (char *)*state);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    free(*state);
    return 0;
}

static void assert_file_is(const char *path, const char *want)
{
    size_t len;
    char *got = nvb_read_file(path, 1 << 20, &len);
    if (!got)
        fail_msg("cannot read %s: %s", path, nvb_strerror(errno));
    assert_string_equal(got, want);
    free(got);
}

/* Names in dir other than `keep` (NULL: all), as one "a b c" string. */
static char *other_names(const char *dir, const char *keep, const char *keep2)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    char *out = strdup("");
    for (struct dirent *e; (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || (keep && !strcmp(e->d_name, keep)) ||
            (keep2 && !strcmp(e->d_name, keep2)))
            continue;
        char *n = t_printf("%s%s ", out, e->d_name);
        free(out);
        out = n;
    }
    closedir(d);
    return out;
}

static void write_ok(const char *path)
{
    nvb_err err = {0};
    alarm(HANG_SECONDS);
    int r = nvb_write_file_atomic(path, text, strlen(text), 0644, &err);
    alarm(0);
    if (r < 0)
        fail_msg("writing %s: %s", path, err.msg);
}

/* Attack: another user who can write to the output folder (/tmp, a shared spec folder)
 * plants a FIFO under the temporary's predictable name ".<name>.tmp.<pid>" (pids are
 * predictable): opening it for writing blocks forever. Or a regular file of theirs, which
 * root then fills and renames into place: the output is theirs to change afterwards. The
 * temporary's name must be unguessable and created with O_EXCL. */
static void test_planted_temporary_attack(void **state)
{
    const char *dir = *state;
    char *path = t_printf("%s/nvidia.json", dir);
    char *fifo = t_printf("%s/.nvidia.json.tmp.%ld", dir, (long)getpid());
    assert_int_equal(mkfifo(fifo, 0666), 0);
    write_ok(path);  /* killed by SIGALRM if it opens the FIFO */
    assert_file_is(path, text);
    struct stat st;
    assert_int_equal(lstat(fifo, &st), 0);
    assert_true(S_ISFIFO(st.st_mode));
    unlink(fifo);

    /* The same with the attacker's own file under that name. */
    int fd = open(fifo, O_WRONLY | O_CREAT | O_EXCL, 0666);
    assert_true(fd >= 0);
    assert_int_equal(fchown(fd, 65534, 65534), 0);
    close(fd);
    unlink(path);
    write_ok(path);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_uid, geteuid());
    assert_int_equal(st.st_mode & 07777, 0644);
    assert_int_equal(stat(fifo, &st), 0);
    assert_int_equal(st.st_uid, 65534);
    assert_int_equal(st.st_size, 0);
    unlink(fifo);

    /* A link planted there must not make the write fail (or be followed). */
    assert_int_equal(symlink("/etc/passwd-nvb-never", fifo), 0);
    write_ok(path);
    assert_file_is(path, text);
    unlink(fifo);
    free(fifo);
    free(path);
}

/* Every temporary is a dot-file of the output's name, gone after the write. */
static void test_no_temporary_left_and_mode(void **state)
{
    const char *dir = *state;
    char *path = t_printf("%s/spec.json", dir);
    mode_t old = umask(077);
    write_ok(path);
    write_ok(path);
    umask(old);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0644);
    char *others = other_names(dir, "spec.json", NULL);
    assert_string_equal(others, "");
    free(others);
    free(path);
}

/* The pid of a process that has ended: a writer killed before its rename. */
static pid_t dead_pid(void)
{
    pid_t dead = fork();
    if (dead == 0)
        _exit(0);
    assert_true(dead > 0);
    waitpid(dead, NULL, 0);
    return dead;
}

/* A writer killed before its rename leaves ".<name>.tmp.<pid>.<random>"; the next write
 * of the same file removes it once that pid is gone and nobody holds its lock. */
static void test_dead_writers_temporary_removed(void **state)
{
    const char *dir = *state;
    pid_t dead = dead_pid();
    char *path = t_printf("%s/spec.json", dir);
    char *stale = t_printf("%s/.spec.json.tmp.%ld.0123456789abcdef", dir, (long)dead);
    char *old_style = t_printf("%s/.spec.json.tmp.%ld", dir, (long)dead);
    char *live = t_printf("%s/.spec.json.tmp.%ld.fedcba9876543210", dir, (long)getppid());
    const char *all[] = {stale, old_style, live};
    for (int i = 0; i < 3; i++)
        close(open(all[i], O_WRONLY | O_CREAT | O_EXCL, 0600));
    write_ok(path);
    assert_int_equal(access(stale, F_OK), -1);
    assert_int_equal(access(old_style, F_OK), -1);
    assert_int_equal(access(live, F_OK), 0);
    unlink(live);
    free(path);
    free(stale);
    free(old_style);
    free(live);
}

/* Attack: in a container's folder (the shim writes the loader cache into the image's /etc
 * as root, outside the container's device cgroup), the image names a FIFO or a device node
 * like a dead writer's temporary. The sweep must not open it: a device's driver acts on
 * open() (a watchdog starts), a FIFO's blocked writer is released. Nor is it removed. */
static void test_temporary_named_fifo_never_opened(void **state)
{
    const char *dir = *state;
    pid_t dead = dead_pid();
    char *path = t_printf("%s/ld.so.cache", dir);
    char *fifo = t_printf("%s/.ld.so.cache.tmp.%ld.0123456789abcdef", dir, (long)dead);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    /* A writer that waits for a reader: its open() returns only if the sweep opens the FIFO. */
    pid_t writer = fork();
    if (writer == 0) {
        int fd = open(fifo, O_WRONLY);
        _exit(fd >= 0 ? 0 : 1);
    }
    assert_true(writer > 0);
    usleep(100 * 1000); /* the writer is in its open() */
    write_ok(path);
    usleep(100 * 1000);
    int status;
    pid_t done = waitpid(writer, &status, WNOHANG);
    if (done == 0) {
        kill(writer, SIGKILL);
        waitpid(writer, &status, 0);
    }
    assert_int_equal(done, 0); /* still waiting: nothing opened the FIFO */
    assert_int_equal(access(fifo, F_OK), 0);
    unlink(fifo);
    free(fifo);
    free(path);
}

/* Attack (and bug): `--output /dev/fd/N` or `/proc/self/fd/N` names an open descriptor,
 * often a pipe; renaming a file over that link fails or, on /dev, replaces the link for
 * every process. It must be written to the descriptor itself. */
static void test_descriptor_alias_is_written_to(void **state)
{
    (void)state;
    const char *dirs[] = {"/dev/fd", "/proc/self/fd"};
    for (int i = 0; i < 2; i++) {
        int p[2];
        assert_int_equal(pipe(p), 0);
        char *path = t_printf("%s/%d", dirs[i], p[1]);
        write_ok(path);
        close(p[1]);
        char buf[256];
        ssize_t n = read(p[0], buf, sizeof buf - 1);
        assert_true(n >= 0);
        buf[n] = '\0';
        assert_string_equal(buf, text);
        close(p[0]);
        free(path);
    }
}

static void *read_fifo(void *arg)
{
    char *buf = calloc(1, 4096);
    int fd = open(arg, O_RDONLY);
    if (fd >= 0) {
        ssize_t n, got = 0;
        while ((n = read(fd, buf + got, 4095 - (size_t)got)) > 0)
            got += n;
        close(fd);
    }
    return buf;
}

/* A FIFO the user names as the output is a stream: written to, and still a FIFO. */
static void test_fifo_output_is_streamed(void **state)
{
    const char *dir = *state;
    char *fifo = t_printf("%s/out.fifo", dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, read_fifo, fifo), 0);
    write_ok(fifo);
    void *got;
    assert_int_equal(pthread_join(t, &got), 0);
    assert_string_equal(got, text);
    free(got);
    struct stat st;
    assert_int_equal(lstat(fifo, &st), 0);
    assert_true(S_ISFIFO(st.st_mode));
    free(fifo);
}

/* /dev/null is written to, never replaced by a regular file. */
static void test_dev_null_output_stays_a_device(void **state)
{
    (void)state;
    write_ok("/dev/null");
    struct stat st;
    assert_int_equal(lstat("/dev/null", &st), 0);
    assert_true(S_ISCHR(st.st_mode));
}

/* Nothing is ever created or renamed into /dev, where device nodes live. */
static void test_nothing_renamed_into_dev(void **state)
{
    (void)state;
    char *path = t_printf("/dev/nvb-fileio-test-%ld", (long)getpid());
    nvb_err err = {0};
    int r = nvb_write_file_atomic(path, text, strlen(text), 0644, &err);
    bool created = access(path, F_OK) == 0;
    unlink(path);
    assert_int_equal(r, -1);
    assert_false(created);
    assert_int_equal(err.exit_code, NVB_EXIT_IO);
    char *want = t_printf("cannot write %s: nvbind creates and replaces no files in /dev", path);
    assert_string_equal(err.msg, want);
    free(want);
    free(path);
}

/* A link at the output is written through: its target gets the file (atomically), the link
 * stays a link. A link whose target is missing is refused, and left as it is. */
static void test_symlink_output_written_through(void **state)
{
    const char *dir = *state;
    char *target = t_printf("%s/real.json", dir), *link = t_printf("%s/link.json", dir);
    assert_int_equal(symlink("real.json", link), 0);
    nvb_err err = {0};
    assert_int_equal(nvb_write_file_atomic(link, text, strlen(text), 0644, &err), -1);
    assert_int_equal(err.exit_code, NVB_EXIT_IO);
    char *want = t_printf("cannot write %s: it is a symbolic link whose target cannot be resolved: "
                           "No such file or directory", link);
    assert_string_equal(err.msg, want);
    free(want);
    close(open(target, O_WRONLY | O_CREAT | O_EXCL, 0644));
    write_ok(link);
    struct stat st;
    assert_int_equal(lstat(link, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    assert_file_is(target, text);
    char *others = other_names(dir, "real.json", "link.json");
    assert_string_equal(others, "");
    free(others);
    free(target);
    free(link);
}

/* Attack: a FIFO where a file is read (a host root's /proc file, a bundle's config.json):
 * opening it for reading blocks until a writer comes. Refused at once, by name. */
static void test_read_fifo_refused_without_hang(void **state)
{
    const char *dir = *state;
    char *fifo = t_printf("%s/config.json", dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    alarm(HANG_SECONDS);
    errno = 0;
    char *got = nvb_read_file(fifo, 4096, NULL);
    int e = errno;
    alarm(0);
    assert_null(got);
    assert_int_equal(e, NVB_ENOTREG);
    assert_string_equal(nvb_strerror(e), "not a regular file");
    errno = 0;
    assert_null(nvb_read_file(dir, 4096, NULL));
    assert_int_equal(errno, EISDIR);
    free(fifo);
}

/* SIGALRM interrupts a blocked open() (no SA_RESTART): a hang becomes a failed call. */
static void on_alarm(int sig)
{
    (void)sig;
}

int main(void)
{
    struct sigaction sa = {.sa_handler = on_alarm};
    sigaction(SIGALRM, &sa, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_planted_temporary_attack, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_no_temporary_left_and_mode, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_dead_writers_temporary_removed, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_temporary_named_fifo_never_opened, setup_dir, teardown_dir),
        cmocka_unit_test(test_descriptor_alias_is_written_to),
        cmocka_unit_test_setup_teardown(test_fifo_output_is_streamed, setup_dir, teardown_dir),
        cmocka_unit_test(test_dev_null_output_stays_a_device),
        cmocka_unit_test(test_nothing_renamed_into_dev),
        cmocka_unit_test_setup_teardown(test_symlink_output_written_through, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_read_fifo_refused_without_hang, setup_dir, teardown_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
