/* screen_train.h — screen 4, Training: the runs recorded in the store, one run live (losses of
 * Algorithm 1 raw and smoothed, validation AUROC per epoch overall and per group, a per-phenotype
 * AUROC strip, samples/s, ETA, best epoch, patience), a form to start a run in this process,
 * pause / resume / stop, and two runs side by side.
 *
 * The screen itself is `screen_train` (declared in app.h); this header exposes the pure helpers
 * its tests use.
 */
#ifndef SCREEN_TRAIN_H
#define SCREEN_TRAIN_H

#include <stddef.h>

/* Exponential moving average of y (NaN skipped, carried over) into out; alpha in (0, 1]. */
void screen_train_smooth(float *out, const float *y, size_t n, double alpha);

/* "1:23:45", "12:05" or "-" for a duration in seconds. */
void screen_train_duration(char *buf, size_t n, double seconds);

#endif
