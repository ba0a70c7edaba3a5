/* latency.c — the input-to-redraw trace (see latency.h). It only timestamps and writes lines;
 * the statistics (p50, p95, max) are the bench script's. */
#include "ui/latency.h"

#include <string.h>
#include <time.h>

static int64_t clock_ns(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int latency_open(LatencyTrace *t, const char *path)
{
    memset(t, 0, sizeof *t);
    if (!path || !path[0]) return 0;
    t->f = fopen(path, "w");
    return t->f ? 0 : -1;
}

void latency_key(LatencyTrace *t, int key)
{
    if (!t->f) return;
    t->pending = 1;
    t->key = key;
    t->read_ns = clock_ns(CLOCK_MONOTONIC);
    t->cpu_ns = clock_ns(CLOCK_THREAD_CPUTIME_ID);
}

void latency_done(LatencyTrace *t, int drew, int screen)
{
    if (!t->f || !t->pending) return;
    int64_t done = clock_ns(CLOCK_MONOTONIC), cpu = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    t->pending = 0;
    fprintf(t->f, "key=%d read_ns=%lld done_ns=%lld ms=%.3f cpu_ms=%.3f drew=%d screen=%d\n",
            t->key, (long long)t->read_ns, (long long)done, (double)(done - t->read_ns) / 1e6,
            (double)(cpu - t->cpu_ns) / 1e6, drew, screen + 1);
    fflush(t->f);
}

void latency_close(LatencyTrace *t)
{
    if (t->f) fclose(t->f);
    t->f = NULL;
}
