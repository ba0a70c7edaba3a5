/* graphics.c — terminal graphics detection: one batched query, a reply parser, a decision.
 *
 * It does not draw images (image.c) and it does not try tmux passthrough: inside tmux we
 * believe tmux's own DA1 answer, which lists 4 only when tmux itself can show sixel.
 */
#include "ui/graphics.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "ui/term.h"

const char *graphics_mode_name(GraphicsMode m)
{
    switch (m) {
    case GRAPHICS_SIXEL: return "sixel";
    case GRAPHICS_SYMBOLS: return "symbols";
    case GRAPHICS_NONE: return "none";
    }
    return "?";
}

int graphics_mode_parse(const char *s)
{
    if (!s) return -1;
    if (strcmp(s, "sixel") == 0) return GRAPHICS_SIXEL;
    if (strcmp(s, "symbols") == 0) return GRAPHICS_SYMBOLS;
    if (strcmp(s, "none") == 0) return GRAPHICS_NONE;
    return -1;
}

/* Reads up to max numeric parameters separated by ';' from p (digits and ';' only). */
static int parse_params(const unsigned char *p, const unsigned char *end, int *v, int max)
{
    int n = 0, cur = 0, have = 0;
    for (; p < end; p++) {
        if (*p >= '0' && *p <= '9') {
            if (cur < 100000000) cur = cur * 10 + (*p - '0');
            have = 1;
        } else if (*p == ';') {
            if (n < max) v[n] = have ? cur : 0;
            n++;
            cur = 0;
            have = 0;
        } else {
            return -1;
        }
    }
    if (n < max) v[n] = have ? cur : 0;
    return n + 1;
}

void graphics_parse(const unsigned char *buf, size_t n, GraphicsProbe *p)
{
    p->n_raw += n;
    for (size_t i = 0; i + 2 < n; i++) {
        if (buf[i] != 0x1b || buf[i + 1] != '[') continue;
        size_t j = i + 2;
        int priv = 0;
        if (buf[j] == '?') {
            priv = 1;
            j++;
        }
        size_t start = j;
        while (j < n && ((buf[j] >= '0' && buf[j] <= '9') || buf[j] == ';')) j++;
        if (j >= n) break; /* a partial reply at the end */
        unsigned char fin = buf[j];
        int v[16] = {0};
        int nv = parse_params(buf + start, buf + j, v, 16);
        if (priv && fin == 'c') {
            p->da1_seen = 1;
            int k = 0;
            p->da1[k++] = '?';
            for (size_t m = start; m < j && k + 1 < (int)sizeof p->da1; m++) p->da1[k++] = (char)buf[m];
            p->da1[k] = 0;
            for (int m = 0; m < nv && m < 16; m++)
                if (v[m] == 4) p->da1_sixel = 1;
        } else if (priv && fin == 'S' && nv >= 3) {
            /* XTSMGRAPHICS: Pi ; Ps (0 = success) ; values */
            if (v[0] == 1 && v[1] == 0) {
                p->regs_seen = 1;
                p->color_registers = v[2];
            } else if (v[0] == 2 && v[1] == 0 && nv >= 4) {
                p->geom_seen = 1;
                p->sixel_max_w = v[2];
                p->sixel_max_h = v[3];
            }
        } else if (!priv && fin == 't' && nv >= 3 && v[0] == 6) {
            if (v[1] > 0 && v[2] > 0) {
                p->cell_seen = 1;
                p->cell_h = v[1];
                p->cell_w = v[2];
            }
        }
        i = j;
    }
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int graphics_query(int fd_in, int fd_out, int timeout_ms, GraphicsProbe *p)
{
    struct termios saved, raw;
    if (tcgetattr(fd_in, &saved) != 0) return -1;
    raw = saved;
    raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
    raw.c_cc[VMIN] = 0;
    raw.c_cc[VTIME] = 0;
    if (tcsetattr(fd_in, TCSANOW, &raw) != 0) return -1;

    static const char query[] = "\033[16t\033[?1;1;0S\033[?2;1;0S\033[c";
    long t0 = now_ms();
    size_t off = 0;
    while (off < sizeof query - 1) {
        ssize_t w = write(fd_out, query + off, sizeof query - 1 - off);
        if (w < 0 && errno == EINTR && !term_quit_pending()) continue;
        if (w <= 0) break;
        off += (size_t)w;
    }
    p->queried = 1;
    /* Replies can arrive split across reads, so parse the whole buffer each time. */
    unsigned char buf[1024];
    size_t n = 0;
    while (!term_quit_pending()) {
        long left = timeout_ms - (now_ms() - t0);
        if (left <= 0) break;
        struct pollfd pfd = {.fd = fd_in, .events = POLLIN};
        int r = poll(&pfd, 1, (int)left);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        ssize_t got = read(fd_in, buf + n, sizeof buf - n);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break;
        n += (size_t)got;
        GraphicsProbe tmp = *p;
        tmp.n_raw = 0;
        graphics_parse(buf, n, &tmp);
        if (tmp.da1_seen || n == sizeof buf) {
            *p = tmp;
            break;
        }
    }
    if (!p->da1_seen) {
        GraphicsProbe tmp = *p;
        tmp.n_raw = 0;
        graphics_parse(buf, n, &tmp);
        *p = tmp;
        p->timed_out = !p->da1_seen;
    }
    p->elapsed_ms = (int)(now_ms() - t0);
    tcsetattr(fd_in, TCSANOW, &saved);
    return 0;
}

static int plausible_cell(int w, int h) { return w >= 2 && h >= 4 && w <= 200 && h <= 400; }

static void finish_sizes(const GraphicsProbe *p, GraphicsInfo *out)
{
    out->cell_w = GRAPHICS_GUESS_CELL_W;
    out->cell_h = GRAPHICS_GUESS_CELL_H;
    if (p && p->cell_seen && plausible_cell(p->cell_w, p->cell_h)) {
        out->cell_w = p->cell_w;
        out->cell_h = p->cell_h;
        out->cell_measured = 1;
    } else if (p && p->win_cols > 0 && p->win_rows > 0 && p->win_xpixel > 0 && p->win_ypixel > 0 &&
               plausible_cell(p->win_xpixel / p->win_cols, p->win_ypixel / p->win_rows)) {
        out->cell_w = p->win_xpixel / p->win_cols;
        out->cell_h = p->win_ypixel / p->win_rows;
        out->cell_measured = 2;
    } else if (p && p->geom_seen && p->win_cols > 0 && p->win_rows > 0 &&
               plausible_cell(p->sixel_max_w / p->win_cols, p->sixel_max_h / p->win_rows)) {
        out->cell_w = p->sixel_max_w / p->win_cols;
        out->cell_h = p->sixel_max_h / p->win_rows;
        out->cell_measured = 3;
    }
    if (p && p->geom_seen) {
        out->sixel_max_w = p->sixel_max_w;
        out->sixel_max_h = p->sixel_max_h;
    }
    /* Gray radiographs need few levels; fewer registers also keep the payload small. */
    out->color_registers = 64;
    if (p && p->regs_seen && p->color_registers >= 2 && p->color_registers < 64)
        out->color_registers = p->color_registers;
}

void graphics_decide(const GraphicsProbe *p, const GraphicsEnv *e, GraphicsInfo *out)
{
    memset(out, 0, sizeof *out);
    finish_sizes(p, out);
    int m;
    if ((m = graphics_mode_parse(e->override)) >= 0) {
        out->mode = (GraphicsMode)m;
        snprintf(out->reason, sizeof out->reason, "--graphics=%s given", e->override);
        return;
    }
    if ((m = graphics_mode_parse(e->env_override)) >= 0) {
        out->mode = (GraphicsMode)m;
        snprintf(out->reason, sizeof out->reason, "PHENOSCOPE_GRAPHICS=%s in the environment",
                 e->env_override);
        return;
    }
    if (!e->term || !*e->term || strcmp(e->term, "dumb") == 0) {
        out->mode = GRAPHICS_NONE;
        snprintf(out->reason, sizeof out->reason, "TERM is %s: no images",
                 e->term && *e->term ? "dumb" : "unset");
        return;
    }
    if (!e->is_tty || !p || !p->queried) {
        out->mode = GRAPHICS_SYMBOLS;
        snprintf(out->reason, sizeof out->reason,
                 "not a terminal, so no query was sent: symbols (text) images");
        return;
    }
    const char *where = e->in_tmux ? " (answered by tmux)" : e->in_screen ? " (answered by screen)" : "";
    if (!p->da1_seen) {
        out->mode = GRAPHICS_SYMBOLS;
        snprintf(out->reason, sizeof out->reason,
                 "no reply to the device-attributes query within %d ms: symbols", p->elapsed_ms);
        return;
    }
    if (p->da1_sixel) {
        out->mode = GRAPHICS_SIXEL;
        snprintf(out->reason, sizeof out->reason, "device attributes %sc%s list 4 (sixel)",
                 p->da1, where);
        return;
    }
    out->mode = GRAPHICS_SYMBOLS;
    snprintf(out->reason, sizeof out->reason, "device attributes %sc%s do not list 4 (sixel): symbols",
             p->da1, where);
}

void graphics_env_from_process(GraphicsEnv *e, const char *override)
{
    memset(e, 0, sizeof *e);
    e->override = override;
    e->env_override = getenv("PHENOSCOPE_GRAPHICS");
    e->term = getenv("TERM");
    const char *tm = getenv("TMUX");
    e->in_tmux = tm && *tm;
    e->in_screen = !e->in_tmux && e->term && strncmp(e->term, "screen", 6) == 0;
    e->is_tty = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
}

void graphics_detect(const char *override, GraphicsInfo *out, GraphicsProbe *probe)
{
    GraphicsEnv e;
    GraphicsProbe local;
    if (!probe) probe = &local;
    memset(probe, 0, sizeof *probe);
    graphics_env_from_process(&e, override);
    /* Only ask when the answer can matter: an override or a dumb terminal settles it. */
    int need = graphics_mode_parse(e.override) < 0 && graphics_mode_parse(e.env_override) < 0 &&
               e.term && *e.term && strcmp(e.term, "dumb") != 0 && e.is_tty;
    /* With sixel forced, the cell size still matters for sizing images. */
    if (graphics_mode_parse(e.override) == GRAPHICS_SIXEL ||
        graphics_mode_parse(e.env_override) == GRAPHICS_SIXEL)
        need = e.is_tty;
    struct winsize ws;
    if (e.is_tty && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0) {
        probe->win_cols = ws.ws_col;
        probe->win_rows = ws.ws_row;
        probe->win_xpixel = ws.ws_xpixel;
        probe->win_ypixel = ws.ws_ypixel;
    }
    if (need) {
        int timeout = GRAPHICS_DEFAULT_TIMEOUT_MS;
        const char *t = getenv("PHENOSCOPE_PROBE_TIMEOUT_MS");
        if (t && atoi(t) > 0) timeout = atoi(t);
        if (graphics_query(STDIN_FILENO, STDOUT_FILENO, timeout, probe) != 0) probe->queried = 0;
    }
    graphics_decide(probe, &e, out);
}
