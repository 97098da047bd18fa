/*
 * hist: a latency histogram that many threads fill without a lock, read at a scrape in the
 * Prometheus shape (cumulative buckets, sum, count). The bounds are fixed when it is made
 * (a static table of the caller's); an observation is a bucket search over at most
 * HIST_MAX_BOUNDS bounds and two relaxed atomic additions, so it may sit on a hot path
 * (the engine's rounds, every store transaction, every HTTP answer).
 *
 * A read while others observe may see an observation in the count and not yet in the sum
 * (or the other way round): good enough for rates and quantiles; the bucket counts and the
 * count always agree (the count is the sum of the buckets as read).
 */
#ifndef OTAD_HIST_H
#define OTAD_HIST_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define HIST_MAX_BOUNDS 16

typedef struct {
    const double *le; /* upper bounds in seconds, ascending; borrowed (a static table) */
    size_t n_le;      /* <= HIST_MAX_BOUNDS */
    atomic_ullong bucket[HIST_MAX_BOUNDS + 1]; /* not cumulative; the last: above le[n_le-1] */
    atomic_ullong sum_us;
} hist;

/* What a read gives: cum[i] observations <= le[i], cum[n_le] all of them (+Inf). */
typedef struct {
    const double *le;
    size_t n_le;
    unsigned long long cum[HIST_MAX_BOUNDS + 1];
    double sum_s;
} hist_read_t;

/* Sets the bounds (n <= HIST_MAX_BOUNDS, else clipped) and zeroes the counts. */
void hist_init(hist *h, const double *le, size_t n);
/* Counts one duration of us microseconds (negative counts as 0). */
void hist_observe_us(hist *h, int64_t us);
void hist_read(hist *h, hist_read_t *out);

#endif
