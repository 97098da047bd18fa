/*
 * ota_tz: UTC offsets of a named time zone ("Asia/Shanghai") from the system's time zone
 * database (the TZif files under $TZDIR or /usr/share/zoneinfo, as Debian's tzdata installs
 * them), without touching the process's TZ: localtime_r() knows one zone per process and
 * changing TZ is not thread-safe, while a batch's maintenance windows (server/core/window.h)
 * each name their own zone and are judged on the engine's thread.
 *
 * What is read: the version 2+ part of the file (64-bit transition times, their UTC
 * offsets). A time after the last transition keeps the last offset: Debian ships "fat"
 * files whose transitions run to 2037. No zone rule is written here.
 * Expected load: one file read per zone when a batch is created or loaded; an offset
 * lookup is a binary search over a few hundred transitions.
 */
#ifndef OTA_TZ_H
#define OTA_TZ_H

#include <stddef.h>
#include <stdint.h>

#define OTA_TZ_NAME_MAX 64         /* bytes of a zone name, NUL excluded */
#define OTA_TZ_MAX_TRANSITIONS 2000 /* a zone with more is refused */

typedef struct {
    char name[OTA_TZ_NAME_MAX + 1];
    size_t n;          /* transitions */
    int64_t *at;       /* n transition times, epoch seconds, ascending (owned) */
    int32_t *off;      /* n offsets in seconds east of UTC from each transition (owned) */
    int32_t off_before; /* the offset before the first transition */
} ota_tz;

/* 1 when name looks like a zone name: 1..OTA_TZ_NAME_MAX of [A-Za-z0-9_+-/], no "..",
 * not starting with '/'. It says nothing of whether the zone exists (ota_tz_load). */
int ota_tz_name_ok(const char *name);
/* Loads zone name into *out (free with ota_tz_free). 0, or -1 when the name is bad, the
 * zone is not in the database or its file is not a TZif file of version 2 or later. */
int ota_tz_load(const char *name, ota_tz *out);
/* Frees what *tz owns; NULL and a zeroed tz are fine. */
void ota_tz_free(ota_tz *tz);
/* Seconds east of UTC in the zone at t_ms (epoch milliseconds). */
int32_t ota_tz_offset(const ota_tz *tz, int64_t t_ms);

#endif
