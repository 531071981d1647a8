/* The shim's reading of runtime command lines and of the GPU requests in a config.json. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/oci_patch.h"
#include "runtime/runtime_log.h"
#include "runtime/shim.h"
#include "util/fileio.h"

#define ARGV(...) ((char *const *)(const char *[]){"nvbind-runtime", __VA_ARGS__, NULL})
#define ARGC(...) ((int)(sizeof((const char *[]){"nvbind-runtime", __VA_ARGS__}) / sizeof(char *)))
#define PARSE(out, ...) nvb_shim_parse_argv(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), &(out))

static void test_podman_create(void **unused)
{
    (void)unused;
    nvb_shim_argv a;
    /* What podman 4 passes to runc (seen with a logging runtime). */
    PARSE(a, "create", "--bundle", "/var/lib/containers/x/userdata", "--pid-file", "/run/x/pidfile", "abc123");
    assert_int_equal(a.command, 1);
    assert_string_equal(a.bundle, "/var/lib/containers/x/userdata");
    assert_string_equal(a.id, "abc123"); /* whose claims these are */
    assert_null(a.root);
    /* Global options with values before the command, in every spelling. */
    PARSE(a, "--root", "/run/runc", "--log", "/l", "--log-format=json", "--systemd-cgroup", "-debug", "create", "-b",
          "/b", "id");
    assert_int_equal(a.command, 8);
    assert_string_equal(a.bundle, "/b");
    assert_string_equal(a.root, "/run/runc"); /* where the runtime's state file will be */
    assert_string_equal(a.id, "id");
    assert_string_equal(a.log, "/l"); /* where containerd reads the runtime's error */
    assert_string_equal(a.log_format, "json");
    assert_false(a.version);
    PARSE(a, "--root=/run/r2", "create", "--", "ctr");
    assert_string_equal(a.root, "/run/r2");
    assert_string_equal(a.id, "ctr");
    PARSE(a, "--cgroup-manager", "cgroupfs", "run", "--console-socket", "/s", "--bundle=/bb", "id");
    assert_int_equal(a.command, 3);
    assert_string_equal(a.bundle, "/bb");
    /* A value that looks like the word create does not fool it. */
    PARSE(a, "--log", "create", "start", "id");
    assert_int_equal(a.command, 3);
    assert_null(a.bundle);
}

static void test_default_bundle_and_other_commands(void **unused)
{
    (void)unused;
    nvb_shim_argv a;
    PARSE(a, "create", "id");
    assert_int_equal(a.command, 1);
    assert_null(a.bundle); /* the current folder */
    PARSE(a, "delete", "--force", "id");
    assert_int_equal(a.command, 1);
    assert_string_equal(a.id, "id"); /* delete gives the container's claims back */
    PARSE(a, "start", "id");
    assert_null(a.id);
    assert_false(nvb_shim_command_edits("delete"));
    assert_true(nvb_shim_command_edits("create"));
    assert_true(nvb_shim_command_edits("run"));
    PARSE(a, "--version");
    assert_int_equal(a.command, -1);
    /* Options after the id count, as runc (urfave/cli) and crun (getopt) read them: `runc create
     * id --bundle /x` starts /x, so the shim must edit /x and not the current folder (the
     * attack: the shim edits and claims for one bundle while the runtime starts another). */
    PARSE(a, "create", "id", "--bundle", "/x");
    assert_string_equal(a.bundle, "/x");
    assert_string_equal(a.id, "id");
    PARSE(a, "create", "--pid-file", "/p", "id", "-b", "/y", "--console-socket", "/s");
    assert_string_equal(a.bundle, "/y");
    assert_string_equal(a.id, "id");
    /* After "--" everything is an operand. */
    PARSE(a, "create", "--", "id", "--bundle", "/x");
    assert_null(a.bundle);
    assert_string_equal(a.id, "id");
    PARSE(a, "delete", "id", "--force");
    assert_string_equal(a.id, "id");
    PARSE(a, "create", "--pid-file", "--bundle", "id");
    assert_null(a.bundle);
    assert_string_equal(a.id, "id");
    PARSE(a, "create", "--bundle", "/b");
    assert_null(a.id);
}

static json_t *parse(const char *text)
{
    nvb_err err = {0};
    json_t *c = nvb_oci_config_parse(text, strlen(text), "config.json", &err);
    if (!c)
        fail_msg("%s", err.msg);
    return c;
}

static void test_requests(void **unused)
{
    (void)unused;
    json_t *c = parse("{\"process\":{\"env\":[\"NVIDIA_VISIBLE_DEVICES=all\",\"PATH=/bin\",\"NVIDIA_VISIBLE_DEVICES=0\"]},"
                      "\"annotations\":{\"cdi.k8s.io/gpu\":\"vendor.com/x=y, nvidia.com/gpu=1,nvidia.com/gpu=GPU-ab\","
                      "\"cdi.k8s.io/other\":\"vendor.com/x=z\",\"nvbind.gpus\":\"0:1\",\"nvbind.profile\":\"aiml\","
                      "\"unrelated\":\"x\"}}");
    nvb_oci_requests r;
    nvb_err err = {0};
    assert_int_equal(nvb_oci_find_requests(c, &r, &err), 0);
    assert_int_equal(r.n, 3);
    assert_string_equal(r.v[0].source, "NVIDIA_VISIBLE_DEVICES");
    assert_string_equal(r.v[0].list, "0"); /* the last one wins, as for the process */
    assert_true(r.v[0].from_env);
    assert_string_equal(r.v[1].source, "annotation cdi.k8s.io/gpu");
    assert_string_equal(r.v[1].list, "1,GPU-ab");
    assert_false(r.v[1].from_env);
    assert_string_equal(r.v[2].source, "annotation nvbind.gpus");
    assert_string_equal(r.v[2].list, "0:1");
    assert_string_equal(r.profile, "aiml");
    assert_false(r.has_isolation);
    nvb_oci_requests_clear(&r);
    json_decref(c);
    c = parse("{\"annotations\":{\"nvbind.gpus\":\"0\",\"nvbind.isolation\":\"exclusive\"}}");
    assert_int_equal(nvb_oci_find_requests(c, &r, &err), 0);
    assert_true(r.has_isolation);
    assert_int_equal(r.isolation, NVB_ISOLATION_EXCLUSIVE);
    nvb_oci_requests_clear(&r);
    json_decref(c);
}

static void test_no_requests(void **unused)
{
    (void)unused;
    const char *texts[] = {
        "{}",
        "{\"process\":{\"env\":[\"NVIDIA_VISIBLE_DEVICES=void\"]}}",
        "{\"process\":{\"env\":[\"NVIDIA_VISIBLE_DEVICES=none\"]}}",
        "{\"process\":{\"env\":[\"NVIDIA_VISIBLE_DEVICES=\"]}}",
        "{\"process\":{\"env\":[\"NVIDIA_VISIBLE_DEVICESX=0\"]},\"annotations\":{\"cdi.k8s.io/a\":\"vendor.com/x=0\"}}",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        json_t *c = parse(texts[i]);
        nvb_oci_requests r;
        nvb_err err = {0};
        assert_int_equal(nvb_oci_find_requests(c, &r, &err), 0);
        assert_int_equal(r.n, 0);
        nvb_oci_requests_clear(&r);
        json_decref(c);
    }
}

static void test_bad_request_fields(void **unused)
{
    (void)unused;
    const char *cases[][2] = {
        {"{\"process\":{\"env\":[1]}}", "config.json: process.env[0]: expected a string"},
        {"{\"process\":{\"env\":{}}}", "config.json: process.env: expected an array"},
        {"{\"annotations\":[]}", "config.json: annotations: expected an object"},
        {"{\"annotations\":{\"nvbind.gpus\":1}}", "config.json: annotations.nvbind.gpus: expected a string"},
        {"{\"annotations\":{\"nvbind.isolation\":\"solo\"}}",
         "config.json: annotations.nvbind.isolation: unknown isolation 'solo' (expected shared, exclusive or virtual)"},
        {"{\"annotations\":{\"nvbind.isolation\":true}}", "config.json: annotations.nvbind.isolation: expected a string"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *c = parse(cases[i][0]);
        nvb_oci_requests r;
        nvb_err err = {0};
        assert_int_equal(nvb_oci_find_requests(c, &r, &err), -1);
        assert_string_equal(err.msg, cases[i][1]);
        assert_int_equal(err.exit_code, NVB_EXIT_INPUT);
        json_decref(c);
    }
}

static void test_privileged_and_policy(void **unused)
{
    (void)unused;
    json_t *p = parse("{\"process\":{\"capabilities\":{\"bounding\":[\"CAP_CHOWN\",\"CAP_SYS_ADMIN\"]}}}");
    json_t *u = parse("{\"process\":{\"capabilities\":{\"bounding\":[\"CAP_CHOWN\"],\"effective\":[\"CAP_SYS_ADMIN\"]}}}");
    assert_true(nvb_oci_config_privileged(p));
    assert_false(nvb_oci_config_privileged(u));
    nvb_config cfg;
    nvb_config_init(&cfg);
    cfg.security.allow_env_requests = true;
    cfg.security.allow_unprivileged_env_requests = false;
    assert_true(nvb_shim_env_request_allowed(&cfg, true));
    assert_false(nvb_shim_env_request_allowed(&cfg, false));
    cfg.security.allow_unprivileged_env_requests = true;
    assert_true(nvb_shim_env_request_allowed(&cfg, false));
    cfg.security.allow_env_requests = false;
    assert_false(nvb_shim_env_request_allowed(&cfg, true));
    nvb_config_clear(&cfg);
    json_decref(p);
    json_decref(u);
}

/* Without a request the bundle is not touched at all: same bytes, same inode, same mtime. */
static void test_no_request_leaves_config_alone(void **unused)
{
    (void)unused;
    char dir[] = "/tmp/nvbind-test-shim-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/config.json", dir);
    const char *text = "{ \"process\" : {\"env\": [\"NVIDIA_VISIBLE_DEVICES=void\", \"A=1\"]},\n"
                       "  \"annotations\": {\"cdi.k8s.io/x\": \"vendor.com/y=1\"} }\n";
    nvb_err err = {0};
    assert_int_equal(nvb_write_file_atomic(path, text, strlen(text), 0644, &err), 0);
    struct stat before, after;
    assert_int_equal(stat(path, &before), 0);
    nvb_config cfg;
    nvb_config_init(&cfg);
    nvb_shim_ctx ctx = {.cfg = &cfg, .root = "/nonexistent-root", .hook_path = "/usr/bin/nvbind", .prog = "t"};
    assert_int_equal(nvb_shim_edit_bundle(&ctx, dir, &err), 0);
    assert_int_equal(stat(path, &after), 0);
    assert_int_equal(before.st_ino, after.st_ino);
    assert_int_equal(before.st_mtim.tv_nsec, after.st_mtim.tv_nsec);
    char *now = nvb_read_file(path, 1 << 20, NULL);
    assert_string_equal(now, text);
    free(now);
    /* An env request refused by [security] also leaves it alone (here: unprivileged
     * containers' requests turned off; the default honours them). */
    cfg.security.allow_unprivileged_env_requests = false;
    const char *env_req = "{\"process\":{\"env\":[\"NVIDIA_VISIBLE_DEVICES=0\"]}}";
    assert_int_equal(nvb_write_file_atomic(path, env_req, strlen(env_req), 0644, &err), 0);
    assert_int_equal(nvb_shim_edit_bundle(&ctx, dir, &err), 0);
    now = nvb_read_file(path, 1 << 20, NULL);
    assert_string_equal(now, env_req);
    free(now);
    /* An image's annotations asking for every GPU exclusively are not honoured by default:
     * nothing is looked up or claimed, the file stays as it was. */
    const char *image_req = "{\"annotations\":{\"nvbind.gpus\":\"all\",\"nvbind.isolation\":\"exclusive\"}}";
    assert_int_equal(nvb_write_file_atomic(path, image_req, strlen(image_req), 0644, &err), 0);
    assert_int_equal(nvb_shim_edit_bundle(&ctx, dir, &err), 0);
    now = nvb_read_file(path, 1 << 20, NULL);
    assert_string_equal(now, image_req);
    free(now);
    /* A request that cannot be served (no such host root) is an error, file unchanged. */
    cfg.security.allow_annotation_requests = true;
    const char *ann_req = "{\"annotations\":{\"nvbind.gpus\":\"0\"}}";
    assert_int_equal(nvb_write_file_atomic(path, ann_req, strlen(ann_req), 0644, &err), 0);
    assert_int_equal(nvb_shim_edit_bundle(&ctx, dir, &err), -1);
    now = nvb_read_file(path, 1 << 20, NULL);
    assert_string_equal(now, ann_req);
    free(now);
    unlink(path);
    assert_int_equal(rmdir(dir), 0); /* and nothing else was left in the bundle */
    nvb_config_clear(&cfg);
}

/* A create whose config.json names no request is passed through without being parsed (see
 * may_request in shim.c): even a document that is not JSON reaches the runtime untouched, to
 * be refused there. A request spelled with JSON escapes is still seen: it fails on the
 * missing host root exactly as the plain one does. */
static void test_unparsed_without_request_words(void **unused)
{
    (void)unused;
    char dir[] = "/tmp/nvbind-test-shim-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/config.json", dir);
    nvb_config cfg;
    nvb_config_init(&cfg);
    nvb_shim_ctx ctx = {.cfg = &cfg, .root = "/nonexistent-root", .hook_path = "/usr/bin/nvbind", .prog = "t"};
    nvb_err err = {0};
    const char *not_json = "{\"process\": {\"env\": [\"A=1\"]";
    assert_int_equal(nvb_write_file_atomic(path, not_json, strlen(not_json), 0644, &err), 0);
    assert_int_equal(nvb_shim_edit_bundle(&ctx, dir, &err), 0);
    char *now = nvb_read_file(path, 1 << 20, NULL);
    assert_string_equal(now, not_json);
    free(now);
    const char *plain[] = {"{\"process\":{\"env\":[\"NVIDIA_VISIBLE_DEVICES=0\"]}}",
                           "{\"annotations\":{\"cdi.k8s.io/x\":\"nvidia.com/gpu=0\"}}"};
    const char *escaped[] = {"{\"process\":{\"env\":[\"NVIDIA\\u005fVISIBLE_DEVICES=0\"]}}",
                             "{\"annotations\":{\"cdi.k8s.io\\/x\":\"nvidia.com/gpu=0\"}}"};
    cfg.security.allow_annotation_requests = true;
    for (size_t i = 0; i < 2; i++) {
        nvb_err want = {0}, got = {0};
        assert_int_equal(nvb_write_file_atomic(path, plain[i], strlen(plain[i]), 0644, &err), 0);
        assert_int_equal(nvb_shim_edit_bundle(&ctx, dir, &want), -1);
        assert_int_equal(nvb_write_file_atomic(path, escaped[i], strlen(escaped[i]), 0644, &err), 0);
        assert_int_equal(nvb_shim_edit_bundle(&ctx, dir, &got), -1);
        assert_string_equal(got.msg, want.msg);
        assert_int_equal(got.exit_code, want.exit_code);
    }
    unlink(path);
    assert_int_equal(rmdir(dir), 0);
    nvb_config_clear(&cfg);
}

static void find(const char *text, nvb_oci_requests *r)
{
    json_t *c = parse(text);
    nvb_err err = {0};
    assert_int_equal(nvb_oci_find_requests(c, r, &err), 0);
    json_decref(c);
}

/* The attack: an image built with --annotation nvbind.gpus=all --annotation
 * nvbind.isolation=exclusive, whose annotations podman copies into config.json. */
static void test_image_annotations_policy(void **unused)
{
    (void)unused;
    static const char image[] = "{\"process\":{\"env\":[\"NVIDIA_VISIBLE_DEVICES=1\"]},\"annotations\":"
                                "{\"nvbind.gpus\":\"all\",\"nvbind.isolation\":\"exclusive\","
                                "\"nvbind.profile\":\"aiml\",\"cdi.k8s.io/x\":\"nvidia.com/gpu=0\"}}";
    nvb_config cfg;
    nvb_config_init(&cfg);
    assert_false(cfg.security.allow_annotation_requests); /* the default is safe */
    assert_false(nvb_shim_annotation_requests_allowed(&cfg));
    nvb_oci_requests r;
    nvb_err err = {0};
    /* Off: only the environment's request is left; no profile, no isolation of its own. */
    find(image, &r);
    assert_int_equal(nvb_shim_apply_policy(&cfg, &r, false, "t", &err), 0);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.v[0].source, "NVIDIA_VISIBLE_DEVICES");
    assert_null(r.profile);
    assert_false(r.has_isolation);
    nvb_oci_requests_clear(&r);
    /* On, with the default level (shared): exclusive would widen it, and is refused. */
    cfg.security.allow_annotation_requests = true;
    find(image, &r);
    assert_int_equal(nvb_shim_apply_policy(&cfg, &r, false, "t", &err), -1);
    assert_int_equal(err.exit_code, NVB_EXIT_INPUT);
    assert_string_equal(err.msg, "config.json: annotations.nvbind.isolation: 'exclusive' is wider than "
                                 "[bolt.capsule] isolation_level = \"shared\"; an annotation may only narrow it "
                                 "(virtual < shared < exclusive)");
    nvb_oci_requests_clear(&r);
    /* With exclusive configured, the same annotations pass, all three requests kept. */
    cfg.capsule.isolation_level = NVB_ISOLATION_EXCLUSIVE;
    find(image, &r);
    assert_int_equal(nvb_shim_apply_policy(&cfg, &r, false, "t", &err), 0);
    assert_int_equal(r.n, 3);
    assert_true(r.has_isolation);
    assert_string_equal(r.profile, "aiml");
    nvb_oci_requests_clear(&r);
    /* Narrowing is fine, widening never is, whatever the requests. */
    cfg.capsule.isolation_level = NVB_ISOLATION_VIRTUAL;
    find("{\"annotations\":{\"nvbind.gpus\":\"0\",\"nvbind.isolation\":\"shared\"}}", &r);
    assert_int_equal(nvb_shim_apply_policy(&cfg, &r, false, "t", &err), -1); /* lifts the MPS limits */
    nvb_oci_requests_clear(&r);
    /* An isolation annotation without a request is harmless: nothing is claimed. */
    find("{\"annotations\":{\"nvbind.isolation\":\"exclusive\"}}", &r);
    assert_int_equal(nvb_shim_apply_policy(&cfg, &r, false, "t", &err), 0);
    nvb_oci_requests_clear(&r);
    const enum nvb_isolation V = NVB_ISOLATION_VIRTUAL, S = NVB_ISOLATION_SHARED, X = NVB_ISOLATION_EXCLUSIVE;
    assert_true(nvb_isolation_within(V, V) && nvb_isolation_within(V, S) && nvb_isolation_within(V, X));
    assert_true(nvb_isolation_within(S, S) && nvb_isolation_within(S, X) && nvb_isolation_within(X, X));
    assert_false(nvb_isolation_within(S, V) || nvb_isolation_within(X, V) || nvb_isolation_within(X, S));
    nvb_config_clear(&cfg);
}

static void test_find_runtime(void **unused)
{
    (void)unused;
    nvb_config cfg;
    nvb_config_init(&cfg);
    nvb_err err = {0};
    cfg.runtime.oci_runtime = strdup("/bin/true");
    char *rt = nvb_shim_find_runtime(&cfg, "/nonexistent/self", &err);
    assert_non_null(rt);
    free(rt);
    /* The shim never execs itself. */
    rt = nvb_shim_find_runtime(&cfg, "/bin/true", &err);
    assert_null(rt);
    assert_string_equal(err.msg, "[runtime] oci_runtime = \"/bin/true\" is this shim itself");
    assert_int_equal(err.exit_code, NVB_EXIT_RUNTIME);
    free(cfg.runtime.oci_runtime);
    cfg.runtime.oci_runtime = strdup("no-such-runtime-xyz");
    assert_null(nvb_shim_find_runtime(&cfg, NULL, &err));
    assert_string_equal(err.msg, "[runtime] oci_runtime = \"no-such-runtime-xyz\": not found in PATH");
    nvb_config_clear(&cfg);
}

/* containerd/docker pass --log FILE --log-format json; the shim's refusal must be the last
 * error line there, one line, in runc's shape, appended to what is there already. */
static void test_log_contract(void **unused)
{
    (void)unused;
    nvb_shim_argv a;
    PARSE(a, "--log=/run/x/log.json", "--log-format", "text", "--version");
    assert_string_equal(a.log, "/run/x/log.json");
    assert_string_equal(a.log_format, "text");
    assert_true(a.version);
    assert_int_equal(a.command, -1);
    PARSE(a, "-v");
    assert_true(a.version);
    PARSE(a, "create", "--bundle", "/b", "-v"); /* after the command it is not ours */
    assert_false(a.version);

    char dir[] = "/tmp/nvb-shimlog-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/log.json", dir);
    FILE *f = fopen(path, "w");
    fputs("{\"level\":\"info\",\"msg\":\"before\"}\n", f);
    fclose(f);
    assert_int_equal(nvb_shim_log_write(path, "json", "error", "GPU 0 is \"busy\"\nheld"), 0);
    char msg[256] = "";
    assert_int_equal(nvb_runtime_log_error(path, msg, sizeof msg), 1);
    assert_string_equal(msg, "GPU 0 is \"busy\" held"); /* the reader nvbind run uses */
    char *text = nvb_read_file(path, 4096, NULL);
    assert_non_null(text);
    assert_non_null(strstr(text, "before\"}\n{\"level\":\"error\",\"msg\":"));
    char *t = strstr(text, "\"time\":\"");
    assert_non_null(t);
    assert_int_equal(strlen(t), strlen("\"time\":\"2026-12-03T04:28:18Z\"}\n"));
    assert_int_equal(t[strlen("\"time\":\"2026-12-03T04:28:18")], 'Z');
    free(text);

    snprintf(path, sizeof path, "%s/log.txt", dir);
    assert_int_equal(nvb_shim_log_write(path, NULL, "error", "a \"b\"\\c\nd"), 0);
    text = nvb_read_file(path, 4096, NULL);
    assert_non_null(text);
    assert_int_equal(strncmp(text, "time=\"", 6), 0);
    assert_non_null(strstr(text, "Z\" level=error msg=\"a \\\"b\\\"\\\\c\\nd\"\n"));
    assert_ptr_equal(strchr(text, '\n') + 1, text + strlen(text)); /* exactly one line */
    free(text);

    assert_int_equal(nvb_shim_log_write(NULL, "json", "error", "x"), 0); /* no --log: nothing */
    snprintf(path, sizeof path, "%s/missing/log.json", dir);
    assert_int_equal(nvb_shim_log_write(path, "json", "error", "x"), -1);
    snprintf(path, sizeof path, "rm -rf %s", dir);
    assert_int_equal(system(path), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_podman_create),
        cmocka_unit_test(test_default_bundle_and_other_commands),
        cmocka_unit_test(test_requests),
        cmocka_unit_test(test_no_requests),
        cmocka_unit_test(test_bad_request_fields),
        cmocka_unit_test(test_privileged_and_policy),
        cmocka_unit_test(test_no_request_leaves_config_alone),
        cmocka_unit_test(test_unparsed_without_request_words),
        cmocka_unit_test(test_image_annotations_policy),
        cmocka_unit_test(test_find_runtime),
        cmocka_unit_test(test_log_contract),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
