/* term.h — the only door to the terminal: curses start/stop, keys, signals, raw writes.
 *
 * Every exit path restores the terminal exactly (termios saved before curses starts is put
 * back after endwin), so `stty -g` reads the same before and after phenoscope. Signal handlers
 * only set flags; the main loop notices them within one getch timeout.
 *
 * A headless mode drives the same code with curses writing to /dev/null and keys taken from a
 * script, so tests and sanitizer builds can run the real TUI without a terminal.
 */
#ifndef TERM_H
#define TERM_H

#ifndef NCURSES_WIDECHAR
#define NCURSES_WIDECHAR 1
#endif
#include <curses.h>
#include <stddef.h>
#include <stdio.h>
#include <termios.h>

#include "store/ps.h"

/* term_getkey results besides curses key codes and characters. */
#define TERM_KEY_NONE (-1)        /* timeout: nothing typed */
#define TERM_KEY_QUIT (-2)        /* SIGINT / SIGTERM / SIGHUP arrived: leave now */
#define TERM_KEY_SCRIPT_END (-3)  /* headless: the key script is used up */
#define TERM_KEY_BAD (-4)         /* term_parse_key: a malformed <token> */

/* Characters from U+0100 up arrive as TERM_KEY_WCHAR_BASE + code point, so they never collide
 * with curses KEY_* codes (which occupy 0401..0777 octal). */
#define TERM_KEY_WCHAR_BASE 0x200000

/* The printable character a key stands for, or -1 (control and function keys). */
static inline int term_key_char(int key)
{
    if (key >= 32 && key < 0x100 && key != 127) return key;
    if (key >= TERM_KEY_WCHAR_BASE + 0x100) return key - TERM_KEY_WCHAR_BASE;
    return -1;
}

typedef struct {
    int headless;         /* 1: curses writes to /dev/null, keys come from keys[] */
    int rows, cols;       /* headless screen size (0: 24x80) */
    const char *keys;     /* headless key script, see term_parse_key */
    const char *term;     /* terminfo name for headless mode (NULL: $TERM, else xterm-256color) */
} TermOptions;

typedef struct {
    SCREEN *scr;
    FILE *out, *in;   /* the streams curses uses (NULL when stdin/stdout) */
    int fd_out;       /* where raw bytes (sixel) go */
    int tty_fd;       /* the terminal whose modes we restore; -1 in headless mode */
    struct termios saved;
    int have_saved;
    int started;
    int headless;
    const char *keys; /* headless script cursor */
    int utf8;         /* the locale's codeset is UTF-8 */
    int colors;       /* COLORS after start_color (0 when the terminal has none) */
} Term;

/* Installs flag-only handlers for SIGINT, SIGTERM, SIGHUP (quit) and SIGWINCH (resize).
 * Call before term_start and before any query that puts the tty in raw mode. */
void term_signals_install(void);
/* The quit signal that arrived (SIGINT, SIGTERM, SIGHUP) or 0. */
int term_quit_signal(void);
/* Whether a quit signal is pending; cheap, for loops outside curses (the graphics probe). */
int term_quit_pending(void);

/* Starts curses (cbreak, no echo, keypad, hidden cursor, colours when the terminal has them).
 * Saves the tty modes first so term_stop can put them back byte for byte. */
PsStatus term_start(Term *t, const TermOptions *o, PsErr *err);

/* Waits up to timeout_ms for a key. Returns a curses key code or character, KEY_RESIZE after
 * a resize (already applied with resizeterm), TERM_KEY_NONE on timeout, TERM_KEY_QUIT when a
 * quit signal arrived. Wide characters arrive as their code point. */
int term_getkey(Term *t, int timeout_ms);

/* Flushes the curses screen to the terminal (one doupdate). */
void term_flush(Term *t);

/* Writes bytes straight to the terminal, bypassing curses (for sixel images, after a flush). */
void term_write_raw(Term *t, const char *buf, size_t n);

/* Ends curses and restores the saved tty modes. Safe to call twice. */
void term_stop(Term *t);

/* Writes the current screen as UTF-8 text, one line per row (headless tests). */
void term_dump_text(Term *t, FILE *f);

/* Parses one key from a headless script at *s and advances *s: plain characters, or
 * <Enter> <Esc> <Tab> <BS> <Up> <Down> <Left> <Right> <PgUp> <PgDn> <Home> <End> <Tick>
 * <Resize:COLSxROWS> ("<<" is a literal '<'). Returns the key (TERM_KEY_NONE for <Tick>), 0 at
 * the end, TERM_KEY_BAD on a malformed token.
 * For <Resize:..>, rows and cols receive the size. */
int term_parse_key(const char **s, int *rows, int *cols);

#endif
