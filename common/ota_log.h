/*
 * ota_log: one line per event on stderr, "2026-11-27T21:59:43.123Z INFO  message".
 * Used by otad, the broker plugin (which also forwards to mosquitto_log_printf) and
 * the tools. The device SDK never uses it: the SDK hands log lines to a callback.
 * Thread-safe: each line is written with one write(2) call.
 */
#ifndef OTA_LOG_H
#define OTA_LOG_H

#include <stdarg.h>

typedef enum { OTA_LOG_DEBUG = 0, OTA_LOG_INFO, OTA_LOG_WARN, OTA_LOG_ERROR } ota_log_level;

/* Lines below this level are dropped. Default INFO; OTA_LOG_LEVEL=debug|info|warn|error. */
void ota_log_set_level(ota_log_level level);
ota_log_level ota_log_level_from_name(const char *name, ota_log_level fallback);

void ota_log(ota_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ota_vlog(ota_log_level level, const char *fmt, va_list ap);

#define OTA_DEBUG(...) ota_log(OTA_LOG_DEBUG, __VA_ARGS__)
#define OTA_INFO(...) ota_log(OTA_LOG_INFO, __VA_ARGS__)
#define OTA_WARN(...) ota_log(OTA_LOG_WARN, __VA_ARGS__)
#define OTA_ERROR(...) ota_log(OTA_LOG_ERROR, __VA_ARGS__)

#endif
