/*
 * otad's entry point: read the configuration (environment, then flags), then hand over
 * to otad_run. Everything else lives in otadcore so tests link the same code.
 */
#include "core/config.h"
#include "http/http.h"
#include "otad.h"

#include "ota_log.h"

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
    if (cfg.init_only)
        return otad_init_only(&cfg);
    return otad_run(&cfg);
}
