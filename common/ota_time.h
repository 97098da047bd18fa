/*
 * ota_time: wall-clock milliseconds and RFC 3339 UTC formatting/parsing. All times the
 * service stores are Unix epoch milliseconds (int64); the API shows them as RFC 3339.
 */
#ifndef OTA_TIME_H
#define OTA_TIME_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

/* Wall clock, Unix epoch milliseconds. */
int64_t ota_time_now_ms(void);
/* Monotonic clock in milliseconds, for measuring intervals. */
int64_t ota_time_mono_ms(void);
/* The same in microseconds (durations short enough for a histogram of milliseconds). */
int64_t ota_time_mono_us(void);
/* "2026-11-27T21:59:43.123Z" (24 chars + NUL); out must hold at least 32 bytes.
 * Returns out. */
char *ota_time_format_ms(int64_t ms, char *out, size_t outlen);
/* Parses "YYYY-MM-DDTHH:MM:SS[.fff]Z" or with a +hh:mm offset. Returns 0 and sets *ms, or -1. */
int ota_time_parse(const char *s, int64_t *ms);
/* Paces a recurring step: sleeps until gap_ms after *last_us (a monotonic time in us, 0 =
 * never), then sets *last_us to now. A step that comes later than that does not wait; gap_ms
 * <= 0 never waits. */
void ota_time_pace(int64_t *last_us, int gap_ms);
/* pthread_cond_timedwait for at most ms milliseconds from now (mu held). */
int ota_time_cond_wait(pthread_cond_t *c, pthread_mutex_t *mu, int64_t ms);

#endif
