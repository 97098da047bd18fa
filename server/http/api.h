/*
 * api: shared pieces of the management API's route files (routes_api.c,
 * routes_upload.c): JSON shapes of products, devices and firmware, and the streaming
 * handlers of the firmware upload and the device import.
 */
#ifndef OTAD_HTTP_API_H
#define OTAD_HTTP_API_H

#include "http/http.h"

#include "core/reqparse.h"

json_t *api_product_json(const store_product *p);
/* secret: the deviceSecret to include (NULL = none). */
json_t *api_device_json(const store_device *d, const char *secret);
json_t *api_firmware_json(const store_firmware *f);
/* A product's signing key as the API shows it. */
json_t *api_signkey_json(const store_signkey *k);

/* POST /api/v1/firmwares (multipart/form-data) */
int api_firmware_upload_start(http_req *r);
int api_firmware_upload_chunk(http_req *r, const char *data, size_t size);
int api_firmware_upload_end(http_req *r);
/* POST /api/v1/products/{productKey}/devices:import (NDJSON) */
int api_import_start(http_req *r);
int api_import_chunk(http_req *r, const char *data, size_t size);
int api_import_end(http_req *r);

#define API_IMPORT_MAX_DEVICES RQ_IMPORT_MAX_DEVICES
#define API_IMPORT_MAX_LINE RQ_IMPORT_MAX_LINE

#endif
