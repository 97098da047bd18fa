/*
 * ota_log: one line per event on stderr, "2026-11-27T21:59:43.123Z INFO  message".
 * Used by otad, the broker plugin (which also forwards to mosquitto_log_printf) and
 * the tools. The device SDK never uses it: the SDK hands log lines to a callback.
 * Thread-safe: each line is written with one write(2) call.
 */
#ifndef OTA_LOG_H
#define OTA_LOG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { OTA_LOG_DEBUG = 0, OTA_LOG_INFO, OTA_LOG_WARN, OTA_LOG_ERROR } ota_log_level;

/* Lines below this level are dropped. Default INFO; OTA_LOG_LEVEL=debug|info|warn|error. */
void ota_log_set_level(ota_log_level level);
ota_log_level ota_log_level_from_name(const char *name, ota_log_level fallback);

void ota_log(ota_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ota_vlog(ota_log_level level, const char *fmt, va_list ap);

/* Copies in[0..len) to out (cap bytes, cap > 0) with control bytes escaped as the logger
 * writes them (\n \r \t \xHH, and \\ for a backslash); cuts at an escape boundary and
 * always NUL-terminates. Returns the length written. ota_vlog applies it to every message. */
size_t ota_log_escape(char *out, size_t cap, const char *in, size_t len);

/* Per-key rate limit of log lines (common/log_limit.c): each key (e.g. "device pk.id") may
 * write `burst` lines per window_ms; the rest are counted and summed up in one line when
 * the window ends. Thread-safe; fixed memory (slots entries). Freed by ota_log_limit_free
 * (NULL allowed). ota_log_limit_new returns NULL on bad arguments or out of memory. */
typedef struct ota_log_limit ota_log_limit;
ota_log_limit *ota_log_limit_new(size_t slots, int burst, int64_t window_ms);
void ota_log_limit_free(ota_log_limit *l);
/* 1: write the line about key now; 0: dropped (counted). A NULL limit allows everything.
 * Writes the summary of key's previous window first when that window dropped lines. */
int ota_log_limit_allow(ota_log_limit *l, const char *key, int64_t now_ms);
/* Writes the summary line of every key whose window ended with drops (call periodically,
 * so a device that went quiet still gets its count reported). */
void ota_log_limit_flush(ota_log_limit *l, int64_t now_ms);
/* Lines dropped since creation, all keys. */
uint64_t ota_log_limit_dropped(ota_log_limit *l);

#define OTA_DEBUG(...) ota_log(OTA_LOG_DEBUG, __VA_ARGS__)
#define OTA_INFO(...) ota_log(OTA_LOG_INFO, __VA_ARGS__)
#define OTA_WARN(...) ota_log(OTA_LOG_WARN, __VA_ARGS__)
#define OTA_ERROR(...) ota_log(OTA_LOG_ERROR, __VA_ARGS__)

#endif
