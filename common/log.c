/*
 * Line logger for otad and the tools. Each event is one line with an RFC 3339 UTC time
 * and a level, written with a single write(2) so lines from threads never interleave.
 * Lines longer than 2 KiB are cut (never grown), so a hostile payload cannot blow it up.
 *
 * Messages carry outside strings (request paths, topics, device identifiers), so the
 * formatter escapes every control byte once, here, for all of them: a newline cannot forge
 * a second line and an escape sequence cannot drive the reader's terminal. Bytes 0x00-0x1f
 * and 0x7f become \n, \r, \t or \xHH, and a backslash becomes \\ so the escaped form
 * reads back unambiguously. Other bytes (UTF-8 text) pass unchanged. The cost is one pass
 * over the message, next to the vsnprintf that formats it.
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

size_t ota_log_escape(char *out, size_t cap, const char *in, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    if (cap == 0)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        char esc[4];
        size_t k = 0;
        if (c >= 0x20 && c != 0x7f && c != '\\') {
            if (o + 1 >= cap)
                break;
            out[o++] = (char)c;
            continue;
        }
        esc[k++] = '\\';
        if (c == '\\' || c == '\n' || c == '\r' || c == '\t') {
            esc[k++] = c == '\\' ? '\\' : c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
        } else {
            esc[k++] = 'x';
            esc[k++] = hex[c >> 4];
            esc[k++] = hex[c & 15];
        }
        if (o + k >= cap) /* never cut an escape in half */
            break;
        memcpy(out + o, esc, k);
        o += k;
    }
    out[o] = '\0';
    return o;
}

void ota_vlog(ota_log_level level, const char *fmt, va_list ap)
{
    static const char *tags[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};
    char line[2048];
    char msg[2048];
    char ts[40];
    if ((int)level < atomic_load(&log_min))
        return;
    ota_time_format_ms(ota_time_now_ms(), ts, sizeof ts);
    int n = snprintf(line, sizeof line, "%s %s ", ts, tags[level & 3]);
    if (n < 0)
        return;
    int m = vsnprintf(msg, sizeof msg, fmt, ap);
    size_t mlen = m < 0 ? 0 : (size_t)m;
    if (mlen > sizeof msg - 1)
        mlen = sizeof msg - 1;
    /* one line, whatever the message carries; room is kept for the final newline */
    size_t len = (size_t)n + ota_log_escape(line + n, sizeof line - 1 - (size_t)n, msg, mlen);
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
