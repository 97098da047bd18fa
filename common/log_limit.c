/*
 * Per-key rate limit for log lines about outside parties (a device, an address). A device
 * that sends malformed messages as fast as the broker lets it would otherwise write
 * thousands of warning lines a second into otad's log, drowning everything else. Each key
 * may write `burst` lines per window; further lines are counted, not written, and when the
 * window ends the key's next line (or ota_log_limit_flush, called periodically) writes one
 * summary line with the count of what was dropped.
 *
 * Memory is fixed at creation: a table of `slots` entries addressed by a hash of the key.
 * Two keys sharing a slot take it in turns; the key that loses the slot has its summary
 * written first, so no drop goes unreported. Cost per call: one hash, one mutex, no
 * allocation. Expected load: one call per logged event about a device.
 */
#include "ota_log.h"

#include <pthread.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define KEY_MAX 112

typedef struct {
    char key[KEY_MAX];
    int64_t window_start; /* ms; 0 = slot unused */
    int written;          /* lines written in this window */
    uint64_t dropped;     /* lines dropped in this window */
} slot;

struct ota_log_limit {
    pthread_mutex_t mu;
    size_t n;
    int burst;
    int64_t window_ms;
    uint64_t total_dropped;
    size_t dropping; /* slots with dropped > 0: ota_log_limit_flush has nothing to do at 0 */
    slot *s;
};

ota_log_limit *ota_log_limit_new(size_t slots, int burst, int64_t window_ms)
{
    if (slots == 0 || burst < 1 || window_ms < 1)
        return NULL;
    ota_log_limit *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->s = calloc(slots, sizeof *l->s);
    if (!l->s) {
        free(l);
        return NULL;
    }
    pthread_mutex_init(&l->mu, NULL);
    l->n = slots;
    l->burst = burst;
    l->window_ms = window_ms;
    return l;
}

void ota_log_limit_free(ota_log_limit *l)
{
    if (!l)
        return;
    pthread_mutex_destroy(&l->mu);
    free(l->s);
    free(l);
}

static uint64_t hash(const char *k)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *k; k++)
        h = (h ^ (unsigned char)*k) * 1099511628211ULL;
    return h;
}

/* Writes the summary of s's window if it dropped anything, and resets the counters. */
static void summarize(ota_log_limit *l, slot *s, int64_t now_ms)
{
    if (s->dropped > 0) {
        l->dropping--;
        OTA_WARN("log limit: %llu more lines about %s dropped in %lld s (at most %d per %lld s)",
                 (unsigned long long)s->dropped, s->key,
                 (long long)((now_ms - s->window_start) / 1000), l->burst,
                 (long long)(l->window_ms / 1000));
    }
    s->dropped = 0;
    s->written = 0;
    s->window_start = now_ms;
}

int ota_log_limit_allow(ota_log_limit *l, const char *key, int64_t now_ms)
{
    if (!l)
        return 1;
    if (now_ms <= 0)
        now_ms = 1;
    pthread_mutex_lock(&l->mu);
    slot *s = &l->s[hash(key) % l->n];
    if (s->window_start == 0 || strncmp(s->key, key, KEY_MAX - 1) != 0) {
        if (s->window_start != 0)
            summarize(l, s, now_ms);
        snprintf(s->key, sizeof s->key, "%s", key);
        s->window_start = now_ms;
        s->written = 0;
    } else if (now_ms - s->window_start >= l->window_ms) {
        summarize(l, s, now_ms);
    }
    int ok = s->written < l->burst;
    if (ok) {
        s->written++;
    } else {
        if (s->dropped++ == 0)
            l->dropping++;
        l->total_dropped++;
    }
    pthread_mutex_unlock(&l->mu);
    return ok;
}

void ota_log_limit_flush(ota_log_limit *l, int64_t now_ms)
{
    if (!l)
        return;
    pthread_mutex_lock(&l->mu);
    for (size_t i = 0; i < l->n && l->dropping > 0; i++) {
        slot *s = &l->s[i];
        if (s->window_start != 0 && s->dropped > 0 && now_ms - s->window_start >= l->window_ms)
            summarize(l, s, now_ms);
    }
    pthread_mutex_unlock(&l->mu);
}

uint64_t ota_log_limit_dropped(ota_log_limit *l)
{
    if (!l)
        return 0;
    pthread_mutex_lock(&l->mu);
    uint64_t n = l->total_dropped;
    pthread_mutex_unlock(&l->mu);
    return n;
}
