/* term.c — curses start/stop, key input with a timeout, flag-only signal handlers, raw output.
 *
 * This is the only file that calls newterm/initscr, start_color, getch and endwin. It does not
 * draw anything; screens and widgets do that through curses windows. It does not decide colours
 * (theme.c) or graphics (graphics.c).
 *
 * Signals: our own handlers for SIGINT, SIGTERM, SIGHUP and SIGWINCH are installed before
 * curses starts, so ncurses leaves them alone (it only catches signals whose handler is still
 * SIG_DFL). They set a flag and nothing else; term_getkey turns the flags into TERM_KEY_QUIT or
 * KEY_RESIZE. A terminal that is gone without a SIGHUP (input at end of file or failing with
 * EIO) counts as a hangup too, so the loop never spins on a dead tty.
 *
 * Crashes: SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT and SIGQUIT get a handler that puts the
 * saved tty modes back with tcsetattr, writes the terminal's own "leave the alternate screen,
 * show the cursor, plain attributes" strings (both async-signal-safe: no stdio, no curses), and
 * re-raises the signal with its default action, so the exit status and any core dump are the
 * usual ones. The flags and the crash copy of the tty state are the one piece of process-global
 * mutable state here, because a signal handler can reach nothing else.
 */
#include "ui/term.h"

#include <errno.h>
#include <langinfo.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <term.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>

#ifdef PS_TEST_HOOKS
#include "store/testhooks.h"
#endif

static volatile sig_atomic_t quit_signal;
static volatile sig_atomic_t winch_pending;

/* What the crash handler restores: written by term_start / term_stop on the main thread while
 * crash_armed is 0, read by the handler only when it is 1. */
static struct termios crash_termios;
static char crash_reset[128];
static size_t crash_reset_len;
static int crash_tty_fd = -1, crash_out_fd = -1;
static volatile sig_atomic_t crash_armed;

static void on_fatal(int sig)
{
    if (crash_armed) {
        crash_armed = 0;
        if (crash_reset_len) {
            ssize_t w = write(crash_out_fd, crash_reset, crash_reset_len);
            (void)w; /* nothing else can be done about a terminal that is gone */
        }
        tcsetattr(crash_tty_fd, TCSANOW, &crash_termios);
    }
    /* SA_RESETHAND has put the default action back and SA_NODEFER lets it act at once */
    raise(sig);
}

/* Appends a terminfo string (or the fallback when the terminal has none) to the crash reset. */
static void crash_reset_add(const char *cap, const char *fallback)
{
    const char *v = NULL;
    if (cap) {
        char name[16];
        snprintf(name, sizeof name, "%s", cap);
        v = tigetstr(name);
    }
    if (v == NULL || v == (const char *)-1) v = fallback;
    size_t n = strlen(v);
    if (crash_reset_len + n >= sizeof crash_reset) return;
    memcpy(crash_reset + crash_reset_len, v, n);
    crash_reset_len += n;
}

static void on_quit(int sig) { quit_signal = sig; }
static void on_winch(int sig)
{
    (void)sig;
    winch_pending = 1;
}

void term_signals_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    /* No SA_RESTART: a blocking read or poll returns EINTR so the flag is seen promptly. */
    sa.sa_handler = on_quit;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = on_winch;
    sigaction(SIGWINCH, &sa, NULL);
    static const int fatal[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGQUIT};
    sa.sa_handler = on_fatal;
    sa.sa_flags = SA_RESETHAND | SA_NODEFER;
    for (size_t i = 0; i < sizeof fatal / sizeof fatal[0]; i++) sigaction(fatal[i], &sa, NULL);
}

int term_quit_signal(void) { return (int)quit_signal; }
int term_quit_pending(void) { return quit_signal != 0; }

PsStatus term_start(Term *t, const TermOptions *o, PsErr *err)
{
    memset(t, 0, sizeof *t);
    t->tty_fd = -1;
    t->fd_out = STDOUT_FILENO;
    const char *cs = nl_langinfo(CODESET);
    t->utf8 = cs && (strcmp(cs, "UTF-8") == 0 || strcmp(cs, "utf8") == 0);

    if (o && o->headless) {
        t->headless = 1;
        t->keys = o->keys ? o->keys : "";
        t->out = fopen("/dev/null", "w");
        t->in = fopen("/dev/null", "r");
        if (!t->out || !t->in) {
            if (t->out) fclose(t->out);
            if (t->in) fclose(t->in);
            return ps_err(err, PS_ERR_IO, "/dev/null: cannot open for the headless screen");
        }
        const char *name = o->term ? o->term : getenv("TERM");
        if (!name || !*name || strcmp(name, "dumb") == 0) name = "xterm-256color";
        char namebuf[64];
        snprintf(namebuf, sizeof namebuf, "%s", name);
        t->scr = newterm(namebuf, t->out, t->in);
        if (!t->scr) {
            fclose(t->out);
            fclose(t->in);
            return ps_err(err, PS_ERR_INVALID, "TERM=%s: no terminfo entry for the headless screen",
                          namebuf);
        }
        t->fd_out = fileno(t->out);
        resize_term(o->rows > 0 ? o->rows : 24, o->cols > 0 ? o->cols : 80);
    } else {
        if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))
            return ps_err(err, PS_ERR_INVALID,
                          "the terminal interface needs a terminal on stdin and stdout "
                          "(use a verb such as 'info' for scripts)");
        const char *name = getenv("TERM");
        if (!name || !*name || strcmp(name, "dumb") == 0)
            return ps_err(err, PS_ERR_INVALID, "TERM=%s: cannot draw the interface on this terminal",
                          name ? name : "(unset)");
        t->tty_fd = STDIN_FILENO;
        if (tcgetattr(t->tty_fd, &t->saved) == 0) t->have_saved = 1;
        /* newterm, unlike initscr, returns NULL instead of exiting when TERM is unknown. */
        t->scr = newterm(NULL, stdout, stdin);
        if (!t->scr)
            return ps_err(err, PS_ERR_INVALID, "TERM=%s: no terminfo entry for this terminal", name);
    }
    t->started = 1;
    /* Replies to the graphics probe that came in after its timeout are not keys. */
    if (!t->headless) flushinp();
    cbreak();
    noecho();
    nonl();
    keypad(stdscr, TRUE);
    intrflush(stdscr, FALSE);
    /* Sixel images are drawn beside curses; line insert/delete scrolling would move text under
     * them without curses knowing, so it stays off (the default, said out loud). */
    idlok(stdscr, FALSE);
    set_escdelay(25);
    curs_set(0);
    if (has_colors()) {
        start_color();
        use_default_colors();
        t->colors = COLORS;
    }
    if (t->have_saved) {
        crash_armed = 0;
        crash_termios = t->saved;
        crash_tty_fd = t->tty_fd;
        crash_out_fd = STDOUT_FILENO;
        crash_reset_len = 0;
        crash_reset_add("sgr0", "\033[0m");
        crash_reset_add("cnorm", "\033[?25h");
        crash_reset_add("rmcup", "\033[?1049l");
        crash_reset_add("rmkx", "");
        crash_reset_add(NULL, "\r\n");
        crash_armed = 1;
    }
    return PS_OK;
}

static int resize_from_tty(Term *t)
{
    struct winsize ws;
    if (t->tty_fd >= 0 && ioctl(t->tty_fd, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0)
        resize_term(ws.ws_row, ws.ws_col);
    return KEY_RESIZE;
}

static int headless_key(Term *t)
{
    int rows = 0, cols = 0;
    int k = term_parse_key(&t->keys, &rows, &cols);
    if (k == 0 || k == TERM_KEY_BAD) return TERM_KEY_SCRIPT_END;
    if (k == KEY_RESIZE) {
        resize_term(rows, cols);
        return KEY_RESIZE;
    }
    return k;
}

static long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Whether the terminal has hung up: after a hangup the tty's input is at end of file (or fails
 * with EIO) and poll reports POLLHUP / POLLERR, so getch returns at once instead of waiting. */
static int tty_gone(const Term *t)
{
    if (t->tty_fd < 0) return 0;
    struct pollfd p = {.fd = t->tty_fd, .events = POLLIN};
    int r = poll(&p, 1, 0);
    if (r < 0) return errno != EINTR;
    return r > 0 && (p.revents & (POLLHUP | POLLERR | POLLNVAL));
}

int term_getkey(Term *t, int timeout_ms)
{
    if (quit_signal) return TERM_KEY_QUIT;
    if (winch_pending) {
        winch_pending = 0;
        return resize_from_tty(t);
    }
#ifdef PS_TEST_HOOKS
    testhooks_crash_check();
#endif
    if (t->headless) return headless_key(t);
    wtimeout(stdscr, timeout_ms);
    wint_t wc = 0;
    long t0 = mono_ms();
    int r = wget_wch(stdscr, &wc);
    if (quit_signal) return TERM_KEY_QUIT;
    if (r == ERR) {
        if (winch_pending) {
            winch_pending = 0;
            return resize_from_tty(t);
        }
        /* an early ERR without a signal: the terminal may be gone */
        if (timeout_ms > 0 && mono_ms() - t0 < timeout_ms / 2 && tty_gone(t)) {
            quit_signal = SIGHUP;
            return TERM_KEY_QUIT;
        }
        return TERM_KEY_NONE;
    }
    if (r == OK && wc >= 0x100) return TERM_KEY_WCHAR_BASE + (int)wc;
    return (int)wc;
}

void term_flush(Term *t)
{
    (void)t;
    doupdate();
}

void term_write_raw(Term *t, const char *buf, size_t n)
{
    while (n > 0) {
        ssize_t w = write(t->fd_out, buf, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return; /* the terminal went away; nothing useful to do with the error */
        }
        buf += w;
        n -= (size_t)w;
    }
}

void term_stop(Term *t)
{
    crash_armed = 0;
    if (t->started) {
        endwin();
        delscreen(t->scr);
        t->scr = NULL;
        t->started = 0;
    }
    if (t->have_saved) {
        tcsetattr(t->tty_fd, TCSANOW, &t->saved);
        t->have_saved = 0;
    }
    if (t->out) fclose(t->out);
    if (t->in) fclose(t->in);
    t->out = t->in = NULL;
}

void term_dump_text(Term *t, FILE *f)
{
    if (!t->started) return;
    int rows = getmaxy(curscr), cols = getmaxx(curscr);
    char line[4096 * 4];
    for (int y = 0; y < rows; y++) {
        size_t len = 0, keep = 0;
        mbstate_t ps;
        memset(&ps, 0, sizeof ps);
        for (int x = 0; x < cols && len + MB_LEN_MAX + 1 < sizeof line; x++) {
            cchar_t cc;
            wchar_t wch[CCHARW_MAX + 1];
            attr_t a;
            short pair;
            if (mvwin_wch(curscr, y, x, &cc) == ERR) break;
            if (getcchar(&cc, wch, &a, &pair, NULL) == ERR || wch[0] == 0) wch[0] = L' ';
            size_t w = wcrtomb(line + len, wch[0], &ps);
            if (w == (size_t)-1) {
                line[len] = '?';
                w = 1;
                memset(&ps, 0, sizeof ps);
            }
            len += w;
            if (wch[0] != L' ') keep = len;
        }
        fwrite(line, 1, keep, f);
        fputc('\n', f);
    }
}

static const struct {
    const char *name;
    int key;
} named_keys[] = {
    {"Enter", '\n'},      {"Esc", 27},           {"Tab", '\t'},        {"BS", KEY_BACKSPACE},
    {"Up", KEY_UP},       {"Down", KEY_DOWN},    {"Left", KEY_LEFT},   {"Right", KEY_RIGHT},
    {"PgUp", KEY_PPAGE},  {"PgDn", KEY_NPAGE},   {"Home", KEY_HOME},   {"End", KEY_END},
    {"Tick", TERM_KEY_NONE},
};

int term_parse_key(const char **s, int *rows, int *cols)
{
    const char *p = *s;
    if (!p || !*p) return 0;
    if (*p != '<' || p[1] == 0 || p[1] == '<') {
        if (*p == '<') p++; /* "<<" is a literal '<' */
        mbstate_t ps;
        memset(&ps, 0, sizeof ps);
        wchar_t wc;
        size_t n = mbrtowc(&wc, p, strlen(p), &ps);
        if (n == (size_t)-1 || n == (size_t)-2 || n == 0) {
            *s = p + 1;
            return (unsigned char)*p;
        }
        *s = p + n;
        return wc >= 0x100 ? TERM_KEY_WCHAR_BASE + (int)wc : (int)wc;
    }
    const char *end = strchr(p, '>');
    if (!end) return TERM_KEY_BAD;
    size_t len = (size_t)(end - p - 1);
    *s = end + 1;
    if (len > 7 && strncmp(p + 1, "Resize:", 7) == 0) {
        int c = 0, r = 0;
        if (sscanf(p + 8, "%dx%d", &c, &r) != 2 || c < 10 || r < 5) return TERM_KEY_BAD;
        *rows = r;
        *cols = c;
        return KEY_RESIZE;
    }
    for (size_t i = 0; i < sizeof named_keys / sizeof named_keys[0]; i++)
        if (strlen(named_keys[i].name) == len && strncmp(p + 1, named_keys[i].name, len) == 0)
            return named_keys[i].key;
    return TERM_KEY_BAD;
}
