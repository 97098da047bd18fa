/*
 * routes_upload: the two streaming request bodies of the management API.
 *
 * Firmware upload (multipart/form-data): the form parser of core/reqparse.c splits the
 * parts and checks the fields (kept under small ceilings); the "file" part streams into a
 * temp file while MD5 and SHA-256 are computed (firmware_files.c). The first broken rule is kept
 * and the rest of the body discarded; the answer names the field. A "signature" field is
 * checked against the manifest of the uploaded bytes (common/ota_sign.h) with each active
 * signing key of the product before anything is placed; the store then re-checks, in the
 * row's transaction, that the key is still active and that an unsigned upload is allowed
 * (core/rules.c). Nothing is left behind
 * on any error: the temp file is removed, and the row is committed only after the file
 * is in place.
 *
 * Device import (NDJSON): lines are cut as they arrive (a line is at most 4 KiB), each
 * parsed and validated (core/reqparse.c), and spooled to an unlinked temp file; at the end all
 * are inserted in one store transaction (so the write lock is not held while a slow client
 * sends). The first bad line aborts it all and is reported by number. Memory stays
 * bounded whatever the size.
 */
#include "http/api.h"
#include "http/firmware_files.h"

#include "core/reqparse.h"
#include "core/validate.h"
#include "ota_log.h"
#include "ota_sign.h"
#include "ota_time.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define FIELD_MAX 1024 /* bytes of one text field; the rules allow far less */
#define MULTIPART_SLACK (1024 * 1024)

/* ---- shared: the first error of a streamed request ------------------------------------- */

static int send_err(http_req *r, const rq_error *e)
{
    json_t *err = json_pack("{s:s, s:s}", "code", e->code, "message", e->msg);
    if (!err)
        err = json_pack("{s:s, s:s}", "code", e->code, "message", "Invalid request.");
    if (e->field[0])
        json_object_set_new(err, "field", json_string(e->field));
    if (e->line)
        json_object_set_new(err, "line", json_integer(e->line));
    OTA_DEBUG("http: %s %s -> %u %s", r->method, r->url, e->status, e->code);
    return http_send_json(r, e->status, json_pack("{s:o}", "error", err));
}

static void copy_str(char *dst, size_t dstlen, const char *src)
{
    size_t n = strnlen(src, dstlen - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* ---- firmware upload ------------------------------------------------------------------ */

/* The form (core/reqparse.c) parses and checks; this file adds the temp file the file
 * part streams into and the store row. */
typedef struct {
    http_req *r;
    rq_form form;
    int file_open;
    fwup up;
} upload_state;

static void upload_fail_file(upload_state *u)
{
    if (u->file_open) {
        fwup_discard(&u->up);
        u->file_open = 0;
    }
}

static void upload_free(void *p)
{
    upload_state *u = p;
    if (!u)
        return;
    rq_form_free(&u->form);
    upload_fail_file(u);
    free(u);
}

static int sink_begin(void *ud)
{
    upload_state *u = ud;
    if (fwup_begin(u->r->app, &u->up) != 0)
        return -1;
    u->file_open = 1;
    return 0;
}

static int sink_write(void *ud, const char *d, size_t n)
{
    upload_state *u = ud;
    return fwup_write(&u->up, d, n);
}

int api_firmware_upload_start(http_req *r)
{
    if (!http_content_type_is(r, "multipart/form-data")) {
        http_send_error(r, 415, "unsupported_media_type", NULL,
                        "The firmware must be uploaded as multipart/form-data.");
        return -1;
    }
    const char *cl = http_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl) {
        char *end;
        unsigned long long n = strtoull(cl, &end, 10);
        if (!*end && n > (unsigned long long)VALID_FIRMWARE_MAX_BYTES + MULTIPART_SLACK) {
            http_send_error(r, 413, "too_large", "file",
                            "The firmware file is larger than 100 MB (104857600 bytes).");
            return -1;
        }
    }
    upload_state *u = calloc(1, sizeof *u);
    if (!u)
        abort();
    u->r = r;
    rq_file_sink sink = {sink_begin, sink_write, u};
    if (rq_form_init(&u->form, http_header(r, MHD_HTTP_HEADER_CONTENT_TYPE),
                     (uint64_t)VALID_FIRMWARE_MAX_BYTES, sink) != 0) {
        send_err(r, &u->form.err);
        upload_free(u);
        return -1;
    }
    r->state = u;
    r->state_free = upload_free;
    return 0;
}

int api_firmware_upload_chunk(http_req *r, const char *data, size_t size)
{
    upload_state *u = r->state;
    if (rq_form_feed(&u->form, data, size) != 0) {
        upload_fail_file(u);
        return -1;
    }
    return 0;
}

/* The signing key of in's product that verifies the form's signature over the manifest
 * of in: 0 with in->key_id and in->signature set, or -1 with e set (422 signature; 422
 * productKey when the product does not exist; 500). */
static int upload_verify(http_req *r, const rq_form *f, store_firmware *in, rq_error *e)
{
    char manifest[OTA_SIGN_MANIFEST_MAX];
    store_signkey *keys = NULL;
    size_t n = 0;
    int len = ota_sign_manifest(in->product_key, in->version, in->size, in->sha256, manifest,
                                sizeof manifest);
    if (len < 0) {
        rq_fail(e, 500, "internal", NULL, "The manifest could not be built.");
        return -1;
    }
    ota_err rc = store_signkey_list(r->app->store, in->product_key, &keys, &n);
    if (rc == OTA_ENOTFOUND) {
        rq_fail(e, 422, "unknown_product", "productKey", "The product does not exist.");
        return -1;
    }
    if (rc != OTA_OK) {
        rq_fail(e, 500, "internal", NULL, "The upload could not be stored.");
        return -1;
    }
    for (size_t i = 0; i < n && !in->key_id[0]; i++) {
        unsigned char raw[OTA_SIGN_PUB_BYTES];
        if (keys[i].retired_ms ||
            ota_sign_pubkey_pem(keys[i].public_key, strlen(keys[i].public_key), raw, NULL) != 0)
            continue;
        if (ota_sign_verify(raw, manifest, (size_t)len, f->signature))
            copy_str(in->key_id, sizeof in->key_id, keys[i].key_id);
    }
    free(keys);
    if (!in->key_id[0]) {
        rq_fail(e, 422, "invalid_signature", "signature",
                "No active signing key of the product verifies the signature over this "
                "firmware's manifest (productKey, firmwareVersion, size, sha256).");
        return -1;
    }
    copy_str(in->signature, sizeof in->signature, f->field[RQ_F_SIGNATURE]);
    return 0;
}

int api_firmware_upload_end(http_req *r)
{
    upload_state *u = r->state;
    rq_form *f = &u->form;
    int ret;
    if (rq_form_finish(f) == 0 && fwup_finish(&u->up) != 0)
        rq_fail(&f->err, 500, "internal", NULL, "The upload could not be stored.");
    if (f->err.status) {
        upload_fail_file(u);
        return send_err(r, &f->err);
    }

    store_firmware in, out;
    const char *field = NULL;
    memset(&in, 0, sizeof in);
    /* the validators bound every value well below these buffers */
    copy_str(in.product_key, sizeof in.product_key, f->field[RQ_F_PRODUCT]);
    copy_str(in.name, sizeof in.name, f->field[RQ_F_NAME]);
    copy_str(in.version, sizeof in.version, f->field[RQ_F_VERSION]);
    copy_str(in.description, sizeof in.description, f->field[RQ_F_DESC]);
    copy_str(in.file_name, sizeof in.file_name, f->file_name);
    in.size = (int64_t)u->up.size;
    memcpy(in.md5, u->up.md5_hex, sizeof in.md5);
    memcpy(in.sha256, u->up.sha256_hex, sizeof in.sha256);
    memcpy(in.sha1, u->up.sha1_hex, sizeof in.sha1);
    if (f->has_signature && upload_verify(r, f, &in, &f->err) != 0) {
        upload_fail_file(u);
        return send_err(r, &f->err);
    }

    fwfiles_lock(r->app);
    ota_err rc = OTA_EDB;
    if (fwup_place(r->app, &u->up) == 0) {
        rc = store_firmware_create(r->app->store, &in, ota_time_now_ms(), &out, &field);
        if (rc != OTA_OK)
            fwfiles_remove_if_unused(r->app, in.sha256);
    }
    fwfiles_unlock(r->app);
    upload_fail_file(u);

    switch (rc) {
    case OTA_OK:
        OTA_INFO("api: firmware %lld (%s %s, %lld bytes, sha256 %s) added", (long long)out.id,
                 out.product_key, out.version, (long long)out.size, out.sha256);
        ret = http_send_json(r, 201, api_firmware_json(&out));
        break;
    case OTA_ENOTFOUND:
        ret =
            http_send_error(r, 422, "unknown_product", "productKey", "The product does not exist.");
        break;
    case OTA_EDUPLICATE:
        if (field && strcmp(field, "firmwareVersion") == 0)
            ret = http_send_error(r, 409, "duplicate", "firmwareVersion",
                                  "The product already has a firmware with this version.");
        else
            ret = http_send_error(r, 409, "duplicate", "firmwareName",
                                  "A firmware with this name already exists.");
        break;
    case OTA_ELIMIT:
        ret = http_send_error(r, 422, "limit_exceeded", "productKey",
                              "The product already has 50 firmwares; delete one first.");
        break;
    case OTA_EINVAL:
        if (in.key_id[0])
            ret = http_send_error(r, 422, "invalid_signature", "signature",
                                  "The signing key was retired during the upload.");
        else
            ret = http_send_error(r, 422, "signature_required", "signature",
                                  "The product requires signed firmware: give a signature.");
        break;
    default:
        ret = http_send_error(r, 500, "internal", NULL, "The firmware could not be stored.");
    }
    return ret;
}

/* ---- device import ---------------------------------------------------------------------- */

/* Validated lines are spooled to an unlinked temp file as "LINENO\tIDENTIFIER\tNAME\n"
 * (neither field can hold a tab or a newline), so the database write lock is taken only
 * at the end, for the inserts, and never for as long as a slow client takes to send. */
typedef struct {
    FILE *spool;
    rq_error err;
    rq_lines lines; /* the line cutter (core/reqparse.c) */
    int64_t devices;
} import_state;

static void import_free(void *p)
{
    import_state *s = p;
    if (!s)
        return;
    if (s->spool)
        fclose(s->spool); /* already unlinked: nothing is left on disk */
    free(s);
}

int api_import_start(http_req *r)
{
    const char *key = http_param(r, "productKey");
    char path[CFG_STR_MAX + 64];
    store_product p;
    if (!http_content_type_is(r, "application/x-ndjson") &&
        !http_content_type_is(r, "application/ndjson") &&
        !http_content_type_is(r, "application/jsonl")) {
        http_send_error(r, 415, "unsupported_media_type", NULL,
                        "The import body must be application/x-ndjson: one JSON object a line.");
        return -1;
    }
    ota_err rc =
        valid_product_key(key) == 0 ? store_product_get(r->app->store, key, &p) : OTA_ENOTFOUND;
    if (rc != OTA_OK) {
        http_send_store_error(r, rc, "product");
        return -1;
    }
    import_state *s = calloc(1, sizeof *s);
    if (!s)
        abort();
    snprintf(path, sizeof path, "%s/tmp/import-XXXXXX", r->app->data_dir);
    int fd = mkostemp(path, O_CLOEXEC);
    if (fd >= 0) {
        unlink(path);
        s->spool = fdopen(fd, "w+");
        if (!s->spool)
            close(fd);
    }
    if (!s->spool) {
        OTA_ERROR("api: import: cannot create a spool file in %s/tmp: %s", r->app->data_dir,
                  strerror(errno));
        free(s);
        http_send_error(r, 500, "internal", NULL, "The import could not be stored.");
        return -1;
    }
    r->state = s;
    r->state_free = import_free;
    return 0;
}

/* One complete line (rq_line_fn): parse and check (core/reqparse.c), then spool.
 * 0, or -1 after setting err. */
static int import_line(void *ud, const char *line, size_t len, long lineno)
{
    import_state *s = ud;
    rq_import_row row;
    int rc = rq_import_line(line, len, lineno, &row, &s->err);
    if (rc <= 0)
        return rc;
    if (s->devices >= API_IMPORT_MAX_DEVICES) {
        rq_fail(&s->err, 413, "too_large", NULL, "An import holds at most %d devices.",
                API_IMPORT_MAX_DEVICES);
        s->err.line = lineno;
        return -1;
    }
    if (fprintf(s->spool, "%ld\t%s\t%s\n", lineno, row.identifier, row.name) < 0) {
        rq_fail(&s->err, 500, "internal", NULL, "The import could not be stored.");
        s->err.line = lineno;
        return -1;
    }
    s->devices++;
    return 0;
}

int api_import_chunk(http_req *r, const char *data, size_t size)
{
    import_state *s = r->state;
    if (s->err.status)
        return -1;
    return rq_lines_feed(&s->lines, data, size, import_line, s, &s->err);
}

/* Inserts the spooled devices in one transaction. Returns 0, or -1 after setting err. */
static int import_commit(http_req *r, import_state *s, int64_t *created)
{
    store_import *im = NULL;
    char buf[API_IMPORT_MAX_LINE + 64];
    ota_err rc;
    if (fflush(s->spool) != 0 || fseek(s->spool, 0, SEEK_SET) != 0) {
        rq_fail(&s->err, 500, "internal", NULL, "The import could not be stored.");
        return -1;
    }
    rc = store_import_begin(r->app->store, http_param(r, "productKey"), ota_time_now_ms(), &im);
    if (rc == OTA_ENOTFOUND) {
        rq_fail(&s->err, 404, "not_found", NULL, "The product does not exist.");
        return -1;
    }
    if (rc != OTA_OK) {
        rq_fail(&s->err, 500, "internal", NULL, "The import could not be stored.");
        return -1;
    }
    while (fgets(buf, sizeof buf, s->spool)) {
        char *t1 = strchr(buf, '\t'), *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
        char *nl = t2 ? strchr(t2 + 1, '\n') : NULL;
        if (!nl) {
            rq_fail(&s->err, 500, "internal", NULL, "The import could not be stored.");
            goto fail;
        }
        *t1 = *t2 = *nl = '\0';
        rc = store_import_add(im, t1 + 1, t2 + 1);
        if (rc == OTA_EDUPLICATE) {
            long line = strtol(buf, NULL, 10);
            rq_fail(&s->err, 409, "duplicate", "identifier",
                    "Line %ld: the identifier already exists in the product or earlier in the "
                    "import.",
                    line);
            s->err.line = line;
            goto fail;
        }
        if (rc != OTA_OK) {
            rq_fail(&s->err, 500, "internal", NULL, "The import could not be stored.");
            goto fail;
        }
    }
    if (store_import_commit(im, created) != OTA_OK) {
        rq_fail(&s->err, 500, "internal", NULL, "The import could not be stored.");
        return -1;
    }
    return 0;
fail:
    store_import_abort(im);
    return -1;
}

int api_import_end(http_req *r)
{
    import_state *s = r->state;
    int64_t created = 0;
    if (!s->err.status)
        rq_lines_end(&s->lines, import_line, s);
    if (!s->err.status && s->devices == 0)
        rq_fail(&s->err, 422, "empty", NULL, "The import holds no device.");
    if (!s->err.status)
        import_commit(r, s, &created);
    if (s->err.status)
        return send_err(r, &s->err);
    OTA_INFO("api: imported %lld devices into %s", (long long)created, http_param(r, "productKey"));
    return http_send_json(r, 200, json_pack("{s:I}", "created", (json_int_t)created));
}
