/*
 * config: the ota-device configuration file. One table (name, required, default, help)
 * drives parsing, validation, the defaults and `ota-device -h`, in the manner of Redis's
 * config table. Format: `key = value` lines, `#` comments, blank lines ignored; a value
 * runs to the end of the line (spaces kept), surrounding double quotes are removed.
 */
#ifndef OTA_DEVICE_CONFIG_H
#define OTA_DEVICE_CONFIG_H

#include <stdio.h>

#define DEV_VALUE_MAX 1024

typedef struct {
    char broker[256]; /* host:port; "" = 127.0.0.1:8883 ($OTA_MQTTS_ADDR), 1883 with tls off */
    char tls[8];      /* "on" (default) or "off" (plain MQTT: a trusted network only) */
    char ca[DEV_VALUE_MAX];   /* CA file the broker and download server must chain to */
    char cert[DEV_VALUE_MAX]; /* device certificate (PEM) instead of device_secret */
    char key[DEV_VALUE_MAX];  /* its private key */
    char product_key[65];
    char identifier[65];
    char device_secret[129];
    char version_file[DEV_VALUE_MAX];
    char install_hook[DEV_VALUE_MAX];
    char download_dir[DEV_VALUE_MAX];
    char log_level[16];
    long silent_delay_s;    /* silent policy: start after this many seconds; < 0 never */
    long stall_timeout_s;   /* a download without a byte for this long is broken */
    long download_retries;  /* reconnections without progress before "download failed" */
    long retry_delay_ms;    /* first wait between reconnections */
    long progress_every;    /* percent between two progress reports */
    long max_download_rate; /* bytes per second, 0 = unlimited */
    char trusted_keys[DEV_VALUE_MAX]; /* comma-separated Ed25519 public key files (PEM) */
    /* derived */
    char host[256];
    int port;
} dev_config;

/* Sets every default. */
void dev_config_defaults(dev_config *c);
/* Applies "key=value" or "key = value". Returns 0, or -1 with a message in err. */
int dev_config_set(dev_config *c, const char *line, char *err, size_t errlen);
/* Reads a file of such lines. Returns 0, or -1 with "path:line: message" in err. */
int dev_config_load(dev_config *c, const char *path, char *err, size_t errlen);
/* Checks required keys and the TLS keys (tls on needs ca; cert and key go together and
 * replace device_secret), fills the broker default (OTA_MQTTS_ADDR / OTA_MQTT_ADDR when set)
 * and derives host/port. Returns 0, or -1 with a message. */
int dev_config_check(dev_config *c, char *err, size_t errlen);
/* Prints the keys with their help and defaults. */
void dev_config_help(FILE *out);

#endif
