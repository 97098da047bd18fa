/*
 * hist: lock-free latency histograms (hist.h): relaxed atomic counters per bucket.
 */
#include "core/hist.h"

void hist_init(hist *h, const double *le, size_t n)
{
    h->le = le;
    h->n_le = n > HIST_MAX_BOUNDS ? HIST_MAX_BOUNDS : n;
    for (size_t i = 0; i <= HIST_MAX_BOUNDS; i++)
        atomic_init(&h->bucket[i], 0);
    atomic_init(&h->sum_us, 0);
}

void hist_observe_us(hist *h, int64_t us)
{
    size_t b = 0;
    if (us < 0)
        us = 0;
    while (b < h->n_le && (double)us / 1e6 > h->le[b])
        b++;
    atomic_fetch_add_explicit(&h->bucket[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_us, (unsigned long long)us, memory_order_relaxed);
}

void hist_read(hist *h, hist_read_t *out)
{
    unsigned long long cum = 0;
    out->le = h->le;
    out->n_le = h->n_le;
    for (size_t i = 0; i <= h->n_le; i++) {
        cum += atomic_load_explicit(&h->bucket[i], memory_order_relaxed);
        out->cum[i] = cum;
    }
    out->sum_s = (double)atomic_load_explicit(&h->sum_us, memory_order_relaxed) / 1e6;
}
