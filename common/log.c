/*
 * Line logger for otad and the tools. Each event is one line with an RFC 3339 UTC time
 * and a level, written with a single write(2) so lines from threads never interleave.
 * Lines longer than 2 KiB are cut (never grown), so a hostile payload cannot blow it up.
 */
#include "ota_log.h"
#include "ota_time.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static atomic_int log_min = OTA_LOG_INFO;

void ota_log_set_level(ota_log_level level)
{
    atomic_store(&log_min, (int)level);
}

ota_log_level ota_log_level_from_name(const char *name, ota_log_level fallback)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    if (!name)
        return fallback;
    for (int i = 0; i < 4; i++)
        if (strcasecmp(name, names[i]) == 0)
            return (ota_log_level)i;
    return fallback;
}

void ota_vlog(ota_log_level level, const char *fmt, va_list ap)
{
    static const char *tags[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};
    char line[2048];
    char ts[40];
    if ((int)level < atomic_load(&log_min))
        return;
    ota_time_format_ms(ota_time_now_ms(), ts, sizeof ts);
    int n = snprintf(line, sizeof line, "%s %s ", ts, tags[level & 3]);
    if (n < 0)
        return;
    int m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    /* keep the one-line promise even if a message carries a newline */
    for (size_t i = (size_t)n; i < len; i++)
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}

void ota_log(ota_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ota_vlog(level, fmt, ap);
    va_end(ap);
}
