/* graphics.h — what the terminal can show: sixel images, symbol art, or no images at all.
 *
 * Detection happens once, before curses starts: one batched write of three queries
 *   CSI 16 t          cell size in pixels        reply CSI 6 ; height ; width t
 *   CSI ? 1 ; 1 ; 0 S XTSMGRAPHICS colour registers  reply CSI ? 1 ; 0 ; n S
 *   CSI ? 2 ; 1 ; 0 S XTSMGRAPHICS sixel geometry    reply CSI ? 2 ; 0 ; w ; h S
 *   CSI c             primary device attributes  reply CSI ? a ; b ; ... c  (4 = sixel)
 * DA1 goes last: every terminal answers it, and answers in order, so its reply means no other
 * reply is coming. The replies are read from the tty in raw mode with a timeout generous
 * enough for SSH. `--graphics=` and $PHENOSCOPE_GRAPHICS override the result.
 */
#ifndef GRAPHICS_H
#define GRAPHICS_H

#include <stddef.h>

typedef enum { GRAPHICS_NONE = 0, GRAPHICS_SYMBOLS = 1, GRAPHICS_SIXEL = 2 } GraphicsMode;

#define GRAPHICS_DEFAULT_TIMEOUT_MS 1500
#define GRAPHICS_GUESS_CELL_W 10
#define GRAPHICS_GUESS_CELL_H 20

/* What the terminal said. Plain data, so tests can build one by hand. */
typedef struct {
    int queried;                    /* the query was written */
    int timed_out;                  /* no DA1 reply within the timeout */
    int elapsed_ms;
    int da1_seen, da1_sixel;        /* DA1 arrived; it lists attribute 4 */
    char da1[64];                   /* DA1 parameters as received, e.g. "?1;2" (printable only) */
    int regs_seen, color_registers; /* XTSMGRAPHICS colour registers */
    int geom_seen, sixel_max_w, sixel_max_h; /* XTSMGRAPHICS sixel geometry */
    int cell_seen, cell_w, cell_h;  /* CSI 16 t */
    size_t n_raw;                   /* bytes received */
    /* TIOCGWINSZ, for cell size when CSI 16 t goes unanswered (xterm disables it by
     * default): pixels / cells, or else the sixel geometry / cells (xterm reports its
     * window there). 0 when unknown. */
    int win_cols, win_rows, win_xpixel, win_ypixel;
} GraphicsProbe;

typedef struct {
    GraphicsMode mode;
    int cell_w, cell_h;         /* pixels per cell (measured, else a 10x20 guess) */
    int cell_measured;          /* 1: CSI 16 t; 2: window pixels / cells; 3: sixel geometry / cells */
    int sixel_max_w, sixel_max_h; /* 0 when unknown */
    int color_registers;        /* sixel palette size to use */
    char reason[320];           /* one line: why this mode */
} GraphicsInfo;

/* Inputs to the decision besides the probe, taken from the environment by graphics_detect. */
typedef struct {
    const char *override;     /* --graphics value or NULL */
    const char *env_override; /* $PHENOSCOPE_GRAPHICS or NULL */
    const char *term;         /* $TERM */
    int in_tmux;              /* $TMUX set */
    int in_screen;            /* TERM starts with "screen" and not tmux */
    int is_tty;               /* stdin and stdout are terminals */
} GraphicsEnv;

/* Parses terminal replies (any order, any mix, partial trailing bytes ignored) into p's
 * reply fields. Leaves queried/timed_out/elapsed_ms alone. */
void graphics_parse(const unsigned char *buf, size_t n, GraphicsProbe *p);

/* Writes the batched query to fd_out and reads replies from fd_in (a tty, put in raw mode
 * for the duration and restored) until DA1 arrives or timeout_ms passes. Returns 0, or -1
 * when the tty modes could not be read/set (nothing was written then). A pending quit
 * signal (term_quit_pending) ends the wait early. */
int graphics_query(int fd_in, int fd_out, int timeout_ms, GraphicsProbe *p);

/* The decision: probe + environment -> mode, sizes and a reason. Pure. */
void graphics_decide(const GraphicsProbe *p, const GraphicsEnv *e, GraphicsInfo *out);

/* Fills e from the process environment and override (the --graphics value or NULL). */
void graphics_env_from_process(GraphicsEnv *e, const char *override);

/* Everything: environment, the query when it is needed, the decision. probe may be NULL. */
void graphics_detect(const char *override, GraphicsInfo *out, GraphicsProbe *probe);

/* "sixel", "symbols" or "none". */
const char *graphics_mode_name(GraphicsMode m);
/* Parses "sixel" / "symbols" / "none"; -1 when unknown. */
int graphics_mode_parse(const char *s);

#endif
