/*
 * routes_upload: the two streaming request bodies of the management API.
 *
 * Firmware upload (multipart/form-data): libmicrohttpd's post processor splits the parts;
 * text fields are kept under small ceilings, the "file" part streams into a temp file
 * while MD5 and SHA-256 are computed (firmware_files.c). The first broken rule is kept
 * and the rest of the body discarded; the answer names the field. Nothing is left behind
 * on any error: the temp file is removed, and the row is committed only after the file
 * is in place.
 *
 * Device import (NDJSON): lines are cut as they arrive (a line is at most 4 KiB), each
 * parsed with jansson and validated, and spooled to an unlinked temp file; at the end all
 * are inserted in one store transaction (so the write lock is not held while a slow client
 * sends). The first bad line aborts it all and is reported by number. Memory stays
 * bounded whatever the size.
 */
#include "http/api.h"
#include "http/firmware_files.h"

#include "core/validate.h"
#include "ota_log.h"
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

typedef struct {
    unsigned status; /* 0 = no error */
    char code[40];
    char field[40];
    char msg[320];
    long line; /* import: 1-based line number, 0 = none */
} stream_err;

static void set_err(stream_err *e, unsigned status, const char *code, const char *field,
                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void set_err(stream_err *e, unsigned status, const char *code, const char *field,
                    const char *fmt, ...)
{
    va_list ap;
    if (e->status)
        return;
    e->status = status;
    snprintf(e->code, sizeof e->code, "%s", code);
    snprintf(e->field, sizeof e->field, "%s", field ? field : "");
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    if (e->msg[0] >= 'a' && e->msg[0] <= 'z')
        e->msg[0] = (char)(e->msg[0] - 'a' + 'A');
}

static int send_err(http_req *r, const stream_err *e)
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

enum { F_NAME, F_PRODUCT, F_VERSION, F_DESC, F_COUNT };
static const char *const field_names[F_COUNT] = {"firmwareName", "productKey", "firmwareVersion",
                                                 "firmwareDescription"};

typedef struct {
    http_req *r;
    struct MHD_PostProcessor *pp;
    stream_err err;
    char field[F_COUNT][FIELD_MAX + 1];
    size_t field_len[F_COUNT];
    int field_seen[F_COUNT];
    int file_seen, file_open, file_done;
    char file_name[512];
    fwup up;
    char cur_key[64];   /* the part being received */
    int cur_index;      /* F_* or -1 for the file */
    uint64_t cur_bytes; /* bytes of the current part so far */
} upload_state;

static void upload_free(void *p)
{
    upload_state *u = p;
    if (!u)
        return;
    if (u->pp)
        MHD_destroy_post_processor(u->pp);
    if (u->file_open)
        fwup_discard(&u->up);
    free(u);
}

static void upload_fail_file(upload_state *u)
{
    if (u->file_open) {
        fwup_discard(&u->up);
        u->file_open = 0;
    }
}

static enum MHD_Result upload_iter(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *filename, const char *content_type,
                                   const char *transfer_encoding, const char *data, uint64_t off,
                                   size_t size)
{
    upload_state *u = cls;
    char why[256];
    (void)kind;
    (void)content_type;
    (void)transfer_encoding;
    if (u->err.status)
        return MHD_NO;
    if (!key)
        key = "";
    if (off == 0 && (strcmp(u->cur_key, key) != 0 || u->cur_bytes > 0)) {
        snprintf(u->cur_key, sizeof u->cur_key, "%s", key);
        u->cur_bytes = 0;
        if (strcmp(key, "file") == 0) {
            if (u->file_seen) {
                set_err(&u->err, 400, "bad_request", "file", "Only one file may be uploaded.");
                return MHD_NO;
            }
            u->file_seen = 1;
            u->cur_index = -1;
            if (!filename) {
                set_err(&u->err, 422, "invalid_field", "file",
                        "The file part must be a file with a file name.");
                return MHD_NO;
            }
            snprintf(u->file_name, sizeof u->file_name, "%s", filename);
            if (strlen(filename) >= sizeof u->file_name ||
                valid_file_name(filename, NULL, why, sizeof why) != 0) {
                set_err(&u->err, 422, "invalid_field", "file", "%s.",
                        strlen(filename) >= sizeof u->file_name ? "The file name is too long"
                                                                : why);
                return MHD_NO;
            }
            if (fwup_begin(u->r->app, &u->up) != 0) {
                set_err(&u->err, 500, "internal", NULL, "The upload could not be stored.");
                return MHD_NO;
            }
            u->file_open = 1;
        } else {
            int idx = -2;
            for (int i = 0; i < F_COUNT; i++)
                if (strcmp(key, field_names[i]) == 0)
                    idx = i;
            if (idx < 0) {
                char shown[48];
                snprintf(shown, sizeof shown, "%s", key);
                set_err(&u->err, 400, "unknown_field", shown, "The field \"%s\" is not known here.",
                        shown);
                return MHD_NO;
            }
            if (u->field_seen[idx]) {
                set_err(&u->err, 400, "bad_request", field_names[idx],
                        "The field %s is given twice.", field_names[idx]);
                return MHD_NO;
            }
            u->field_seen[idx] = 1;
            u->cur_index = idx;
        }
    }
    if (size == 0)
        return MHD_YES;
    u->cur_bytes += size;
    if (u->cur_index == -1) {
        if (u->up.size + size > (uint64_t)VALID_FIRMWARE_MAX_BYTES) {
            upload_fail_file(u);
            set_err(&u->err, 413, "too_large", "file",
                    "The firmware file is larger than 100 MB (104857600 bytes).");
            return MHD_NO;
        }
        if (fwup_write(&u->up, data, size) != 0) {
            upload_fail_file(u);
            set_err(&u->err, 500, "internal", NULL, "The upload could not be stored.");
            return MHD_NO;
        }
        return MHD_YES;
    }
    int i = u->cur_index;
    if (u->field_len[i] + size > FIELD_MAX) {
        set_err(&u->err, 422, "invalid_field", field_names[i], "The field %s is too long.",
                field_names[i]);
        return MHD_NO;
    }
    memcpy(u->field[i] + u->field_len[i], data, size);
    u->field_len[i] += size;
    u->field[i][u->field_len[i]] = '\0';
    return MHD_YES;
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
    u->cur_index = -2;
    u->pp = MHD_create_post_processor(r->conn, 64 * 1024, upload_iter, u);
    if (!u->pp) {
        free(u);
        http_send_error(r, 400, "bad_request", NULL,
                        "The multipart body has no boundary or an unsupported encoding.");
        return -1;
    }
    r->state = u;
    r->state_free = upload_free;
    return 0;
}

int api_firmware_upload_chunk(http_req *r, const char *data, size_t size)
{
    upload_state *u = r->state;
    if (u->err.status)
        return -1;
    if (MHD_post_process(u->pp, data, size) != MHD_YES) {
        set_err(&u->err, 400, "bad_request", NULL, "The multipart body is malformed.");
        upload_fail_file(u);
        return -1;
    }
    return 0;
}

int api_firmware_upload_end(http_req *r)
{
    upload_state *u = r->state;
    char why[256];
    int ret;
    enum MHD_Result complete = MHD_destroy_post_processor(u->pp);
    u->pp = NULL;
    if (complete != MHD_YES)
        set_err(&u->err, 400, "bad_request", NULL, "The multipart body is incomplete.");
    if (u->err.status) {
        upload_fail_file(u);
        return send_err(r, &u->err);
    }
    /* the rules, in the order of the form */
    static const int order[] = {F_NAME, F_PRODUCT, F_VERSION};
    for (size_t k = 0; k < sizeof order / sizeof order[0]; k++)
        if (!u->field_seen[order[k]] || u->field_len[order[k]] == 0)
            set_err(&u->err, 422, "missing_field", field_names[order[k]],
                    "The field %s is required.", field_names[order[k]]);
    if (!u->err.status && valid_firmware_name(u->field[F_NAME], why, sizeof why) != 0)
        set_err(&u->err, 422, "invalid_field", "firmwareName", "%s.", why);
    if (!u->err.status && valid_product_key(u->field[F_PRODUCT]) != 0)
        set_err(&u->err, 422, "unknown_product", "productKey", "The product does not exist.");
    if (!u->err.status && valid_firmware_version(u->field[F_VERSION], why, sizeof why) != 0)
        set_err(&u->err, 422, "invalid_field", "firmwareVersion", "%s.", why);
    if (!u->err.status && valid_description(u->field[F_DESC], why, sizeof why) != 0)
        set_err(&u->err, 422, "invalid_field", "firmwareDescription", "%s.",
                why); /* "description ..." */
    if (!u->err.status && !u->file_seen)
        set_err(&u->err, 422, "missing_field", "file", "The firmware file is required.");
    if (!u->err.status && u->up.size == 0)
        set_err(&u->err, 422, "invalid_field", "file", "The firmware file is empty.");
    if (!u->err.status && fwup_finish(&u->up) != 0)
        set_err(&u->err, 500, "internal", NULL, "The upload could not be stored.");
    if (u->err.status) {
        upload_fail_file(u);
        return send_err(r, &u->err);
    }

    store_firmware in, out;
    const char *field = NULL;
    memset(&in, 0, sizeof in);
    /* the validators bound every value well below these buffers */
    copy_str(in.product_key, sizeof in.product_key, u->field[F_PRODUCT]);
    copy_str(in.name, sizeof in.name, u->field[F_NAME]);
    copy_str(in.version, sizeof in.version, u->field[F_VERSION]);
    copy_str(in.description, sizeof in.description, u->field[F_DESC]);
    copy_str(in.file_name, sizeof in.file_name, u->file_name);
    in.size = (int64_t)u->up.size;
    memcpy(in.md5, u->up.md5_hex, sizeof in.md5);
    memcpy(in.sha256, u->up.sha256_hex, sizeof in.sha256);

    fwfiles_lock(r->app);
    store_rc rc = STORE_ERROR;
    if (fwup_place(r->app, &u->up) == 0) {
        rc = store_firmware_create(r->app->store, &in, ota_time_now_ms(), &out, &field);
        if (rc != STORE_OK)
            fwfiles_remove_if_unused(r->app, in.sha256);
    }
    fwfiles_unlock(r->app);
    upload_fail_file(u);

    switch (rc) {
    case STORE_OK:
        OTA_INFO("api: firmware %lld (%s %s, %lld bytes, sha256 %s) added", (long long)out.id,
                 out.product_key, out.version, (long long)out.size, out.sha256);
        ret = http_send_json(r, 201, api_firmware_json(&out));
        break;
    case STORE_NOT_FOUND:
        ret =
            http_send_error(r, 422, "unknown_product", "productKey", "The product does not exist.");
        break;
    case STORE_DUPLICATE:
        if (field && strcmp(field, "firmwareVersion") == 0)
            ret = http_send_error(r, 409, "duplicate", "firmwareVersion",
                                  "The product already has a firmware with this version.");
        else
            ret = http_send_error(r, 409, "duplicate", "firmwareName",
                                  "A firmware with this name already exists.");
        break;
    case STORE_LIMIT:
        ret = http_send_error(r, 422, "limit_exceeded", "productKey",
                              "The product already has 50 firmwares; delete one first.");
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
    stream_err err;
    char line[API_IMPORT_MAX_LINE + 1];
    size_t line_len;
    long lineno;
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
    store_rc rc =
        valid_product_key(key) == 0 ? store_product_get(r->app->store, key, &p) : STORE_NOT_FOUND;
    if (rc != STORE_OK) {
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

/* Handles one complete line (without its newline): parse, check, spool. Returns 0, or -1
 * after setting err. */
static int import_line(import_state *s, char *line, size_t len)
{
    json_error_t jerr;
    char why[192];
    s->lineno++;
    if (len > 0 && line[len - 1] == '\r')
        line[--len] = '\0';
    size_t i = 0;
    while (i < len && (line[i] == ' ' || line[i] == '\t'))
        i++;
    if (i == len)
        return 0; /* blank lines are ignored */
    if (s->devices >= API_IMPORT_MAX_DEVICES) {
        set_err(&s->err, 413, "too_large", NULL, "An import holds at most %d devices.",
                API_IMPORT_MAX_DEVICES);
        s->err.line = s->lineno;
        return -1;
    }
    json_t *j = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!j || !json_is_object(j)) {
        set_err(&s->err, 400, "invalid_json", NULL, "Line %ld is not a JSON object.", s->lineno);
        s->err.line = s->lineno;
        json_decref(j);
        return -1;
    }
    const char *k;
    json_t *v;
    json_object_foreach(j, k, v)
    {
        if (strcmp(k, "identifier") != 0 && strcmp(k, "deviceName") != 0) {
            char shown[40];
            snprintf(shown, sizeof shown, "%s", k);
            set_err(&s->err, 400, "unknown_field", shown, "Line %ld has the unknown field \"%s\".",
                    s->lineno, shown);
            goto bad;
        }
    }
    const char *names[2] = {"identifier", "deviceName"}, *vals[2];
    for (int f = 0; f < 2; f++) {
        v = json_object_get(j, names[f]);
        if (!v) {
            set_err(&s->err, 422, "missing_field", names[f], "Line %ld has no %s.", s->lineno,
                    names[f]);
            goto bad;
        }
        if (!json_is_string(v)) {
            set_err(&s->err, 400, "invalid_type", names[f], "Line %ld: %s must be a string.",
                    s->lineno, names[f]);
            goto bad;
        }
        vals[f] = json_string_value(v);
    }
    if (valid_identifier(vals[0], why, sizeof why) != 0) {
        set_err(&s->err, 422, "invalid_field", "identifier", "Line %ld: %s.", s->lineno, why);
        goto bad;
    }
    if (valid_device_name(vals[1], why, sizeof why) != 0) {
        set_err(&s->err, 422, "invalid_field", "deviceName", "Line %ld: %s.", s->lineno, why);
        goto bad;
    }
    if (fprintf(s->spool, "%ld\t%s\t%s\n", s->lineno, vals[0], vals[1]) < 0) {
        set_err(&s->err, 500, "internal", NULL, "The import could not be stored.");
        goto bad;
    }
    s->devices++;
    json_decref(j);
    return 0;
bad:
    s->err.line = s->lineno;
    json_decref(j);
    return -1;
}

int api_import_chunk(http_req *r, const char *data, size_t size)
{
    import_state *s = r->state;
    if (s->err.status)
        return -1;
    while (size > 0) {
        const char *nl = memchr(data, '\n', size);
        size_t take = nl ? (size_t)(nl - data) : size;
        if (s->line_len + take > API_IMPORT_MAX_LINE) {
            set_err(&s->err, 413, "too_large", NULL, "Line %ld is longer than %d bytes.",
                    s->lineno + 1, API_IMPORT_MAX_LINE);
            s->err.line = s->lineno + 1;
            return -1;
        }
        memcpy(s->line + s->line_len, data, take);
        s->line_len += take;
        s->line[s->line_len] = '\0';
        if (!nl)
            break;
        if (import_line(s, s->line, s->line_len) != 0)
            return -1;
        s->line_len = 0;
        data = nl + 1;
        size -= take + 1;
    }
    return 0;
}

/* Inserts the spooled devices in one transaction. Returns 0, or -1 after setting err. */
static int import_commit(http_req *r, import_state *s, int64_t *created)
{
    store_import *im = NULL;
    char buf[API_IMPORT_MAX_LINE + 64];
    store_rc rc;
    if (fflush(s->spool) != 0 || fseek(s->spool, 0, SEEK_SET) != 0) {
        set_err(&s->err, 500, "internal", NULL, "The import could not be stored.");
        return -1;
    }
    rc = store_import_begin(r->app->store, http_param(r, "productKey"), ota_time_now_ms(), &im);
    if (rc == STORE_NOT_FOUND) {
        set_err(&s->err, 404, "not_found", NULL, "The product does not exist.");
        return -1;
    }
    if (rc != STORE_OK) {
        set_err(&s->err, 500, "internal", NULL, "The import could not be stored.");
        return -1;
    }
    while (fgets(buf, sizeof buf, s->spool)) {
        char *t1 = strchr(buf, '\t'), *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
        char *nl = t2 ? strchr(t2 + 1, '\n') : NULL;
        if (!nl) {
            set_err(&s->err, 500, "internal", NULL, "The import could not be stored.");
            goto fail;
        }
        *t1 = *t2 = *nl = '\0';
        rc = store_import_add(im, t1 + 1, t2 + 1);
        if (rc == STORE_DUPLICATE) {
            long line = strtol(buf, NULL, 10);
            set_err(&s->err, 409, "duplicate", "identifier",
                    "Line %ld: the identifier already exists in the product or earlier in the "
                    "import.",
                    line);
            s->err.line = line;
            goto fail;
        }
        if (rc != STORE_OK) {
            set_err(&s->err, 500, "internal", NULL, "The import could not be stored.");
            goto fail;
        }
    }
    if (store_import_commit(im, created) != STORE_OK) {
        set_err(&s->err, 500, "internal", NULL, "The import could not be stored.");
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
    if (!s->err.status && s->line_len > 0)
        import_line(s, s->line, s->line_len);
    if (!s->err.status && s->devices == 0)
        set_err(&s->err, 422, "empty", NULL, "The import holds no device.");
    if (!s->err.status)
        import_commit(r, s, &created);
    if (s->err.status)
        return send_err(r, &s->err);
    OTA_INFO("api: imported %lld devices into %s", (long long)created, http_param(r, "productKey"));
    return http_send_json(r, 200, json_pack("{s:I}", "created", (json_int_t)created));
}
