/*
 * config: parsing and validation of ota-device's configuration (see config.h). The table
 * below is the only list of keys; help text and defaults come from it.
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

typedef enum { K_STR, K_LONG } kind_t;

typedef struct {
    const char *name;
    kind_t kind;
    size_t off;
    size_t cap; /* K_STR: buffer size */
    long min, max;
    int required;
    const char *def;
    const char *help;
} key_t_;

#define S(field) K_STR, offsetof(dev_config, field), sizeof(((dev_config *)0)->field), 0, 0
#define L(field, lo, hi) K_LONG, offsetof(dev_config, field), 0, lo, hi

static const key_t_ keys[] = {
    {"broker", S(broker), 0, "",
     "MQTT broker host:port (default: $OTA_MQTTS_ADDR or 127.0.0.1:8883; with tls = off "
     "$OTA_MQTT_ADDR or 127.0.0.1:1883)"},
    {"tls", S(tls), 0, "on",
     "on: MQTT over TLS, the broker's certificate and host name checked against ca; off: "
     "plain MQTT (a trusted network only)"},
    {"ca", S(ca), 0, "",
     "CA file (PEM) the broker's and https:// download server's certificates must chain to "
     "(make run: data/keys/ca.pem) [required with tls = on]"},
    {"cert", S(cert), 0, "", "device certificate (PEM, otactl device cert) to log in with "
                             "instead of device_secret; needs key"},
    {"key", S(key), 0, "", "the device certificate's private key (PEM)"},
    {"product_key", S(product_key), 1, "", "the product's productKey"},
    {"identifier", S(identifier), 1, "", "this device's identifier"},
    {"device_secret", S(device_secret), 0, "",
     "this device's deviceSecret (MQTT password) [required unless cert and key are given]"},
    {"version_file", S(version_file), 1, "",
     "file whose first line is the running firmware version"},
    {"install_hook", S(install_hook), 1, "",
     "shell command that installs $OTA_IMAGE (exit 0 = installed; may reboot)"},
    {"download_dir", S(download_dir), 1, "", "folder for the staged image and its checkpoint"},
    {"log_level", S(log_level), 0, "info", "debug | info | warn | error"},
    {"silent_delay", L(silent_delay_s, -1, 86400 * 30), 0, "0",
     "silent policy: seconds to wait before starting the upgrade; -1 never"},
    {"stall_timeout", L(stall_timeout_s, 1, 3600), 0, "30",
     "seconds without a byte after which a download connection counts as broken"},
    {"download_retries", L(download_retries, 1, 1000), 0, "5",
     "reconnections without progress before reporting a download failure"},
    {"retry_delay_ms", L(retry_delay_ms, 1, 60000), 0, "1000",
     "first wait between reconnections (doubles up to 30 s)"},
    {"progress_every", L(progress_every, 1, 100), 0, "10", "percent between progress reports"},
    {"max_download_rate", L(max_download_rate, 0, 1L << 30), 0, "0",
     "download rate limit in bytes per second (metered links); 0 unlimited"},
    {"trusted_keys", S(trusted_keys), 0, "",
     "Ed25519 public key files (PEM, otactl key create), comma-separated (old and new during "
     "a rotation); set = only firmware signed by one of them, for this product, and not "
     "older than the running version is installed"},
};

#define NKEYS (sizeof keys / sizeof keys[0])

static int set_value(dev_config *c, const key_t_ *k, const char *v, char *err, size_t errlen)
{
    char *dst = (char *)c + k->off;
    if (k->kind == K_STR) {
        size_t n = strlen(v);
        if (n >= k->cap) {
            snprintf(err, errlen, "%s: value longer than %zu characters", k->name, k->cap - 1);
            return -1;
        }
        memcpy(dst, v, n + 1);
        return 0;
    }
    {
        char *end;
        long val;
        errno = 0;
        val = strtol(v, &end, 10);
        if (errno || end == v || *end || val < k->min || val > k->max) {
            snprintf(err, errlen, "%s: expected an integer in %ld..%ld, got '%s'", k->name, k->min,
                     k->max, v);
            return -1;
        }
        memcpy(dst, &val, sizeof val);
        return 0;
    }
}

void dev_config_defaults(dev_config *c)
{
    char err[128];
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < NKEYS; i++)
        set_value(c, &keys[i], keys[i].def, err, sizeof err);
}

static char *trim(char *s)
{
    char *e;
    while (*s == ' ' || *s == '\t')
        s++;
    e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
        *--e = '\0';
    if (e - s >= 2 && s[0] == '"' && e[-1] == '"') {
        e[-1] = '\0';
        s++;
    }
    return s;
}

int dev_config_set(dev_config *c, const char *line, char *err, size_t errlen)
{
    char buf[DEV_VALUE_MAX + 128];
    char *eq, *name, *value;
    if (strlen(line) >= sizeof buf) {
        snprintf(err, errlen, "line too long");
        return -1;
    }
    memcpy(buf, line, strlen(line) + 1);
    eq = strchr(buf, '=');
    if (!eq) {
        snprintf(err, errlen, "expected key = value");
        return -1;
    }
    *eq = '\0';
    name = trim(buf);
    value = trim(eq + 1);
    for (size_t i = 0; i < NKEYS; i++)
        if (strcmp(keys[i].name, name) == 0)
            return set_value(c, &keys[i], value, err, errlen);
    snprintf(err, errlen, "unknown key '%s'", name);
    return -1;
}

int dev_config_load(dev_config *c, const char *path, char *err, size_t errlen)
{
    char line[DEV_VALUE_MAX + 128], msg[256];
    FILE *f = fopen(path, "r");
    int n = 0;
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    while (fgets(line, sizeof line, f)) {
        char *t = line;
        n++;
        while (*t == ' ' || *t == '\t')
            t++;
        if (*t == '#' || *t == '\n' || *t == '\r' || *t == '\0')
            continue;
        if (dev_config_set(c, t, msg, sizeof msg) != 0) {
            snprintf(err, errlen, "%s:%d: %s", path, n, msg);
            fclose(f);
            return -1;
        }
    }
    fclose(f);
    return 0;
}

int dev_config_check(dev_config *c, char *err, size_t errlen)
{
    char *colon, *end;
    long port;
    for (size_t i = 0; i < NKEYS; i++)
        if (keys[i].required && ((char *)c + keys[i].off)[0] == '\0') {
            snprintf(err, errlen, "missing required key '%s'", keys[i].name);
            return -1;
        }
    int tls = strcmp(c->tls, "on") == 0;
    if (!tls && strcmp(c->tls, "off") != 0) {
        snprintf(err, errlen, "tls: expected on or off, got '%s'", c->tls);
        return -1;
    }
    if (tls && !c->ca[0]) {
        snprintf(err, errlen, "ca: required with tls = on (the CA file, e.g. data/keys/ca.pem; "
                              "tls = off for plain MQTT)");
        return -1;
    }
    if (!c->cert[0] != !c->key[0]) {
        snprintf(err, errlen, "%s: cert and key go together", c->cert[0] ? "key" : "cert");
        return -1;
    }
    if (c->cert[0] && !tls) {
        snprintf(err, errlen, "cert: a device certificate needs tls = on");
        return -1;
    }
    if (!c->cert[0] && !c->device_secret[0]) {
        snprintf(err, errlen, "missing required key 'device_secret' (or cert and key)");
        return -1;
    }
    if (!c->broker[0]) {
        const char *env = getenv(tls ? "OTA_MQTTS_ADDR" : "OTA_MQTT_ADDR");
        snprintf(c->broker, sizeof c->broker, "%s",
                 env && env[0] ? env : tls ? "127.0.0.1:8883" : "127.0.0.1:1883");
    }
    colon = strrchr(c->broker, ':');
    if (!colon || colon == c->broker) {
        snprintf(err, errlen, "broker: expected host:port, got '%s'", c->broker);
        return -1;
    }
    errno = 0;
    port = strtol(colon + 1, &end, 10);
    if (errno || *end || port < 1 || port > 65535) {
        snprintf(err, errlen, "broker: bad port in '%s'", c->broker);
        return -1;
    }
    memcpy(c->host, c->broker, (size_t)(colon - c->broker));
    c->host[colon - c->broker] = '\0';
    c->port = (int)port;
    return 0;
}

void dev_config_help(FILE *out)
{
    fprintf(out, "configuration keys (key = value):\n");
    for (size_t i = 0; i < NKEYS; i++)
        fprintf(out, "  %-17s %s%s%s%s\n", keys[i].name, keys[i].help,
                keys[i].required ? " [required]" : "", keys[i].def[0] ? "; default " : "",
                keys[i].def);
}
