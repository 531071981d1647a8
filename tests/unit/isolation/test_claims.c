/* GPU claims: the record format, exclusive and shared rules, the exact busy message,
 * all-or-nothing multi-device claims, stale claims after _exit and kill -9, ownership that
 * survives the holder while the container runs, waiting, and 32 racing processes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "iso_test_util.h"
#include "isolation/claims.h"
#include "isolation/procid.h"
#include "isolation/timefmt.h"
#include "util/fileio.h"
#include "util/clock.h"

static nvb_claim_target gpu_target(unsigned i, const char *uuid, enum nvb_claim_mode m)
{
    return (nvb_claim_target){.device = {.gpu_index = i, .mig_index = -1, .uuid = uuid}, .mode = m};
}

typedef struct fixture {
    char *dir;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->dir = t_mkdtemp();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    t_rm_rf(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

/* How many holders the state has for uuid (listing also reclaims). */
static size_t holders_of(const char *dir, const char *uuid)
{
    nvb_claim_list l;
    nvb_err err = {0};
    if (nvb_claims_list(dir, &l, &err) < 0)
        fail_msg("list: %s", err.msg);
    size_t n = 0;
    for (size_t i = 0; i < l.n; i++)
        if (strcmp(l.v[i].uuid, uuid) == 0)
            n = l.v[i].n_holders;
    nvb_claim_list_free(&l);
    return n;
}

/* --- processes ------------------------------------------------------------------------- */

static void test_proc_stat_parse(void **state)
{
    (void)state;
    char st;
    unsigned long long start;
    /* A command name with spaces and ')' must not shift the fields. */
    const char *text = "4242 (a) b) c) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10 "
                       "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 3 0 0 0 0 0\n";
    assert_int_equal(nvb_proc_stat_parse(text, &st, &start), 0);
    assert_int_equal(st, 'S');
    assert_int_equal(start, 987654);
    assert_int_equal(nvb_proc_stat_parse("12 (x) S 1 2 3", &st, &start), -1);
    assert_int_equal(nvb_proc_stat_parse("garbage", &st, &start), -1);
    assert_true(nvb_proc_start_time(getpid()) > 0);
    assert_true(nvb_proc_alive(getpid(), nvb_proc_start_time(getpid())));
    /* Same pid, other start time: a reused pid is another process. */
    assert_false(nvb_proc_alive(getpid(), nvb_proc_start_time(getpid()) + 1));
    assert_false(nvb_proc_alive(0, 1));
}

/* A process's own start time is read once and kept; a child forked after that reads its own,
 * not its parent's (which it would, were the kept value not tied to the pid). */
static void test_own_start_time_kept_per_process(void **state)
{
    (void)state;
    unsigned long long mine = nvb_proc_start_time(getpid());
    assert_true(mine > 0);
    assert_int_equal(nvb_proc_start_time(getpid()), mine);
    nvb_sleep_ms(30); /* a clock tick is 10 ms: the child starts in a later one */
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t p = fork();
    if (p == 0) {
        unsigned long long child = nvb_proc_start_time(getpid());
        char path[64], buf[1024] = "";
        snprintf(path, sizeof path, "/proc/%ld/stat", (long)getpid());
        FILE *f = fopen(path, "r");
        char st;
        unsigned long long fresh = 0;
        bool ok = f && fgets(buf, sizeof buf, f) && nvb_proc_stat_parse(buf, &st, &fresh) == 0;
        unsigned long long answer[2] = {child, ok ? fresh : 0};
        ssize_t w = write(fds[1], answer, sizeof answer);
        _exit(w == (ssize_t)sizeof answer ? 0 : 1);
    }
    close(fds[1]);
    unsigned long long answer[2] = {0, 0};
    assert_int_equal(read(fds[0], answer, sizeof answer), (ssize_t)sizeof answer);
    close(fds[0]);
    waitpid(p, NULL, 0);
    assert_true(answer[1] > mine);
    assert_true(answer[0] == answer[1]);
}

static void test_zombie_is_gone(void **state)
{
    (void)state;
    pid_t p = fork();
    if (p == 0)
        _exit(0);
    nvb_sleep_ms(50);
    /* Not reaped yet: a zombie holds nothing. */
    assert_int_equal(nvb_proc_start_time(p), 0);
    waitpid(p, NULL, 0);
}

static void test_oci_state_files(void **state)
{
    fixture *f = *state;
    char *runc = nvb_oci_state_file("runc", NULL, "c1");
    assert_string_equal(runc, "/run/runc/c1/state.json");
    free(runc);
    char *crun = nvb_oci_state_file("/usr/bin/crun", "/run/user/crun/", "c1");
    assert_string_equal(crun, "/run/user/crun/c1/status");
    free(crun);
    assert_null(nvb_oci_state_file("runc", NULL, "../x"));
    assert_null(nvb_oci_state_file("runc", NULL, ".hidden"));
    assert_null(nvb_oci_state_file("runc", NULL, ""));

    unsigned long long me = nvb_proc_start_time(getpid());
    char *p = t_printf("%s/state.json", f->dir);
    pid_t pid;
    unsigned long long start;
    assert_int_equal(nvb_oci_state_init(p, geteuid(), &pid, &start), NVB_OCI_INIT_GONE);
    char *text = t_printf("{\"id\":\"c1\",\"init_process_pid\":%ld,\"init_process_start\":%llu}", (long)getpid(), me);
    t_write(p, text);
    free(text);
    assert_int_equal(nvb_oci_state_init(p, geteuid(), &pid, &start), NVB_OCI_INIT_FOUND);
    assert_int_equal(pid, getpid());
    assert_int_equal(start, me);
    /* Old runc wrote the start time as a string. */
    text = t_printf("{\"init_process_pid\":%ld,\"init_process_start\":\"%llu\"}", (long)getpid(), me);
    t_write(p, text);
    free(text);
    assert_int_equal(nvb_oci_state_init(p, geteuid(), &pid, &start), NVB_OCI_INIT_FOUND);
    assert_int_equal(start, me);
    /* crun's status file. */
    text = t_printf("{\"pid\":%ld,\"process-start-time\":%llu,\"rootfs\":\"/x\"}", (long)getpid(), me);
    t_write(p, text);
    free(text);
    assert_int_equal(nvb_oci_state_init(p, geteuid(), &pid, &start), NVB_OCI_INIT_FOUND);
    /* runc's file as it is: the whole configuration under "config" (left unparsed), the
     * numbers before or after it, strings in it that look like structure. */
    text = t_printf("{\"id\":\"c1\",\"init_process_pid\":%ld,\"config\":{\"labels\":[\"a}\",\"\\\"{\"],"
                    "\"seccomp\":{\"syscalls\":[{\"names\":[\"read\"]}]}},\"init_process_start\":%llu,\"created\":\"x\"}",
                    (long)getpid(), me);
    t_write(p, text);
    free(text);
    pid = 0;
    start = 0;
    assert_int_equal(nvb_oci_state_init(p, geteuid(), &pid, &start), NVB_OCI_INIT_FOUND);
    assert_int_equal(pid, getpid());
    assert_int_equal(start, me);
    /* "config" twice: not cut, the whole text parsed (jansson keeps the last), still found. */
    text = t_printf("{\"config\":{},\"init_process_pid\":%ld,\"init_process_start\":%llu,\"config\":{\"a\":1}}",
                    (long)getpid(), me);
    t_write(p, text);
    free(text);
    assert_int_equal(nvb_oci_state_init(p, geteuid(), &pid, &start), NVB_OCI_INIT_FOUND);
    /* A broken configuration is no container state, cut or not. */
    text = t_printf("{\"init_process_pid\":%ld,\"init_process_start\":%llu,\"config\":{\"a\":[}}", (long)getpid(),
                    me);
    t_write(p, text);
    free(text);
    assert_int_equal(nvb_oci_state_init(p, geteuid(), &pid, &start), NVB_OCI_INIT_GONE);
    t_write(p, "{\"init_process_pid\":0,\"init_process_start\":0}");
    assert_int_equal(nvb_oci_state_init(p, geteuid(), &pid, &start), NVB_OCI_INIT_GONE);
    t_write(p, "{not json");
    assert_int_equal(nvb_oci_state_init(p, geteuid(), &pid, &start), NVB_OCI_INIT_GONE);
    /* A record names its state file, and a member of the group may have written the record:
     * another uid's file, a link and a device say nothing (the device is never opened). */
    text = t_printf("{\"init_process_pid\":%ld,\"init_process_start\":%llu}", (long)getpid(), me);
    t_write(p, text);
    free(text);
    assert_int_equal(nvb_oci_state_init(p, geteuid() + 1, &pid, &start), NVB_OCI_INIT_GONE);
    char *link = t_printf("%s/link.json", f->dir);
    assert_int_equal(symlink(p, link), 0);
    assert_int_equal(nvb_oci_state_init(link, geteuid(), &pid, &start), NVB_OCI_INIT_GONE);
    free(link);
    assert_int_equal(nvb_oci_state_init("/dev/null", 0, &pid, &start), NVB_OCI_INIT_GONE);
    /* Never opened: a writer blocked in open() on a FIFO there would be let through. */
    char *fifo = t_printf("%s/fifo", f->dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    pid_t writer = fork();
    if (writer == 0) {
        int w = open(fifo, O_WRONLY);
        _exit(w >= 0 ? 0 : 1);
    }
    usleep(50 * 1000);
    assert_int_equal(nvb_oci_state_init(fifo, geteuid(), &pid, &start), NVB_OCI_INIT_GONE);
    usleep(100 * 1000);
    int status;
    assert_int_equal(waitpid(writer, &status, WNOHANG), 0); /* still waiting for a reader */
    kill(writer, SIGKILL);
    waitpid(writer, &status, 0);
    unlink(fifo);
    free(fifo);
    free(p);
}

/* A runtime known by neither name (a wrapper script, crun-1.14): its container's claim was
 * recorded with runc's layout while crun keeps its own, and the other way round. The claim
 * must last while the container runs, not end at the first look. */
static void test_oci_state_of_a_runtime_not_known_by_name(void **state)
{
    fixture *f = *state;
    char *alt[2];
    assert_int_equal(nvb_oci_state_alternatives("/run/runc/c1/state.json", alt), 2);
    assert_string_equal(alt[0], "/run/runc/c1/status");
    assert_string_equal(alt[1], "/run/crun/c1/status");
    free(alt[0]);
    free(alt[1]);
    assert_int_equal(nvb_oci_state_alternatives("/run/crun/c1/status", alt), 2);
    assert_string_equal(alt[0], "/run/crun/c1/state.json");
    assert_string_equal(alt[1], "/run/runc/c1/state.json");
    free(alt[0]);
    free(alt[1]);
    /* An engine's own root (containerd's): the other file in the same folder only. */
    assert_int_equal(nvb_oci_state_alternatives("/run/containerd/runc/k8s.io/c1/state.json", alt), 1);
    assert_string_equal(alt[0], "/run/containerd/runc/k8s.io/c1/status");
    free(alt[0]);
    assert_int_equal(nvb_oci_state_alternatives("/run/x/c1/config.json", alt), 0);
    /* No container folder under the default root, or more than one level: the same folder only. */
    assert_int_equal(nvb_oci_state_alternatives("/run/runc/state.json", alt), 1);
    assert_string_equal(alt[0], "/run/runc/status");
    free(alt[0]);
    assert_int_equal(nvb_oci_state_alternatives("/run/crun/a/b/status", alt), 1);
    free(alt[0]);
    assert_int_equal(nvb_oci_state_alternatives("/state.json", alt), 0);

    unsigned long long me = nvb_proc_start_time(getpid());
    char *folder = t_printf("%s/c2", f->dir);
    char *recorded = t_printf("%s/state.json", folder), *kept = t_printf("%s/status", folder);
    assert_int_equal(mkdir(folder, 0700), 0);
    pid_t pid = 0;
    unsigned long long start = 0;
    assert_int_equal(nvb_oci_state_init(recorded, geteuid(), &pid, &start), NVB_OCI_INIT_GONE);
    char *text = t_printf("{\"pid\":%ld,\"process-start-time\":%llu}", (long)getpid(), me);
    t_write(kept, text);
    free(text);
    assert_int_equal(nvb_oci_state_init(recorded, geteuid(), &pid, &start), NVB_OCI_INIT_FOUND);
    assert_int_equal(pid, getpid());
    assert_int_equal(start, me);
    /* The recorded file, once there, is what counts. */
    t_write(recorded, "{\"init_process_pid\":0,\"init_process_start\":0}");
    assert_int_equal(nvb_oci_state_init(recorded, geteuid(), &pid, &start), NVB_OCI_INIT_GONE);
    unlink(recorded);
    unlink(kept);
    assert_int_equal(nvb_oci_state_init(recorded, geteuid(), &pid, &start), NVB_OCI_INIT_GONE);
    rmdir(folder);
    free(folder);
    free(recorded);
    free(kept);
}

/* --- record format ------------------------------------------------------------------------ */

static void test_record_roundtrip(void **state)
{
    (void)state;
    char ctr[] = "abc", rt[] = "runc", oci[] = "/run/runc/abc/state.json", since[] = "2024-05-01T12:00:00Z";
    char uuid[] = "MIG-x", parent[] = "GPU-y";
    nvb_claim_holder h = {.container = ctr, .runtime = rt, .holder_pid = 10, .holder_start = 20,
                          .init_pid = 30, .init_start = 40, .oci_state = oci, .uid = 0, .since = since,
                          .boot_id = "0123abcd-4567-89ef-0123-456789abcdef"};
    nvb_claim_record r = {.gpu_index = 1, .mig_index = 2, .uuid = uuid, .parent_uuid = parent,
                          .mode = NVB_CLAIM_EXCLUSIVE, .holders = &h, .n_holders = 1};
    json_t *j = nvb_claim_record_to_json(&r);
    char *text = json_dumps(j, JSON_PRESERVE_ORDER | JSON_COMPACT);
    json_decref(j);
    assert_string_equal(text,
                        "{\"version\":1,\"device\":{\"gpu_index\":1,\"mig_index\":2,\"uuid\":\"MIG-x\",\"parent_uuid\":\"GPU-y\"},"
                        "\"mode\":\"exclusive\",\"holders\":[{\"container\":\"abc\",\"runtime\":\"runc\","
                        "\"holder\":{\"pid\":10,\"start_time\":20},\"init\":{\"pid\":30,\"start_time\":40},"
                        "\"oci_state\":\"/run/runc/abc/state.json\",\"uid\":0,\"since\":\"2024-05-01T12:00:00Z\","
                        "\"boot_id\":\"0123abcd-4567-89ef-0123-456789abcdef\"}]}");
    nvb_claim_record back;
    nvb_err err = {0};
    assert_int_equal(nvb_claim_record_parse(text, strlen(text), "t.json", &back, &err), 0);
    assert_int_equal(back.gpu_index, 1);
    assert_int_equal(back.mig_index, 2);
    assert_string_equal(back.parent_uuid, "GPU-y");
    assert_int_equal(back.mode, NVB_CLAIM_EXCLUSIVE);
    assert_int_equal(back.n_holders, 1);
    assert_string_equal(back.holders[0].container, "abc");
    assert_int_equal(back.holders[0].init_pid, 30);
    assert_int_equal(back.holders[0].init_start, 40);
    assert_string_equal(back.holders[0].oci_state, "/run/runc/abc/state.json");
    assert_string_equal(back.holders[0].boot_id, "0123abcd-4567-89ef-0123-456789abcdef");
    nvb_claim_record_clear(&back);
    free(text);
}

/* A holder whose processes look alive is gone when it was recorded in another boot: after a
 * reboot the same pid can start at the same tick. Without a boot id, the processes decide. */
static void test_holder_of_another_boot_is_gone(void **state)
{
    (void)state;
    char boot[NVB_BOOT_ID_LEN + 1];
    assert_true(nvb_boot_id(boot));
    assert_true(nvb_boot_id_valid(boot));
    nvb_claim_holder h = {.holder_pid = getpid(), .holder_start = nvb_proc_start_time(getpid())};
    assert_true(nvb_claim_holder_alive(&h));
    memcpy(h.boot_id, boot, sizeof boot);
    assert_true(nvb_claim_holder_alive(&h));
    /* Another boot: change one digit. */
    h.boot_id[0] = boot[0] == '0' ? '1' : '0';
    assert_false(nvb_claim_holder_alive(&h));
    /* Made by nvbind itself, a holder carries this boot's id. */
    char dir[] = "/tmp/nvbind-test-boot-XXXXXX";
    assert_non_null(mkdtemp(dir));
    nvb_claim_target t = gpu_target(0, "GPU-boot", NVB_CLAIM_EXCLUSIVE);
    nvb_claim_owner o = {.container = "c-boot"};
    nvb_err err = {0};
    assert_int_equal(nvb_claims_acquire(dir, &o, &t, 1, NVB_CLAIM_NO_WAIT, NULL, &err), 0);
    char path[256];
    snprintf(path, sizeof path, "%s/claims/GPU-boot.json", dir);
    size_t len;
    char *text = nvb_read_file(path, 1 << 20, &len);
    assert_non_null(text);
    nvb_claim_record r;
    assert_int_equal(nvb_claim_record_parse(text, len, path, &r, &err), 0);
    assert_string_equal(r.holders[0].boot_id, boot);
    nvb_claim_record_clear(&r);
    free(text);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_record_errors(void **state)
{
    (void)state;
    static const struct {
        const char *text, *msg;
    } cases[] = {
        {"", "claim record f.json: line 1"},
        {"[]", "must be a JSON object"},
        {"{\"version\":2}", "version: 2 is out of range"},
        {"{\"version\":1,\"device\":3}", "device: must be an object"},
        {"{\"version\":1,\"device\":{\"gpu_index\":-1}}", "device.gpu_index: -1 is out of range"},
        {"{\"version\":1,\"device\":{\"gpu_index\":0,\"uuid\":\"\"}}", "device.uuid: must be a non-empty string"},
        {"{\"version\":1,\"device\":{\"gpu_index\":0,\"uuid\":\"G\"},\"mode\":\"mine\"}", "mode: must be"},
        {"{\"version\":1,\"device\":{\"gpu_index\":0,\"uuid\":\"G\"},\"mode\":\"exclusive\",\"holders\":[]}",
         "an exclusive claim has exactly one holder, not 0"},
        {"{\"version\":1,\"device\":{\"gpu_index\":0,\"uuid\":\"G\"},\"mode\":\"shared\",\"holders\":[{\"container\":\"c\","
         "\"holder\":{\"pid\":0,\"start_time\":1},\"uid\":0,\"since\":\"x\"}]}",
         "holders[0].holder.pid: 0 is out of range"},
        {"{\"version\":1,\"device\":{\"gpu_index\":0,\"uuid\":\"G\"},\"mode\":\"shared\",\"holders\":[{\"container\":\"c\","
         "\"holder\":{\"pid\":1,\"start_time\":1},\"oci_state\":\"rel/state.json\",\"uid\":0,\"since\":\"x\"}]}",
         "holders[0].oci_state: must be an absolute path"},
        {"{\"version\":1,\"device\":{\"gpu_index\":0,\"uuid\":\"G\"},\"mode\":\"shared\",\"holders\":[{\"container\":\"c\","
         "\"holder\":{\"pid\":1,\"start_time\":1},\"uid\":0,\"since\":\"x\",\"boot_id\":\"0123ABCD-4567-89ef-0123-456789abcdef\"}]}",
         "holders[0].boot_id: must be a boot id"},
        {"{\"version\":1,\"device\":{\"gpu_index\":0,\"uuid\":\"G\"},\"mode\":\"shared\",\"holders\":[{\"container\":\"c\","
         "\"holder\":{\"pid\":1,\"start_time\":1},\"uid\":0,\"since\":\"x\",\"boot_id\":\"0123abcd\"}]}",
         "holders[0].boot_id: must be a boot id"},
        {"{\"version\":1,\"version\":1}", "duplicate"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nvb_claim_record r;
        nvb_err err = {0};
        assert_int_equal(nvb_claim_record_parse(cases[i].text, strlen(cases[i].text), "f.json", &r, &err), -1);
        assert_int_equal(err.exit_code, NVB_EXIT_INPUT);
        assert_contains(err.msg, cases[i].msg);
        assert_contains(err.msg, "claim record f.json");
    }
}

static void test_keys(void **state)
{
    (void)state;
    char *k = nvb_claim_key("GPU-1a2b");
    assert_string_equal(k, "GPU-1a2b");
    free(k);
    k = nvb_claim_key("MIG-GPU-x/1/0");
    assert_string_equal(k, "MIG-GPU-x%2F1%2F0");
    free(k);
    k = nvb_claim_key("../etc");
    assert_string_equal(k, "%2E.%2Fetc");
    free(k);
    assert_null(nvb_claim_key(""));
}

/* --- exclusive and shared rules -------------------------------------------------------------- */

/* A tenant's container id that is not UTF-8 text: the record was written with no holder
 * (jansson cannot encode it) and every later claim on that GPU was refused as damaged. */
static void test_text_a_record_cannot_hold_is_refused_first(void **state)
{
    fixture *f = *state;
    nvb_err err = {0};
    nvb_claim_target t = gpu_target(0, "GPU-aaaa", NVB_CLAIM_EXCLUSIVE);
    const char *bad[] = {"tenant-b\xff", "tenant\nb", "tenant\x7f", "\xc0\xaf"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        nvb_claim_owner o = {.container = bad[i], .runtime = "bolt"};
        memset(&err, 0, sizeof err);
        assert_int_equal(nvb_claims_acquire(f->dir, &o, &t, 1, NVB_CLAIM_NO_WAIT, NULL, &err), -1);
        assert_int_equal(err.exit_code, NVB_EXIT_USAGE);
        assert_string_equal(err.msg, "container id: " NVB_CLAIM_TEXT_RULE);
    }
    nvb_claim_owner o = {.container = "tenant-c", .runtime = "run\tc"};
    assert_int_equal(nvb_claims_acquire(f->dir, &o, &t, 1, NVB_CLAIM_NO_WAIT, NULL, &err), -1);
    assert_string_equal(err.msg, "runtime name: " NVB_CLAIM_TEXT_RULE);
    /* The GPU is free for the next tenant; text beyond ASCII is fine. */
    nvb_claim_owner good = {.container = "t\xc3\xa9nant-d", .runtime = "bolt"};
    assert_int_equal(nvb_claims_acquire(f->dir, &good, &t, 1, NVB_CLAIM_NO_WAIT, NULL, &err), 0);
    assert_int_equal(nvb_claims_release(f->dir, "t\xc3\xa9nant-d", &err), 1);
    nvb_claim_owner next = {.container = "tenant-e", .runtime = "bolt"};
    assert_int_equal(nvb_claims_acquire(f->dir, &next, &t, 1, NVB_CLAIM_NO_WAIT, NULL, &err), 0);
    assert_true(nvb_claim_text_ok("GPU-d0c36ffa-e731"));
    assert_false(nvb_claim_text_ok("\xed\xa0\x80")); /* a surrogate */
}


static void test_exclusive_message_and_release(void **state)
{
    fixture *f = *state;
    nvb_err err = {0};
    nvb_claim_target t = gpu_target(0, "GPU-aaaa", NVB_CLAIM_EXCLUSIVE);
    nvb_claim_owner a = {.container = "ctr-a", .runtime = "runc"};
    int64_t before = nvb_time_now_ms();
    assert_int_equal(nvb_claims_acquire(f->dir, &a, &t, 1, NVB_CLAIM_NO_WAIT, NULL, &err), 0);

    /* The folder is private; the record is a file per GPU. */
    struct stat st;
    assert_int_equal(stat(f->dir, &st), 0);
    char *rec = t_printf("%s/claims/GPU-aaaa.json", f->dir);
    assert_int_equal(stat(rec, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);

    nvb_claim_list l;
    assert_int_equal(nvb_claims_list(f->dir, &l, &err), 0);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.v[0].mode, NVB_CLAIM_EXCLUSIVE);
    assert_string_equal(l.v[0].holders[0].container, "ctr-a");
    assert_int_equal(l.v[0].holders[0].holder_pid, getpid());
    int64_t since;
    assert_int_equal(nvb_time_parse_rfc3339(l.v[0].holders[0].since, &since), 0);
    assert_true(since >= before / 1000 * 1000 && since <= nvb_time_now_ms());
    char *want = t_printf("GPU 0 (GPU-aaaa) is held exclusively by container ctr-a since %s", l.v[0].holders[0].since);
    nvb_claim_list_free(&l);

    /* Exclusive or shared, a second container is refused at once with exactly this message. */
    nvb_claim_owner b = {.container = "ctr-b"};
    for (int mode = 0; mode < 2; mode++) {
        nvb_claim_target t2 = gpu_target(0, "GPU-aaaa", mode ? NVB_CLAIM_EXCLUSIVE : NVB_CLAIM_SHARED);
        int64_t t0 = nvb_mono_ms();
        assert_int_equal(nvb_claims_acquire(f->dir, &b, &t2, 1, NVB_CLAIM_NO_WAIT, NULL, &err), -1);
        assert_true(nvb_mono_ms() - t0 < 1000);
        assert_int_equal(err.exit_code, NVB_EXIT_BUSY);
        assert_string_equal(err.msg, want);
    }
    /* The holder asking again keeps it (a retried create). */
    assert_int_equal(nvb_claims_acquire(f->dir, &a, &t, 1, NVB_CLAIM_NO_WAIT, NULL, &err), 0);
    assert_int_equal(holders_of(f->dir, "GPU-aaaa"), 1);

    assert_int_equal(nvb_claims_release(f->dir, "ctr-a", &err), 1);
    assert_int_equal(stat(rec, &st), -1); /* no holders, no record */
    assert_int_equal(nvb_claims_acquire(f->dir, &b, &t, 1, NVB_CLAIM_NO_WAIT, NULL, &err), 0);
    assert_int_equal(nvb_claims_release(f->dir, "ctr-b", &err), 1);
    assert_int_equal(nvb_claims_release(f->dir, "ctr-b", &err), 0);
    free(want);
    free(rec);
}

static void test_shared_then_exclusive(void **state)
{
    fixture *f = *state;
    nvb_err err = {0};
    nvb_claim_target sh = gpu_target(3, "GPU-s", NVB_CLAIM_SHARED), ex = gpu_target(3, "GPU-s", NVB_CLAIM_EXCLUSIVE);
    nvb_claim_owner a = {.container = "a"}, b = {.container = "b"}, c = {.container = "c"};
    assert_int_equal(nvb_claims_acquire(f->dir, &a, &sh, 1, NVB_CLAIM_NO_WAIT, NULL, &err), 0);
    assert_int_equal(nvb_claims_acquire(f->dir, &b, &sh, 1, NVB_CLAIM_NO_WAIT, NULL, &err), 0);
    assert_int_equal(holders_of(f->dir, "GPU-s"), 2);
    assert_int_equal(nvb_claims_acquire(f->dir, &c, &ex, 1, NVB_CLAIM_NO_WAIT, NULL, &err), -1);
    assert_int_equal(err.exit_code, NVB_EXIT_BUSY);
    assert_contains(err.msg, "GPU 3 (GPU-s) is in shared use by container a since ");
    assert_contains(err.msg, "(and 1 more); exclusive use needs it free");
    /* A sole shared holder may become exclusive. */
    assert_int_equal(nvb_claims_release(f->dir, "b", &err), 1);
    assert_int_equal(nvb_claims_acquire(f->dir, &a, &ex, 1, NVB_CLAIM_NO_WAIT, NULL, &err), 0);
    assert_int_equal(nvb_claims_acquire(f->dir, &b, &sh, 1, NVB_CLAIM_NO_WAIT, NULL, &err), -1);
    assert_contains(err.msg, "is held exclusively by container a since");
}

static void test_all_or_nothing(void **state)
{
    fixture *f = *state;
    nvb_err err = {0};
    nvb_claim_target one = gpu_target(1, "GPU-1", NVB_CLAIM_EXCLUSIVE);
    nvb_claim_owner a = {.container = "a"}, b = {.container = "b"};
    assert_int_equal(nvb_claims_acquire(f->dir, &a, &one, 1, NVB_CLAIM_NO_WAIT, NULL, &err), 0);
    nvb_claim_target three[] = {gpu_target(0, "GPU-0", NVB_CLAIM_EXCLUSIVE), gpu_target(2, "GPU-2", NVB_CLAIM_EXCLUSIVE),
                                gpu_target(1, "GPU-1", NVB_CLAIM_EXCLUSIVE)};
    size_t conflict = 99;
    assert_int_equal(nvb_claims_acquire(f->dir, &b, three, 3, NVB_CLAIM_NO_WAIT, &conflict, &err), -1);
    assert_int_equal(conflict, 2);
    assert_contains(err.msg, "GPU 1 (GPU-1) is held exclusively by container a");
    /* Nothing of the failed request stays behind. */
    assert_int_equal(holders_of(f->dir, "GPU-0"), 0);
    assert_int_equal(holders_of(f->dir, "GPU-2"), 0);
    assert_int_equal(nvb_claims_release(f->dir, "a", &err), 1);
    assert_int_equal(nvb_claims_acquire(f->dir, &b, three, 3, NVB_CLAIM_NO_WAIT, NULL, &err), 0);
    nvb_claim_list l;
    assert_int_equal(nvb_claims_list(f->dir, &l, &err), 0);
    assert_int_equal(l.n, 3);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(l.v[i].gpu_index, i); /* listed in device order */
    nvb_claim_list_free(&l);
    assert_int_equal(nvb_claims_release(f->dir, "b", &err), 3);
}

static void test_mig_message(void **state)
{
    fixture *f = *state;
    nvb_err err = {0};
    nvb_claim_target t = {.device = {.gpu_index = 0, .mig_index = 1, .uuid = "MIG-m1", .parent_uuid = "GPU-p"},
                          .mode = NVB_CLAIM_EXCLUSIVE};
    nvb_claim_owner a = {.container = "a"}, b = {.container = "b"};
    assert_int_equal(nvb_claims_acquire(f->dir, &a, &t, 1, NVB_CLAIM_NO_WAIT, NULL, &err), 0);
    assert_int_equal(nvb_claims_acquire(f->dir, &b, &t, 1, NVB_CLAIM_NO_WAIT, NULL, &err), -1);
    assert_contains(err.msg, "MIG device 0:1 (MIG-m1) is held exclusively by container a since ");
}

static void test_bad_requests(void **state)
{
    fixture *f = *state;
    nvb_err err = {0};
    nvb_claim_target t = gpu_target(0, "GPU-x", NVB_CLAIM_EXCLUSIVE);
    nvb_claim_owner none = {.container = ""};
    assert_int_equal(nvb_claims_acquire(f->dir, &none, &t, 1, 0, NULL, &err), -1);
    assert_int_equal(err.exit_code, NVB_EXIT_USAGE);
    assert_contains(err.msg, "needs a container id");
    nvb_claim_owner rel = {.container = "c", .oci_state = "state.json"};
    assert_int_equal(nvb_claims_acquire(f->dir, &rel, &t, 1, 0, NULL, &err), -1);
    assert_contains(err.msg, "must be an absolute path");
    nvb_claim_owner a = {.container = "c"};
    assert_int_equal(nvb_claims_acquire("relative/dir", &a, &t, 1, 0, NULL, &err), -1);
    assert_contains(err.msg, "claims state folder relative/dir: must be an absolute path");
    /* A broken record is refused, naming the file, not silently replaced. */
    char *claims = t_printf("%s/claims", f->dir), *p = t_printf("%s/claims/GPU-x.json", f->dir);
    mkdir(f->dir, 0700);
    mkdir(claims, 0700);
    t_write(p, "{\"version\":1");
    assert_int_equal(nvb_claims_acquire(f->dir, &a, &t, 1, 0, NULL, &err), -1);
    assert_int_equal(err.exit_code, NVB_EXIT_INPUT);
    assert_contains(err.msg, p);
    assert_contains(err.msg, "remove the file if no container holds the device");
    free(claims);
    free(p);
}

static void test_missing_state_dir_lists_nothing(void **state)
{
    fixture *f = *state;
    char *d = t_printf("%s/not/there", f->dir);
    nvb_claim_list l;
    nvb_err err = {0};
    assert_int_equal(nvb_claims_list(d, &l, &err), 0);
    assert_int_equal(l.n, 0);
    nvb_claim_list_free(&l);
    assert_int_equal(nvb_claims_release(d, "x", &err), 0);
    struct stat st;
    assert_int_equal(stat(d, &st), -1); /* reading creates nothing */
    /* The first claim creates it, 0700. */
    nvb_claim_target t = gpu_target(0, "GPU-x", NVB_CLAIM_EXCLUSIVE);
    nvb_claim_owner a = {.container = "a"};
    assert_int_equal(nvb_claims_acquire(d, &a, &t, 1, 0, NULL, &err), 0);
    assert_int_equal(stat(d, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);
    free(d);
}

/* --- stale claims --------------------------------------------------------------------------- */

/* A child that claims GPU-z for container `ctr` and then: exits (how 0), or waits to be killed
 * (how 1). Returns its pid once the claim exists. extra_init: the container's init pid. */
static pid_t child_claims_mode(const char *dir, const char *ctr, int how, pid_t init_pid, const char *oci_state,
                               enum nvb_claim_mode mode)
{
    int pfd[2];
    if (pipe(pfd) < 0)
        abort();
    pid_t p = fork();
    if (p == 0) {
        close(pfd[0]);
        nvb_claim_target t = gpu_target(0, "GPU-z", mode);
        nvb_claim_owner o = {.container = ctr, .runtime = "test", .init_pid = init_pid, .oci_state = oci_state};
        nvb_err err = {0};
        char ok = nvb_claims_acquire(dir, &o, &t, 1, NVB_CLAIM_NO_WAIT, NULL, &err) == 0 ? 'y' : 'n';
        if (write(pfd[1], &ok, 1) != 1)
            _exit(3);
        if (how == 0)
            _exit(0);
        for (;;)
            pause();
    }
    close(pfd[1]);
    char ok = 0;
    if (read(pfd[0], &ok, 1) != 1 || ok != 'y')
        fail_msg("child could not claim");
    close(pfd[0]);
    return p;
}

static pid_t child_claims(const char *dir, const char *ctr, int how, pid_t init_pid, const char *oci_state)
{
    return child_claims_mode(dir, ctr, how, init_pid, oci_state, NVB_CLAIM_EXCLUSIVE);
}

static pid_t sleeper(void)
{
    pid_t p = fork();
    if (p == 0) {
        for (;;)
            pause();
    }
    nvb_sleep_ms(20);
    return p;
}

/* Attack: a second container under a running container's name (another process) replaced
 * its claim, and the second one's release then gave the first container's GPU back. */
static void test_same_name_from_another_process(void **state)
{
    fixture *f = *state;
    nvb_err err = {0};
    pid_t first = child_claims(f->dir, "web", 1, 0, NULL); /* holds GPU-z exclusively, alive */
    for (int mode = 0; mode < 2; mode++) {
        nvb_claim_target t = gpu_target(0, "GPU-z", mode ? NVB_CLAIM_EXCLUSIVE : NVB_CLAIM_SHARED);
        nvb_claim_owner me = {.container = "web"};
        err = (nvb_err){0};
        assert_int_equal(nvb_claims_acquire(f->dir, &me, &t, 1, NVB_CLAIM_NO_WAIT, NULL, &err), -1);
        assert_int_equal(err.exit_code, NVB_EXIT_BUSY);
        assert_non_null(strstr(err.msg, "GPU 0 (GPU-z) is held exclusively by container web since "));
    }
    /* This process's release of the name leaves the other process's entry alone. */
    assert_int_equal(nvb_claims_release_holder(f->dir, "web", getpid(), nvb_proc_start_time(getpid()), &err), 0);
    assert_int_equal(holders_of(f->dir, "GPU-z"), 1);
    /* A shared holder of the name: a shared request under it is refused too, with its own
     * message (two shared users of one GPU are fine, two containers of one name are not). */
    kill(first, SIGKILL);
    waitpid(first, NULL, 0);
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    pid_t second = fork();
    if (second == 0) {
        close(pfd[0]);
        nvb_claim_target t = gpu_target(0, "GPU-z", NVB_CLAIM_SHARED);
        nvb_claim_owner o = {.container = "web"};
        char ok = nvb_claims_acquire(f->dir, &o, &t, 1, NVB_CLAIM_NO_WAIT, NULL, NULL) == 0 ? 'y' : 'n';
        if (write(pfd[1], &ok, 1) != 1)
            _exit(3);
        for (;;)
            pause();
    }
    close(pfd[1]);
    char ok = 0;
    assert_int_equal(read(pfd[0], &ok, 1), 1);
    assert_int_equal(ok, 'y');
    close(pfd[0]);
    nvb_claim_target sh = gpu_target(0, "GPU-z", NVB_CLAIM_SHARED);
    nvb_claim_owner me = {.container = "web"}, other = {.container = "api"};
    assert_int_equal(nvb_claims_acquire(f->dir, &me, &sh, 1, NVB_CLAIM_NO_WAIT, NULL, &err), -1);
    assert_int_equal(err.exit_code, NVB_EXIT_BUSY);
    assert_non_null(strstr(err.msg, "is in shared use by another container named web since "));
    assert_non_null(strstr(err.msg, "; a name is one container at a time"));
    assert_int_equal(nvb_claims_acquire(f->dir, &other, &sh, 1, NVB_CLAIM_NO_WAIT, NULL, &err), 0);
    assert_int_equal(holders_of(f->dir, "GPU-z"), 2);
    /* Releasing by name alone (a runtime's delete) still takes every holder of the name. */
    assert_int_equal(nvb_claims_release(f->dir, "web", &err), 1);
    assert_int_equal(nvb_claims_release(f->dir, "api", &err), 1);
    kill(second, SIGKILL);
    waitpid(second, NULL, 0);
}

static void test_stale_after_exit_and_kill9(void **state)
{
    fixture *f = *state;
    nvb_err err = {0};
    nvb_claim_target t = gpu_target(0, "GPU-z", NVB_CLAIM_EXCLUSIVE);
    nvb_claim_owner me = {.container = "me"};

    /* Holder exits without releasing: its claim is stale (even before it is reaped). */
    pid_t p = child_claims(f->dir, "gone-1", 0, 0, NULL);
    nvb_sleep_ms(30);
    assert_int_equal(nvb_claims_acquire(f->dir, &me, &t, 1, NVB_CLAIM_NO_WAIT, NULL, &err), 0);
    waitpid(p, NULL, 0);
    assert_int_equal(nvb_claims_release(f->dir, "me", &err), 1);

    /* kill -9: the same, and listing reports the reclaim. */
    p = child_claims(f->dir, "gone-2", 1, 0, NULL);
    assert_int_equal(nvb_claims_acquire(f->dir, &me, &t, 1, NVB_CLAIM_NO_WAIT, NULL, &err), -1);
    assert_contains(err.msg, "held exclusively by container gone-2");
    kill(p, SIGKILL);
    waitpid(p, NULL, 0);
    nvb_claim_list l;
    assert_int_equal(nvb_claims_list(f->dir, &l, &err), 0);
    assert_int_equal(l.n, 0);
    assert_int_equal(l.reclaimed.n, 1);
    assert_contains(l.reclaimed.v[0], "GPU 0 (GPU-z) of container gone-2");
    nvb_claim_list_free(&l);
    char *rec = t_printf("%s/claims/GPU-z.json", f->dir);
    struct stat st;
    assert_int_equal(stat(rec, &st), -1); /* the stale record is removed, not left behind */
    free(rec);
}

static void test_container_outlives_holder(void **state)
{
    fixture *f = *state;
    nvb_err err = {0};
    nvb_claim_target t = gpu_target(0, "GPU-z", NVB_CLAIM_EXCLUSIVE);
    nvb_claim_owner me = {.container = "me"};

    /* Init pid known: the claim lives while the container's init runs. */
    pid_t init = sleeper();
    pid_t holder = child_claims(f->dir, "ctr-init", 1, init, NULL);
    kill(holder, SIGKILL);
    waitpid(holder, NULL, 0);
    assert_int_equal(nvb_claims_acquire(f->dir, &me, &t, 1, NVB_CLAIM_NO_WAIT, NULL, &err), -1);
    assert_contains(err.msg, "held exclusively by container ctr-init");
    kill(init, SIGKILL);
    waitpid(init, NULL, 0);
    assert_int_equal(nvb_claims_acquire(f->dir, &me, &t, 1, NVB_CLAIM_NO_WAIT, NULL, &err), 0);
    assert_int_equal(nvb_claims_release(f->dir, "me", &err), 1);

    /* Only the OCI runtime's state file knows the init (the shim's case). */
    init = sleeper();
    char *dir = t_printf("%s/runc-root/ctr-oci", f->dir), *root = t_printf("%s/runc-root", f->dir);
    mkdir(root, 0700);
    mkdir(dir, 0700);
    char *state_file = nvb_oci_state_file("runc", root, "ctr-oci");
    holder = child_claims(f->dir, "ctr-oci", 1, 0, state_file);
    /* runc create writes the state, then exits. */
    char *text = t_printf("{\"id\":\"ctr-oci\",\"init_process_pid\":%ld,\"init_process_start\":%llu}", (long)init,
                          nvb_proc_start_time(init));
    t_write(state_file, text);
    kill(holder, SIGKILL);
    waitpid(holder, NULL, 0);
    assert_int_equal(nvb_claims_acquire(f->dir, &me, &t, 1, NVB_CLAIM_NO_WAIT, NULL, &err), -1);
    assert_contains(err.msg, "held exclusively by container ctr-oci");
    /* The container ends (its state file may stay until `runc delete`): the claim is stale. */
    kill(init, SIGKILL);
    waitpid(init, NULL, 0);
    assert_int_equal(nvb_claims_acquire(f->dir, &me, &t, 1, NVB_CLAIM_NO_WAIT, NULL, &err), 0);
    assert_int_equal(nvb_claims_release(f->dir, "me", &err), 1);

    /* A deleted container (no state file) and a dead holder: stale at once. */
    holder = child_claims(f->dir, "ctr-deleted", 1, 0, state_file);
    unlink(state_file);
    kill(holder, SIGKILL);
    waitpid(holder, NULL, 0);
    assert_int_equal(nvb_claims_acquire(f->dir, &me, &t, 1, NVB_CLAIM_NO_WAIT, NULL, &err), 0);
    free(text);
    free(state_file);
    free(dir);
    free(root);
}

/* A holder alive only by its runtime's state file gets that init noted when the record is
 * next written (another container's shared claim), so later checks need not parse the state
 * file (runc's holds the whole configuration): the claim then follows the init itself. */
static void test_init_from_state_file_noted(void **state)
{
    fixture *f = *state;
    nvb_err err = {0};
    pid_t init = sleeper();
    char *root = t_printf("%s/runc-root", f->dir), *dir = t_printf("%s/runc-root/ctr-noted", f->dir);
    mkdir(root, 0700);
    mkdir(dir, 0700);
    char *state_file = nvb_oci_state_file("runc", root, "ctr-noted");
    pid_t holder = child_claims_mode(f->dir, "ctr-noted", 1, 0, state_file, NVB_CLAIM_SHARED);
    char *text = t_printf("{\"id\":\"ctr-noted\",\"init_process_pid\":%ld,\"init_process_start\":%llu}",
                          (long)init, nvb_proc_start_time(init));
    t_write(state_file, text);
    kill(holder, SIGKILL);
    waitpid(holder, NULL, 0);
    nvb_claim_target sh = gpu_target(0, "GPU-z", NVB_CLAIM_SHARED);
    nvb_claim_owner other = {.container = "other"};
    assert_int_equal(nvb_claims_acquire(f->dir, &other, &sh, 1, NVB_CLAIM_NO_WAIT, NULL, &err), 0);
    assert_int_equal(nvb_claims_release(f->dir, "other", &err), 1);
    nvb_claim_list l;
    assert_int_equal(nvb_claims_list(f->dir, &l, &err), 0);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.v[0].n_holders, 1);
    assert_string_equal(l.v[0].holders[0].container, "ctr-noted");
    assert_int_equal(l.v[0].holders[0].init_pid, init);
    assert_true(l.v[0].holders[0].init_start == nvb_proc_start_time(init));
    nvb_claim_list_free(&l);
    /* Without the state file the noted init still holds the claim, and its end frees it. */
    unlink(state_file);
    assert_int_equal(holders_of(f->dir, "GPU-z"), 1);
    kill(init, SIGKILL);
    waitpid(init, NULL, 0);
    assert_int_equal(holders_of(f->dir, "GPU-z"), 0);
    free(text);
    free(state_file);
    free(dir);
    free(root);
}

static void test_set_init(void **state)
{
    fixture *f = *state;
    nvb_err err = {0};
    pid_t init = sleeper();
    pid_t holder = child_claims(f->dir, "ctr-late", 1, 0, NULL);
    assert_int_equal(nvb_claims_set_init(f->dir, "ctr-late", init, &err), 1);
    kill(holder, SIGKILL);
    waitpid(holder, NULL, 0);
    assert_int_equal(holders_of(f->dir, "GPU-z"), 1);
    kill(init, SIGKILL);
    waitpid(init, NULL, 0);
    assert_int_equal(holders_of(f->dir, "GPU-z"), 0);
    assert_int_equal(nvb_claims_set_init(f->dir, "ctr-late", init, &err), -1);
    assert_contains(err.msg, "is not running");
}

/* --- waiting ----------------------------------------------------------------------------------- */

static void test_wait_for_release(void **state)
{
    fixture *f = *state;
    nvb_err err = {0};
    nvb_claim_target t = gpu_target(0, "GPU-w", NVB_CLAIM_EXCLUSIVE);
    nvb_claim_owner a = {.container = "a"}, b = {.container = "b"};
    assert_int_equal(nvb_claims_acquire(f->dir, &a, &t, 1, 0, NULL, &err), 0);
    pid_t p = fork();
    if (p == 0) {
        nvb_sleep_ms(300);
        nvb_claims_release(f->dir, "a", NULL);
        _exit(0);
    }
    int64_t t0 = nvb_mono_ms();
    assert_int_equal(nvb_claims_acquire(f->dir, &b, &t, 1, 5, NULL, &err), 0);
    int64_t took = nvb_mono_ms() - t0;
    waitpid(p, NULL, 0);
    assert_true(took >= 250);
    assert_true(took < 2000); /* woken by the release, not by the 5 s limit */
    assert_int_equal(nvb_claims_release(f->dir, "b", &err), 1);
}

static void test_wait_for_killed_holder(void **state)
{
    fixture *f = *state;
    nvb_err err = {0};
    nvb_claim_target t = gpu_target(0, "GPU-z", NVB_CLAIM_EXCLUSIVE);
    nvb_claim_owner me = {.container = "me"};
    pid_t holder = child_claims(f->dir, "doomed", 1, 0, NULL);
    pid_t killer = fork();
    if (killer == 0) {
        nvb_sleep_ms(300);
        kill(holder, SIGKILL);
        _exit(0);
    }
    int64_t t0 = nvb_mono_ms();
    assert_int_equal(nvb_claims_acquire(f->dir, &me, &t, 1, 10, NULL, &err), 0);
    int64_t took = nvb_mono_ms() - t0;
    waitpid(killer, NULL, 0);
    waitpid(holder, NULL, 0);
    assert_true(took >= 250);
    assert_true(took < 2000);
}

/* Waiting must not depend on the caller wanting the error text. */
static void test_wait_without_error_object(void **state)
{
    fixture *f = *state;
    nvb_claim_target t = gpu_target(0, "GPU-w", NVB_CLAIM_EXCLUSIVE);
    nvb_claim_owner a = {.container = "a"}, b = {.container = "b"};
    assert_int_equal(nvb_claims_acquire(f->dir, &a, &t, 1, 0, NULL, NULL), 0);
    pid_t p = fork();
    if (p == 0) {
        nvb_sleep_ms(200);
        nvb_claims_release(f->dir, "a", NULL);
        _exit(0);
    }
    assert_int_equal(nvb_claims_acquire(f->dir, &b, &t, 1, 5, NULL, NULL), 0);
    waitpid(p, NULL, 0);
    assert_int_equal(nvb_claims_acquire(f->dir, &a, &t, 1, NVB_CLAIM_NO_WAIT, NULL, NULL), -1);
}

static void test_wait_times_out(void **state)
{
    fixture *f = *state;
    nvb_err err = {0};
    nvb_claim_target t = gpu_target(0, "GPU-w", NVB_CLAIM_EXCLUSIVE);
    nvb_claim_owner a = {.container = "a"}, b = {.container = "b"};
    assert_int_equal(nvb_claims_acquire(f->dir, &a, &t, 1, 0, NULL, &err), 0);
    int64_t t0 = nvb_mono_ms();
    assert_int_equal(nvb_claims_acquire(f->dir, &b, &t, 1, 1, NULL, &err), -1);
    int64_t took = nvb_mono_ms() - t0;
    assert_true(took >= 950 && took < 2500);
    assert_int_equal(err.exit_code, NVB_EXIT_BUSY);
    assert_contains(err.msg, "GPU 0 (GPU-w) is held exclusively by container a since ");
    assert_contains(err.msg, "; gave up after 1 s");
}

/* --- 32 processes racing ------------------------------------------------------------------------ */

#define RACERS 32

typedef struct race {
    volatile int go;
    int active, max_active, wins, busy, other_errors, attempts_done, runs;
    char seen_holder[RACERS][64];
} race;

/* What one racer does once the start is given: ctr is its container name, t its target
 * (GPU 0 "GPU-race", exclusive). It ends the child process itself. */
typedef void (*racer_fn)(const char *dir, race *r, int i, const char *ctr, const nvb_claim_target *t);

/* Fork RACERS children named "<prefix>-<i>", let them all start at once, wait for them. */
static void run_racers(const char *dir, race *r, const char *prefix, racer_fn body)
{
    pid_t kids[RACERS];
    for (int i = 0; i < RACERS; i++) {
        kids[i] = fork();
        if (kids[i] == 0) {
            char ctr[32];
            snprintf(ctr, sizeof ctr, "%s-%d", prefix, i);
            nvb_claim_target t = gpu_target(0, "GPU-race", NVB_CLAIM_EXCLUSIVE);
            while (!__atomic_load_n(&r->go, __ATOMIC_ACQUIRE)) {
            }
            body(dir, r, i, ctr, &t);
            _exit(0);
        }
    }
    __atomic_store_n(&r->go, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < RACERS; i++)
        waitpid(kids[i], NULL, 0);
}

/* Try once without waiting; the one winner holds the GPU until every racer has tried. */
static void racer_no_wait(const char *dir, race *r, int i, const char *ctr, const nvb_claim_target *t)
{
    nvb_claim_owner o = {.container = ctr};
    nvb_err err = {0};
    int rc = nvb_claims_acquire(dir, &o, t, 1, NVB_CLAIM_NO_WAIT, NULL, &err);
    if (rc == 0) {
        __atomic_add_fetch(&r->wins, 1, __ATOMIC_SEQ_CST);
        __atomic_add_fetch(&r->attempts_done, 1, __ATOMIC_SEQ_CST);
        /* Hold until every other racer has tried. */
        int64_t t0 = nvb_mono_ms();
        while (__atomic_load_n(&r->attempts_done, __ATOMIC_SEQ_CST) < RACERS && nvb_mono_ms() - t0 < 20000)
            nvb_sleep_ms(5);
        nvb_claims_release(dir, ctr, NULL);
        _exit(0);
    }
    if (err.exit_code == NVB_EXIT_BUSY) {
        __atomic_add_fetch(&r->busy, 1, __ATOMIC_SEQ_CST);
        const char *p = strstr(err.msg, "by container ");
        if (p)
            snprintf(r->seen_holder[i], sizeof r->seen_holder[i], "%.*s", (int)strcspn(p + 13, " "), p + 13);
    } else {
        __atomic_add_fetch(&r->other_errors, 1, __ATOMIC_SEQ_CST);
    }
    __atomic_add_fetch(&r->attempts_done, 1, __ATOMIC_SEQ_CST);
    _exit(0);
}

static void test_race_no_wait(void **state)
{
    fixture *f = *state;
    race *r = t_shared(sizeof *r);
    run_racers(f->dir, r, "racer", racer_no_wait);
    assert_int_equal(r->other_errors, 0);
    assert_int_equal(r->wins, 1);
    assert_int_equal(r->busy, RACERS - 1);
    /* Every loser named the one winner. */
    const char *winner = NULL;
    for (int i = 0; i < RACERS; i++)
        if (r->seen_holder[i][0]) {
            if (!winner)
                winner = r->seen_holder[i];
            assert_string_equal(r->seen_holder[i], winner);
        }
    assert_non_null(winner);
    assert_int_equal(holders_of(f->dir, "GPU-race"), 0);
    munmap(r, sizeof *r);
}

/* Wait for the GPU, count how many hold it at once, hold it a moment; every other racer
 * then dies holding it (a crash the next one must reclaim), the rest release it. */
static void racer_wait(const char *dir, race *r, int i, const char *ctr, const nvb_claim_target *t)
{
    nvb_claim_owner o = {.container = ctr};
    nvb_err err = {0};
    if (nvb_claims_acquire(dir, &o, t, 1, 120, NULL, &err) < 0) {
        __atomic_add_fetch(&r->other_errors, 1, __ATOMIC_SEQ_CST);
        _exit(1);
    }
    int now = __atomic_add_fetch(&r->active, 1, __ATOMIC_SEQ_CST);
    int seen = __atomic_load_n(&r->max_active, __ATOMIC_SEQ_CST);
    while (now > seen &&
           !__atomic_compare_exchange_n(&r->max_active, &seen, now, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
    }
    nvb_sleep_ms(10); /* hold it for a moment */
    __atomic_sub_fetch(&r->active, 1, __ATOMIC_SEQ_CST);
    __atomic_add_fetch(&r->runs, 1, __ATOMIC_SEQ_CST);
    /* Every other exit is a crash: the next one must reclaim it. */
    if (i % 2)
        _exit(0);
    nvb_claims_release(dir, ctr, NULL);
    _exit(0);
}

static void test_race_wait_one_at_a_time(void **state)
{
    fixture *f = *state;
    race *r = t_shared(sizeof *r);
    run_racers(f->dir, r, "waiter", racer_wait);
    assert_int_equal(r->other_errors, 0);
    assert_int_equal(r->runs, RACERS);
    assert_int_equal(r->max_active, 1);
    assert_int_equal(holders_of(f->dir, "GPU-race"), 0);
    munmap(r, sizeof *r);
}

/* Overlapping multi-GPU requests in opposite orders must not deadlock. */
static void test_no_deadlock_opposite_orders(void **state)
{
    fixture *f = *state;
    pid_t kids[8];
    for (int i = 0; i < 8; i++) {
        kids[i] = fork();
        if (kids[i] == 0) {
            char ctr[32];
            snprintf(ctr, sizeof ctr, "dl-%d", i);
            nvb_claim_target fwd[] = {gpu_target(0, "GPU-A", NVB_CLAIM_EXCLUSIVE), gpu_target(1, "GPU-B", NVB_CLAIM_EXCLUSIVE)};
            nvb_claim_target rev[] = {fwd[1], fwd[0]};
            nvb_claim_owner o = {.container = ctr};
            for (int k = 0; k < 20; k++) {
                nvb_err err = {0};
                if (nvb_claims_acquire(f->dir, &o, i % 2 ? rev : fwd, 2, 60, NULL, i % 4 < 2 ? &err : NULL) < 0) {
                    fprintf(stderr, "%s: %s\n", ctr, err.msg);
                    _exit(1);
                }
                nvb_claims_release(f->dir, ctr, NULL);
            }
            _exit(0);
        }
    }
    for (int i = 0; i < 8; i++) {
        int st;
        waitpid(kids[i], &st, 0);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_proc_stat_parse),
        cmocka_unit_test(test_own_start_time_kept_per_process),
        cmocka_unit_test(test_zombie_is_gone),
        cmocka_unit_test_setup_teardown(test_oci_state_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oci_state_of_a_runtime_not_known_by_name, setup, teardown),
        cmocka_unit_test(test_record_roundtrip),
        cmocka_unit_test(test_holder_of_another_boot_is_gone),
        cmocka_unit_test(test_record_errors),
        cmocka_unit_test(test_keys),
        cmocka_unit_test_setup_teardown(test_text_a_record_cannot_hold_is_refused_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exclusive_message_and_release, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shared_then_exclusive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_all_or_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mig_message, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_state_dir_lists_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_same_name_from_another_process, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_after_exit_and_kill9, setup, teardown),
        cmocka_unit_test_setup_teardown(test_container_outlives_holder, setup, teardown),
        cmocka_unit_test_setup_teardown(test_init_from_state_file_noted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_init, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wait_for_release, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wait_for_killed_holder, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wait_without_error_object, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wait_times_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_race_no_wait, setup, teardown),
        cmocka_unit_test_setup_teardown(test_race_wait_one_at_a_time, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_deadlock_opposite_orders, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
