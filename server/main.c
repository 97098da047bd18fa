/*
 * otad's entry point: read the configuration (environment, then flags), then hand over
 * to otad_run. Everything else lives in otadcore so tests link the same code.
 */
#include "core/config.h"
#include "http/http.h"
#include "otad.h"

#include "ota_crypto.h"
#include "ota_log.h"

#include <errno.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    cfg_t cfg;
    char err[512];
    if (cfg_load(&cfg, argc, argv, err, sizeof err) != 0) {
        fprintf(stderr, "otad: %s\n", err);
        return 2;
    }
    if (cfg.help) {
        cfg_print_help(stdout);
        return 0;
    }
    if (cfg.list_routes) {
        http_list_routes(stdout);
        return 0;
    }
    ota_log_set_level(ota_log_level_from_name(cfg.log_level, OTA_LOG_INFO));
    if (cfg.broker_token) {
        /* the token brokers other than the plugin present to /api/v1/broker/... */
        char path[CFG_STR_MAX + 32], tok[OTA_DEVICE_SECRET_LEN + 1];
        unsigned char key[OTA_KEY_BYTES];
        snprintf(path, sizeof path, "%s/keys/server.key", cfg.data_dir);
        if (ota_key_load(path, 0, key) != 0) {
            fprintf(stderr, "otad: cannot read the server key %s: %s (run otad --init-only first)\n",
                    path, ota_key_strerror(errno));
            return 1;
        }
        if (ota_secret_broker_http(key, tok, sizeof tok) != 0) {
            fprintf(stderr, "otad: cannot derive the broker token\n");
            return 1;
        }
        printf("%s\n", tok);
        return 0;
    }
    if (cfg.init_only)
        return otad_init_only(&cfg);
    return otad_run(&cfg);
}
