/* rng.h — a small deterministic random number generator (xoshiro256** seeded by splitmix64).
 *
 * Same seed, same stream, on every machine: the demo cohort and training both depend on that.
 * The state is a plain struct owned by the caller (no hidden globals), so threads each keep
 * their own and a checkpoint can save and restore it.
 */
#ifndef RNG_H
#define RNG_H

#include <stdint.h>

typedef struct {
    uint64_t s[4];
} Rng;

void rng_seed(Rng *r, uint64_t seed);
/* An independent stream derived from (seed, stream): e.g. one per stay, so that generating
 * stay k does not depend on how many numbers stays 0..k-1 consumed. */
void rng_seed_stream(Rng *r, uint64_t seed, uint64_t stream);
uint64_t rng_u64(Rng *r);
/* Uniform in [0, 1). */
double rng_uniform(Rng *r);
/* Uniform integer in [0, n); n > 0. */
uint64_t rng_below(Rng *r, uint64_t n);
/* Standard normal (Box-Muller, no cached spare so the state alone determines the stream). */
double rng_normal(Rng *r);
/* 1 with probability p. */
int rng_bernoulli(Rng *r, double p);
/* In-place Fisher-Yates shuffle of n 64-bit integers. */
void rng_shuffle_i64(Rng *r, int64_t *a, int64_t n);

#endif
