/* discretize.h — a stay's events → the T × 76 model input of formats.md §5.
 *
 * The rules are the phenotyping benchmark's Discretizer (mimic3-benchmarks, used by MedFuse):
 *  - events at hours < 0 (before ICU admission) are dropped, as are events after end_hours;
 *  - T = int(end / bin + 1 - 1e-6), i.e. ceil(end / bin) for end > 0; bin k holds the events
 *    with int(hours / bin - 1e-6) == k, so hour 0 and hour 2.0 (bin 2 h) are both in bin 0;
 *  - within a bin the last event of a channel (in array order) wins;
 *  - columns: the 17 channels in catalog order, categorical ones one-hot in the catalog's
 *    category order, continuous ones as the value; then 17 mask columns, 1 = measured in the bin;
 *  - unmeasured bins repeat the channel's previous value, or its normal value (catalog.h) before
 *    the first measurement.
 * Departures, deliberate: T is at least 1 (a stay without events is one bin of normal values, so
 * every stay has an input) and at most max_bins (later events are dropped and counted).
 */
#ifndef DISCRETIZE_H
#define DISCRETIZE_H

#include <stddef.h>

#include "store/catalog.h"
#include "store/store.h"

#define DISCRETIZE_COLS CATALOG_N_INPUTS
#define DISCRETIZE_MASK_COL (CATALOG_N_INPUTS - CATALOG_N_CHANNELS) /* first mask column: 59 */

typedef struct {
    double bin_hours; /* 2.0 as in the paper; 1.0 as MedFuse */
    int max_bins;     /* rows available in the output buffer */
} DiscretizeConfig;

/* bin_hours 2, max_bins 2048 (over 170 days at 2 h). */
DiscretizeConfig discretize_defaults(void);

typedef struct {
    int bins;            /* T, rows written */
    int used;            /* events that made it into a bin */
    int overwritten;     /* events replaced by a later one in the same bin and channel */
    int before_start;    /* hours < 0 */
    int after_end;       /* hours > end_hours */
    int truncated;       /* beyond max_bins */
    int unknown;         /* bad channel, NaN value, or a category not in the catalog */
} DiscretizeStats;

/* Bins for a stay of end_hours (the benchmark's formula), at least 1. */
int discretize_bins(double end_hours, double bin_hours);

/* out (max_bins, 76): rows 0..T-1 written. ev (n) in time order as the store yields them;
 * categorical events carry their text (or, without text, the value is matched to the first
 * category with that score). end_hours <= 0 means "up to the last event". */
PsStatus discretize_stay(float *out, DiscretizeStats *st, const StoreEvent *ev, size_t n,
                         double end_hours, const DiscretizeConfig *cfg, PsErr *err);

/* The benchmark's header for column col: "Heart Rate", "Capillary refill rate->0.0",
 * "mask->pH". */
void discretize_column_name(int col, char *buf, size_t n);

#endif
