/* latency.h — the TUI's input-to-redraw trace, for `make bench` (tests/bench_tui.sh).
 *
 * Off unless PHENOSCOPE_TRACE_LATENCY names a file. Then, for every key the loop reads, one line
 *     key=<code> read_ns=<t0> done_ns=<t1> ms=<t1-t0> cpu_ms=<c> drew=<0|1> screen=<n>
 * where t0 is CLOCK_MONOTONIC when term_getkey returned the key and t1 when the first frame
 * after it was flushed to the terminal (doupdate and any image bytes written), or, when the key
 * changed nothing on screen, when the loop was ready for the next key; c is the UI thread's CPU
 * time over the same span (on a loaded machine ms - c is time spent waiting for a core). Each line is flushed at
 * once so a driver can wait for it. Costs one branch per loop turn when off.
 *
 * Thread safety: UI thread only.
 */
#ifndef LATENCY_H
#define LATENCY_H

#include <stdint.h>
#include <stdio.h>

typedef struct {
    FILE *f;         /* NULL: tracing off */
    int pending;     /* a key was read and its frame not yet traced */
    int key;
    int64_t read_ns;
    int64_t cpu_ns;  /* the UI thread's CPU time at the read */
} LatencyTrace;

/* Opens the trace named by path (NULL or "" leaves it off). 0 on success or off; -1 when the
 * file cannot be created (tracing stays off; the caller says so). */
int latency_open(LatencyTrace *t, const char *path);
/* A key was just read. */
void latency_key(LatencyTrace *t, int key);
/* The loop finished the turn after a key: drew is 1 when a frame was flushed. */
void latency_done(LatencyTrace *t, int drew, int screen);
void latency_close(LatencyTrace *t);

#endif
