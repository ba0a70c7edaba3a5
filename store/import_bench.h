/* import_bench.h — the output of the MIMIC-IV phenotyping benchmark pipeline (mimic3-benchmarks
 * as adapted by MedFuse), for users who already ran it.
 *
 * Reads DIR/root/all_stays.csv (stay details, patients) and the phenotyping task: the listfiles
 * (`stay,period_length,stay_id,<25 phenotypes>`) and the per-stay timeseries files they name
 * (`Hours,<17 variables>`, already cleaned and cut by the pipeline). Splits: MedFuse's
 * DIR/phenotyping/{train,val,test}_listfile.csv when present, else the benchmark's
 * DIR/phenotyping/{train,test}/listfile.csv (validation then stays empty). Timeseries files are
 * looked up in phenotyping/train/ and phenotyping/test/.
 *
 * Writes patients, stays, labels, events and the funnel (stays in all_stays.csv, then stays in
 * the listfiles), then recomputes pairs. Batches of stays are transactions with a records-done
 * count per listfile, so a killed import resumes; bad rows are reported "file:line: reason".
 */
#ifndef IMPORT_BENCH_H
#define IMPORT_BENCH_H

#include <stdint.h>

#include "store/ps.h"
#include "store/store.h"

typedef struct {
    const char *dir;
    int64_t batch_stays; /* stays per transaction; 0: 500 */
    void (*on_bad_row)(void *ctx, const char *msg);
    int (*on_progress)(void *ctx, const char *file, int64_t records, uint64_t bytes,
                       uint64_t total_bytes);
    void *ctx;
} ImportBenchOptions;

typedef struct {
    int medfuse_listfiles; /* 1: {train,val,test}_listfile.csv were used */
    int resumed, already_done;
    int64_t funnel[2]; /* stays in all_stays.csv; stays in the listfiles (imported) */
    int64_t per_split[3];
    int64_t events;
    int64_t bad_rows;
} ImportBenchStats;

PsStatus import_bench_run(Store *st, const ImportBenchOptions *opt, ImportBenchStats *stats,
                          PsErr *err);

#endif
