/*
 * ota_err: the one error vocabulary of otad. Every server module that can fail in more
 * than one way (store, blob reads, mqttc, timerheap, urlsign, devmsg) returns an ota_err; a
 * function whose failures are all alike may still answer plain 0 / -1.
 *
 * OTA_ERRORS(X) is the only list: X(code, value, name, message). It generates the enum,
 * ota_err_name() (a short snake_case token for logs) and ota_strerror() (a sentence).
 * OTA_OK is 0 and every error is negative, so `rc != OTA_OK` and `rc < 0` both test for
 * failure. A new error is one line here; tests/unit/test_ota_err.c checks that names are
 * unique and every code has a message. The device SDK keeps its own public table
 * (OTASDK_ERRORS in include/otasdk/otasdk.h), since it must not depend on the server.
 *
 * These codes are internal: the HTTP API answers with its own status and JSON error
 * names (docs/api.md), mapped from these codes in server/http.
 */
#ifndef OTA_ERR_H
#define OTA_ERR_H

#define OTA_ERRORS(X)                                                                              \
    X(OTA_OK, 0, "ok", "success")                                                                  \
    /* any module */                                                                               \
    X(OTA_EINVAL, -1, "invalid", "invalid argument")                                               \
    X(OTA_ENOMEM, -2, "no_memory", "out of memory")                                                \
    X(OTA_ESTATE, -3, "state", "not allowed in the current state")                                 \
    X(OTA_EIO, -4, "io", "a file could not be read or written")                                    \
    /* store: catalog and batch rules, database */                                                 \
    X(OTA_ENOTFOUND, -10, "not_found", "the row (or the product named) does not exist")            \
    X(OTA_EDUPLICATE, -11, "duplicate", "a uniqueness rule refused the value")                     \
    X(OTA_ELIMIT, -12, "limit", "the product already has its maximum number of firmwares")         \
    X(OTA_EINUSE, -13, "in_use", "the firmware is used by an in_progress batch")                   \
    X(OTA_EDB, -14, "database", "database failure")                                                \
    X(OTA_EFENCED, -15, "fenced", "another instance holds a partition lease this one relied on")   \
    /* mqttc: the server's broker connection */                                                    \
    X(OTA_ENOCONN, -20, "no_connection", "not connected to the broker")                            \
    X(OTA_EMQTTLIB, -21, "mqtt_library", "libmosquitto refused the call")                          \
    /* timerheap */                                                                                \
    X(OTA_EFULL, -30, "full", "the ceiling on entries is reached")                                 \
    X(OTA_EEMPTY, -31, "empty", "nothing to take: empty, or nothing due")                          \
    /* urlsign: signed download links */                                                           \
    X(OTA_EMALFORMED, -40, "malformed", "not a download link, or a missing or bad parameter")      \
    X(OTA_EBADSIG, -41, "bad_signature", "the link's signature does not match")                    \
    X(OTA_EEXPIRED, -42, "expired", "the link has expired")                                        \
    X(OTA_EINTERNAL, -43, "internal", "out of memory or crypto failure")                           \
    /* devmsg: device messages */                                                                  \
    X(OTA_ETOPIC, -50, "topic", "not a known device topic, or a bad product key or identifier")    \
    X(OTA_ETOOBIG, -51, "too_big", "payload over the size limit")                                  \
    X(OTA_EJSON, -52, "json", "not a JSON object, duplicate keys or bad UTF-8")                    \
    X(OTA_EMISSING, -53, "missing", "a required field is absent")                                  \
    X(OTA_ETYPE, -54, "type", "a field has the wrong JSON type")                                   \
    X(OTA_EVALUE, -55, "value", "a field's value is out of range, too long or has bad characters")

typedef enum {
#define OTA_ERR__ENUM(code, value, name, message) code = value,
    OTA_ERRORS(OTA_ERR__ENUM)
#undef OTA_ERR__ENUM
} ota_err;

/* The short name of rc ("not_found"); "unknown" for a value not in the table. Static
 * string, never NULL. */
const char *ota_err_name(int rc);
/* A one-line message for rc; "unknown error" for a value not in the table. Static string,
 * never NULL. */
const char *ota_strerror(int rc);

#endif
