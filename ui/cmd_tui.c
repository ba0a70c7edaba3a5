/* cmd_tui.c — `phenoscope [tui]`: opens the terminal workbench on the store.
 *
 * Checks the store before the terminal is touched (a missing store is one plain line on
 * stderr, not a flash of curses), installs the signal flags before curses, sends stderr to a
 * log file while curses owns the screen, and leaves the rest to app.c. The headless options
 * (--frames, --keys, --size, --dump) drive the real interface without a terminal for tests.
 */
#include <fcntl.h>
#include <getopt.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store.h"
#include "ui/app.h"
#include "ui/cmd.h"
#include "ui/term.h"


static void usage(FILE *f)
{
    fprintf(f, "usage: phenoscope [--store PATH] [--graphics=MODE] [--mask-ids] [tui [OPTIONS]]\n"
               "\n"
               "Opens the terminal workbench (this is also what 'phenoscope' alone does).\n"
               "  --theme T       colours: 256, 8 or mono (default: from the terminal; NO_COLOR\n"
               "                  selects mono)\n"
               "headless (for tests; no terminal needed):\n"
               "  --frames N      run N loop turns, then exit\n"
               "  --keys KEYS     keys to type: characters and <Enter> <Esc> <Up> <Down> <PgUp>\n"
               "                  <PgDn> <Home> <End> <Tab> <BS> <Tick> <Resize:COLSxROWS>\n"
               "  --size CxR      screen size (default 80x24)\n"
               "  --dump FILE     write the last screen as text to FILE\n");
}

/* While curses owns the terminal, anything a library prints to stderr goes to
 * $XDG_STATE_HOME/phenoscope/tui.log instead of scribbling over the screen. Returns the saved
 * stderr descriptor, or -1 when nothing was redirected. */
static int stderr_to_log(void)
{
    char dir[4096], path[4200];
    const char *state = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
    if (state && *state) snprintf(dir, sizeof dir, "%s/phenoscope", state);
    else if (home && *home) snprintf(dir, sizeof dir, "%s/.local/state/phenoscope", home);
    else return -1;
    /* parents first: XDG_STATE_HOME itself may not exist yet */
    char *slash = dir;
    while ((slash = strchr(slash + 1, '/'))) {
        *slash = 0;
        mkdir(dir, 0700);
        *slash = '/';
    }
    mkdir(dir, 0700);
    snprintf(path, sizeof path, "%s/tui.log", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) return -1;
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    if (saved < 0 || dup2(fd, STDERR_FILENO) < 0) {
        if (saved >= 0) close(saved);
        close(fd);
        return -1;
    }
    close(fd);
    return saved;
}

static void stderr_restore(int saved)
{
    if (saved < 0) return;
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
}

int cmd_tui_run(const CmdGlobal *g, int argc, char **argv)
{
    static const struct option opts[] = {
        {"frames", required_argument, NULL, 'f'}, {"keys", required_argument, NULL, 'k'},
        {"size", required_argument, NULL, 's'},   {"dump", required_argument, NULL, 'd'},
        {"theme", required_argument, NULL, 't'},  {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    AppOptions o = {.graphics = g->graphics, .mask_ids = g->mask_ids};
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            o.frames = atoi(optarg);
            if (o.frames <= 0) {
                fprintf(stderr, "phenoscope tui: --frames needs a positive number\n");
                return 2;
            }
            o.headless = 1;
            break;
        case 'k':
            o.keys = optarg;
            o.headless = 1;
            break;
        case 's':
            if (sscanf(optarg, "%dx%d", &o.cols, &o.rows) != 2 || o.cols < 10 || o.rows < 5 ||
                o.cols > 1000 || o.rows > 1000) {
                fprintf(stderr, "phenoscope tui: --size wants COLSxROWS, e.g. 80x24\n");
                return 2;
            }
            break;
        case 'd': o.dump_path = optarg; break;
        case 't':
            if (strcmp(optarg, "256") && strcmp(optarg, "8") && strcmp(optarg, "mono")) {
                fprintf(stderr, "phenoscope tui: --theme must be 256, 8 or mono\n");
                return 2;
            }
            o.theme = optarg;
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        usage(stderr);
        return 2;
    }
    if ((o.dump_path || o.cols) && !o.headless) {
        fprintf(stderr, "phenoscope tui: --size and --dump belong to headless runs (--frames or --keys)\n");
        return 2;
    }
    setlocale(LC_ALL, "");

    char path[4096];
    PsErr err = {{0}};
    if (g->store_path) snprintf(path, sizeof path, "%s", g->store_path);
    else if (store_default_path(path, sizeof path, &err) != PS_OK) {
        fprintf(stderr, "phenoscope: %s\n", err.msg);
        return 1;
    }
    Store *st = NULL;
    if (store_open(&st, path, STORE_OPEN_READONLY, &err) != PS_OK) {
        /* The store's message already says how to create one: one line, as for every verb. */
        fprintf(stderr, "phenoscope: %s\n", err.msg);
        return 1;
    }
    o.store_path = path;
    o.store = st;

    term_signals_install();
    int saved = o.headless ? -1 : stderr_to_log();
    int rc = app_run(&o);
    stderr_restore(saved);
    store_close(st);
    return rc;
}
