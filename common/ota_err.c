/*
 * ota_err: names and messages of the codes in OTA_ERRORS (ota_err.h), generated from the
 * table; a lookup is one switch, called only on error paths and in logs.
 */
#include "ota_err.h"

const char *ota_err_name(int rc)
{
    switch (rc) {
#define OTA_ERR__NAME(code, value, name, message)                                                  \
    case code:                                                                                     \
        return name;
        OTA_ERRORS(OTA_ERR__NAME)
#undef OTA_ERR__NAME
    }
    return "unknown";
}

const char *ota_strerror(int rc)
{
    switch (rc) {
#define OTA_ERR__MSG(code, value, name, message)                                                   \
    case code:                                                                                     \
        return message;
        OTA_ERRORS(OTA_ERR__MSG)
#undef OTA_ERR__MSG
    }
    return "unknown error";
}
