/* nvbind top: a terminal view of the GPUs (ncurses), redrawn every second: a bar per GPU for
 * utilization and memory, temperature and power, and the containers on each GPU with their
 * memory. The same collection as `nvbind exporter` (lib/metrics). */
#include "cli.h"
#include "cli_helper_opts.h"
#include "cli_monitor.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if NVB_HAVE_NCURSES
#include <curses.h>
#endif

static const char top_usage[] =
    "usage: nvbind top [--delay SECONDS]\n"
    "\n"
    "The GPUs in a terminal: utilization and memory bars, temperature, power, and the containers\n"
    "on each GPU with their memory, redrawn every second. q quits.\n"
    "  --delay SECONDS  redraw every SECONDS instead (1 to 60)\n";

#if NVB_HAVE_NCURSES
/* "name [#####.....] tail" with inner columns of bar. */
static void bar(int row, int col, int inner, const char *name, int64_t pct, const char *tail)
{
    mvprintw(row, col, "%-5s", name);
    int fill = pct < 0 ? 0 : (int)((pct > 100 ? 100 : pct) * inner / 100);
    addch('[');
    for (int i = 0; i < inner; i++)
        addch(i < fill ? '#' : '.');
    addch(']');
    printw(" %s", tail);
}

static void fmt_or_dash(char *buf, size_t len, int64_t v, const char *unit)
{
    if (v < 0)
        snprintf(buf, len, "-");
    else
        snprintf(buf, len, "%lld%s", (long long)v, unit);
}

static int draw_gpu(const nvb_snapshot *s, size_t g, int row, int cols)
{
    const nvb_gpu *gpu = &s->host->gpus[g];
    const nvb_gpu_sample *m = &s->gpus[g];
    char temp[32], power[32], tail[96];
    fmt_or_dash(temp, sizeof temp, m->temp_c, " C");
    if (m->power_mw < 0)
        snprintf(power, sizeof power, "-");
    else
        snprintf(power, sizeof power, "%lld W", (long long)(m->power_mw / 1000));
    attron(A_BOLD);
    mvprintw(row++, 0, "GPU %u  %-28.28s  %s  temp %s  power %s", gpu->index, gpu->name ? gpu->name : "?",
             gpu->uuid, temp, power);
    attroff(A_BOLD);
    /* Two bars side by side, each with room for its name and a tail like "81920/81920 MiB". */
    int half = cols / 2, inner = half - 32 > 10 ? half - 32 : 10;
    fmt_or_dash(tail, sizeof tail, m->gpu_util, "%");
    bar(row, 2, inner, "util", m->gpu_util, tail);
    int64_t pct = m->fb_total_mib > 0 && m->fb_used_mib >= 0 ? m->fb_used_mib * 100 / m->fb_total_mib : -1;
    if (m->fb_used_mib >= 0)
        snprintf(tail, sizeof tail, "%lld/%lld MiB", (long long)m->fb_used_mib, (long long)m->fb_total_mib);
    else
        snprintf(tail, sizeof tail, "-");
    bar(row++, half > 2 + inner + 14 ? half : 2 + inner + 14, inner, "mem", pct, tail);
    for (size_t i = 0; i < s->n_uses; i++) {
        const nvb_container_use *u = &s->uses[i];
        if (u->gpu != g)
            continue;
        mvprintw(row++, 4, "%-40.40s %8llu MiB  %u process%s", u->container[0] ? u->container : "(no container)",
                 (unsigned long long)(u->used_bytes >> 20), u->n_procs, u->n_procs == 1 ? "" : "es");
    }
    return row;
}

static void draw(const nvb_snapshot *s)
{
    erase();
    int rows, cols;
    getmaxyx(stdscr, rows, cols);
    char when[16];
    time_t now = time(NULL);
    strftime(when, sizeof when, "%H:%M:%S", localtime(&now));
    mvprintw(0, 0, "nvbind top - %s  %s  NVML %s   (q quits)", s->hostname, when, s->nvml_up ? "up" : "down");
    int row = 2;
    if (!s->host)
        mvprintw(row++, 0, "no host: %s", s->host_why);
    else if (!s->nvml_up)
        mvprintw(row++, 0, "%s", s->nvml_why);
    for (size_t g = 0; s->host && g < s->host->n_gpus && row < rows - 1; g++)
        row = draw_gpu(s, g, row, cols) + 1;
    refresh();
}

static int top_loop(nvb_cli_monitor *mon, int delay_s)
{
    /* newterm, not initscr: initscr exits the process itself when the terminal is unknown. */
    SCREEN *scr = newterm(NULL, stdout, stdin);
    if (!scr) {
        fprintf(stderr, "nvbind: top: cannot drive terminal '%s' (TERM): not a known terminal type\n",
                getenv("TERM") ? getenv("TERM") : "");
        return NVB_EXIT_USAGE;
    }
    cbreak();
    noecho();
    curs_set(0);
    keypad(stdscr, TRUE);
    timeout(delay_s * 1000);
    for (;;) {
        nvb_snapshot s;
        nvb_collect(mon->collector, &s);
        draw(&s);
        nvb_snapshot_clear(&s);
        int ch = getch();
        if (ch == 'q' || ch == 'Q')
            break;
    }
    endwin();
    delscreen(scr);
    return 0;
}
#endif

int cmd_top(nvb_cli *cli, int argc, char **argv)
{
    int c, delay_s = 1;
    /* The getopt tables from the options nvbind describes (cli_helper_opts.c); the error
     * lines are this command's own. */
    nvb_cli_parser p;
    nvb_cli_parser_init(&p, &(nvb_cli_cmd){.name = "top", .opts = nvb_top_opts}, "top", NULL);
    while ((c = getopt_long(argc, argv, p.shortopts, p.longopts, NULL)) != -1) {
        switch (c) {
        case NVB_TOP_DELAY: {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || optarg[0] < '0' || optarg[0] > '9' || v < 1 || v > 60)
                return nvb_cli_usage("top", "--delay %s: expected a number of seconds from 1 to 60", optarg);
            delay_s = (int)v;
            break;
        }
        case 'h': fputs(top_usage, stdout); return 0;
        case ':': return nvb_cli_usage("top", "%s needs a value", argv[optind - 1]);
        default: return nvb_cli_usage("top", "unknown option '%s' (see nvbind top --help)", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return nvb_cli_usage("top", "unexpected argument '%s' (see nvbind top --help)", argv[optind]);
#if NVB_HAVE_NCURSES
    nvb_cli_monitor mon;
    int rc = nvb_cli_monitor_open(cli, false, &mon);
    if (rc)
        return rc;
    rc = top_loop(&mon, delay_s);
    nvb_cli_monitor_close(&mon);
    return rc;
#else
    (void)delay_s;
    fprintf(stderr, "nvbind: top: this nvbind was built without ncurses\n");
    return NVB_EXIT_USAGE;
#endif
}
