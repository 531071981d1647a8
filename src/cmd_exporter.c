/* nvbind exporter: GPU, container and nvbind metrics for Prometheus over HTTP
 * (libmicrohttpd), or once on stdout (docs/monitoring.md). */
#include "cli.h"
#include "cli_helper_opts.h"
#include "cli_monitor.h"
#include "metrics/prom.h"

#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if NVB_HAVE_MHD
#include <microhttpd.h>
#endif

#define DEFAULT_LISTEN "127.0.0.1:9400"
#define INTERVAL_MAX (24 * 3600)

static const char exporter_usage[] =
    "usage: nvbind exporter [--listen ADDR:PORT] [--interval SECONDS] [--once] [--snake-case-labels]\n"
    "\n"
    "Serve GPU metrics (dcgm-exporter's names), the containers on each GPU and nvbind's own\n"
    "metrics at http://ADDR:PORT/metrics in Prometheus' text format.\n"
    "  --listen ADDR:PORT   where to listen (default " DEFAULT_LISTEN "; [::1]:PORT for IPv6;\n"
    "                       0.0.0.0:PORT to serve every interface)\n"
    "  --interval SECONDS   sample every SECONDS and serve the latest sample, keeping NVML open;\n"
    "                       without it each scrape asks NVML afresh and nothing stays open\n"
    "  --once               print the metrics once on stdout and exit\n"
    "  --snake-case-labels  model_name instead of dcgm-exporter's modelName\n";

typedef struct exporter {
    nvb_cli_monitor mon;
    nvb_prom_opts prom;
    unsigned interval;
    pthread_mutex_t lock;   /* --interval: the latest text, replaced by the sampling loop */
    char *latest;
    size_t latest_len;
} exporter;

/* A fresh collection as text (malloc'd), NULL when out of memory. */
static char *scrape(exporter *x, size_t *len)
{
    nvb_snapshot s;
    nvb_collect(x->mon.collector, &s);
    char *text = nvb_prom_render(&s, &x->prom, len);
    nvb_snapshot_clear(&s);
    return text;
}

static int run_once(exporter *x)
{
    size_t len = 0;
    char *text = scrape(x, &len);
    if (!text) {
        fprintf(stderr, "nvbind: exporter: out of memory\n");
        return NVB_EXIT_IO;
    }
    int rc = fwrite(text, 1, len, stdout) == len && fflush(stdout) == 0 ? 0 : NVB_EXIT_IO;
    free(text);
    return rc;
}

/* "HOST:PORT" or "[V6]:PORT", numeric only; 0 or a usage error. */
static int parse_listen(const char *arg, struct sockaddr_storage *ss, socklen_t *sl)
{
    char host[256];
    const char *colon = strrchr(arg, ':');
    const char *h = arg;
    size_t hl = colon ? (size_t)(colon - arg) : 0;
    if (hl >= 2 && arg[0] == '[' && arg[hl - 1] == ']')
        h++, hl -= 2;
    if (!colon || !hl || hl >= sizeof host || !colon[1])
        return nvb_cli_usage("exporter", "--listen %s: expected ADDR:PORT (127.0.0.1:9400, [::1]:9400)", arg);
    memcpy(host, h, hl);
    host[hl] = '\0';
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    char *end;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (*end || port == 0 || port > 65535 || getaddrinfo(host, colon + 1, &hints, &ai) != 0)
        return nvb_cli_usage("exporter", "--listen %s: not a numeric address and port from 1 to 65535", arg);
    memcpy(ss, ai->ai_addr, ai->ai_addrlen);
    *sl = ai->ai_addrlen;
    freeaddrinfo(ai);
    return 0;
}

static int parse_interval(const char *arg, unsigned *out)
{
    char *end;
    unsigned long v = strtoul(arg, &end, 10);
    if (arg[0] < '0' || arg[0] > '9' || *end || v == 0 || v > INTERVAL_MAX)
        return nvb_cli_usage("exporter", "--interval %s: expected a number of seconds from 1 to %d", arg, INTERVAL_MAX);
    *out = (unsigned)v;
    return 0;
}

#if NVB_HAVE_MHD
static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *type, char *body, size_t len)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", type);
    enum MHD_Result ok = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result reply_text(struct MHD_Connection *conn, unsigned status, const char *text)
{
    char *copy = strdup(text);
    return copy ? reply(conn, status, "text/plain; charset=utf-8", copy, strlen(copy)) : MHD_NO;
}

static char *latest_copy(exporter *x, size_t *len)
{
    pthread_mutex_lock(&x->lock);
    char *copy = x->latest ? malloc(x->latest_len + 1) : NULL;
    if (copy) {
        memcpy(copy, x->latest, x->latest_len + 1);
        *len = x->latest_len;
    }
    pthread_mutex_unlock(&x->lock);
    return copy;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    exporter *x = cls;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return reply_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET and HEAD\n");
    if (strcmp(url, "/") == 0)
        return reply_text(conn, MHD_HTTP_OK, "nvbind exporter: metrics at /metrics\n");
    if (strcmp(url, "/metrics") != 0)
        return reply_text(conn, MHD_HTTP_NOT_FOUND, "not found: metrics are at /metrics\n");
    size_t len = 0;
    char *text = x->interval ? latest_copy(x, &len) : scrape(x, &len);
    if (!text)
        return reply_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "no sample yet\n");
    return reply(conn, MHD_HTTP_OK, NVB_PROM_CONTENT_TYPE, text, len);
}

static void sample_now(exporter *x)
{
    size_t len = 0;
    char *text = scrape(x, &len);
    if (!text)
        return; /* keep serving the last one */
    pthread_mutex_lock(&x->lock);
    free(x->latest);
    x->latest = text;
    x->latest_len = len;
    pthread_mutex_unlock(&x->lock);
}

/* Until SIGINT or SIGTERM; with --interval, sampling on this thread between them. */
static void wait_for_signal(exporter *x, const sigset_t *set)
{
    for (;;) {
        if (x->interval)
            sample_now(x);
        struct timespec ts = {.tv_sec = x->interval ? x->interval : 3600};
        int sig = sigtimedwait(set, NULL, &ts);
        if (sig == SIGINT || sig == SIGTERM)
            return;
    }
}

static int serve(exporter *x, const char *listen_arg, struct sockaddr_storage ss)
{
    /* Block the stop signals before the server's thread starts, so that it inherits the mask
     * and sigtimedwait below receives them. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    if (x->interval)
        sample_now(x);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    struct MHD_Daemon *d = MHD_start_daemon(flags, 0, NULL, NULL, handle, x, MHD_OPTION_SOCK_ADDR, &ss,
                                            MHD_OPTION_CONNECTION_LIMIT, 32u, MHD_OPTION_CONNECTION_TIMEOUT, 10u,
                                            MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "nvbind: exporter: cannot listen on %s: %s\n", listen_arg, strerror(errno ? errno : EADDRINUSE));
        return NVB_EXIT_FAIL;
    }
    fprintf(stderr, "nvbind: exporter: serving http://%s/metrics\n", listen_arg);
    wait_for_signal(x, &set);
    MHD_stop_daemon(d);
    return 0;
}
#else
static int serve(exporter *x, const char *listen_arg, struct sockaddr_storage ss)
{
    fprintf(stderr, "nvbind: exporter: this nvbind was built without libmicrohttpd; only --once works\n");
    return NVB_EXIT_USAGE;
}
#endif

int cmd_exporter(nvb_cli *cli, int argc, char **argv)
{
    exporter x = {.lock = PTHREAD_MUTEX_INITIALIZER};
    const char *listen_arg = DEFAULT_LISTEN;
    bool once = false;
    int c, rc;
    /* The getopt tables from the options nvbind describes (cli_helper_opts.c); the error
     * lines are this command's own. */
    nvb_cli_parser p;
    nvb_cli_parser_init(&p, &(nvb_cli_cmd){.name = "exporter", .opts = nvb_exporter_opts}, "exporter", NULL);
    while ((c = getopt_long(argc, argv, p.shortopts, p.longopts, NULL)) != -1) {
        switch (c) {
        case NVB_EXPORTER_LISTEN: listen_arg = optarg; break;
        case NVB_EXPORTER_INTERVAL:
            if ((rc = parse_interval(optarg, &x.interval)))
                return rc;
            break;
        case NVB_EXPORTER_ONCE: once = true; break;
        case NVB_EXPORTER_SNAKE_CASE: x.prom.snake_case_labels = true; break;
        case 'h': fputs(exporter_usage, stdout); return 0;
        case ':': return nvb_cli_usage("exporter", "%s needs a value", argv[optind - 1]);
        default: return nvb_cli_usage("exporter", "unknown option '%s' (see nvbind exporter --help)", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return nvb_cli_usage("exporter", "unexpected argument '%s' (see nvbind exporter --help)", argv[optind]);
    if (once && x.interval)
        return nvb_cli_usage("exporter", "--once and --interval do not go together");
    struct sockaddr_storage ss = {0};
    socklen_t sl;
    if (!once && (rc = parse_listen(listen_arg, &ss, &sl)))
        return rc;
    if ((rc = nvb_cli_monitor_open(cli, x.interval > 0, &x.mon)))
        return rc;
    rc = once ? run_once(&x) : serve(&x, listen_arg, ss);
    nvb_cli_monitor_close(&x.mon);
    free(x.latest);
    return rc;
}
