/*
 * reqparse: the management API's request parsers, apart from any connection, store or
 * disk (see reqparse.h for the why). Expected load: every request body of the API; the
 * multipart parser sees up to 100 MB per firmware upload, scanned with memchr for the
 * delimiter's first byte, so it costs about a memcpy of the file.
 *
 * Multipart (RFC 2046 as browsers and curl send it): the body is a preamble, then parts
 * each introduced by CRLF "--" boundary (the first may start the body without the CRLF),
 * a header block ended by an empty line, and the part's bytes; CRLF "--" boundary "--"
 * closes it and the epilogue is ignored. Only Content-Disposition's name and filename are
 * read; other part headers are skipped. No transfer encoding is applied (none is used by
 * form-data). The boundary cannot contain CR, so a partial delimiter match that fails can
 * be given back as data without rescanning.
 */
#include "core/reqparse.h"

#include "core/validate.h"
#include "ota_sign.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void rq_fail(rq_error *e, unsigned status, const char *code, const char *field, const char *fmt,
             ...)
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

/* ---- JSON bodies -------------------------------------------------------------------------- */

json_t *rq_json_object(const char *body, size_t len, const char *const *allowed, rq_error *e)
{
    json_error_t jerr;
    if (!body || len == 0) {
        rq_fail(e, 400, "invalid_json", NULL, "The request body must be a JSON object.");
        return NULL;
    }
    json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!j) {
        rq_fail(e, 400, "invalid_json", NULL, "The body is not valid JSON (line %d: %s).",
                jerr.line, jerr.text);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        rq_fail(e, 400, "invalid_json", NULL, "The request body must be a JSON object.");
        return NULL;
    }
    const char *key;
    json_t *v;
    json_object_foreach(j, key, v)
    {
        int ok = 0;
        for (int i = 0; allowed && allowed[i]; i++)
            if (strcmp(key, allowed[i]) == 0)
                ok = 1;
        if (!ok) {
            char shown[72];
            snprintf(shown, sizeof shown, "%s", key);
            json_decref(j);
            rq_fail(e, 400, "unknown_field", shown, "The field \"%s\" is not known here.", shown);
            return NULL;
        }
    }
    return j;
}

int rq_json_string(json_t *obj, const char *name, int required, const char **out, rq_error *e)
{
    json_t *v = json_object_get(obj, name);
    *out = NULL;
    if (!v || json_is_null(v)) {
        if (!required)
            return 0;
        rq_fail(e, 422, "missing_field", name, "The field %s is required.", name);
        return -1;
    }
    if (!json_is_string(v)) {
        rq_fail(e, 400, "invalid_type", name, "The field %s must be a string.", name);
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

int rq_product_body(const char *body, size_t len, json_t **keep, rq_product *out, rq_error *e)
{
    static const char *const allowed[] = {"productName", "description", NULL};
    char why[192];
    json_t *b = rq_json_object(body, len, allowed, e);
    *keep = b;
    if (!b || rq_json_string(b, "productName", 1, &out->name, e) != 0 ||
        rq_json_string(b, "description", 0, &out->description, e) != 0)
        return -1;
    if (valid_product_name(out->name, why, sizeof why) != 0) {
        rq_fail(e, 422, "invalid_field", "productName", "%s.", why);
        return -1;
    }
    if (out->description && valid_description(out->description, why, sizeof why) != 0) {
        rq_fail(e, 422, "invalid_field", "description", "%s.", why);
        return -1;
    }
    return 0;
}

int rq_device_body(const char *body, size_t len, json_t **keep, rq_device *out, rq_error *e)
{
    static const char *const allowed[] = {"identifier", "deviceName", NULL};
    char why[192];
    json_t *b = rq_json_object(body, len, allowed, e);
    *keep = b;
    if (!b || rq_json_string(b, "identifier", 1, &out->identifier, e) != 0 ||
        rq_json_string(b, "deviceName", 1, &out->name, e) != 0)
        return -1;
    if (valid_identifier(out->identifier, why, sizeof why) != 0) {
        rq_fail(e, 422, "invalid_field", "identifier", "%s.", why);
        return -1;
    }
    if (valid_device_name(out->name, why, sizeof why) != 0) {
        rq_fail(e, 422, "invalid_field", "deviceName", "%s.", why);
        return -1;
    }
    return 0;
}

/* 1..max code points of UTF-8 without control characters. */
static int plain_name(const char *s, size_t max)
{
    size_t len = strlen(s), at = 0, n = 0;
    while (at < len) {
        uint32_t cp;
        int k = valid_utf8_next(s + at, len - at, &cp);
        if (k <= 0 || cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f))
            return 0;
        at += (size_t)k;
        n++;
    }
    return n >= 1 && n <= max;
}

int rq_signkey_body(const char *body, size_t len, json_t **keep, rq_signkey *out, rq_error *e)
{
    static const char *const allowed[] = {"name", "publicKey", NULL};
    const char *why = NULL;
    memset(out, 0, sizeof *out);
    json_t *b = rq_json_object(body, len, allowed, e);
    *keep = b;
    if (!b || rq_json_string(b, "name", 1, &out->name, e) != 0 ||
        rq_json_string(b, "publicKey", 1, &out->public_key, e) != 0)
        return -1;
    if (!plain_name(out->name, 64)) {
        rq_fail(e, 422, "invalid_field", "name",
                "The name must be 1 to 64 characters without control characters.");
        return -1;
    }
    if (ota_sign_pubkey_pem(out->public_key, strlen(out->public_key), out->raw, &why) != 0) {
        rq_fail(e, 422, "invalid_field", "publicKey", "%s", why);
        return -1;
    }
    ota_sign_key_id(out->raw, out->key_id);
    return 0;
}

int rq_product_patch_body(const char *body, size_t len, int *require_signature, rq_error *e)
{
    static const char *const allowed[] = {"requireSignature", NULL};
    json_t *b = rq_json_object(body, len, allowed, e);
    if (!b)
        return -1;
    json_t *v = json_object_get(b, "requireSignature");
    int rc = -1;
    if (!v)
        rq_fail(e, 422, "missing_field", "requireSignature", "The field requireSignature is required.");
    else if (!json_is_boolean(v))
        rq_fail(e, 400, "invalid_type", "requireSignature",
                "The field requireSignature must be true or false.");
    else {
        *require_signature = json_is_true(v);
        rc = 0;
    }
    json_decref(b);
    return rc;
}

/* ---- NDJSON import ------------------------------------------------------------------------ */

int rq_import_line(const char *line, size_t len, long lineno, rq_import_row *out, rq_error *e)
{
    json_error_t jerr;
    char why[192];
    if (len > 0 && line[len - 1] == '\r')
        len--;
    size_t i = 0;
    while (i < len && (line[i] == ' ' || line[i] == '\t'))
        i++;
    if (i == len)
        return 0; /* blank lines are ignored */
    json_t *j = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    const char *names[2] = {"identifier", "deviceName"}, *vals[2];
    if (!j || !json_is_object(j)) {
        rq_fail(e, 400, "invalid_json", NULL, "Line %ld is not a JSON object.", lineno);
        goto bad;
    }
    const char *k;
    json_t *v;
    json_object_foreach(j, k, v)
    {
        if (strcmp(k, "identifier") != 0 && strcmp(k, "deviceName") != 0) {
            char shown[40];
            snprintf(shown, sizeof shown, "%s", k);
            rq_fail(e, 400, "unknown_field", shown, "Line %ld has the unknown field \"%s\".",
                    lineno, shown);
            goto bad;
        }
    }
    for (int f = 0; f < 2; f++) {
        v = json_object_get(j, names[f]);
        if (!v) {
            rq_fail(e, 422, "missing_field", names[f], "Line %ld has no %s.", lineno, names[f]);
            goto bad;
        }
        if (!json_is_string(v)) {
            rq_fail(e, 400, "invalid_type", names[f], "Line %ld: %s must be a string.", lineno,
                    names[f]);
            goto bad;
        }
        vals[f] = json_string_value(v);
    }
    if (valid_identifier(vals[0], why, sizeof why) != 0) {
        rq_fail(e, 422, "invalid_field", "identifier", "Line %ld: %s.", lineno, why);
        goto bad;
    }
    if (valid_device_name(vals[1], why, sizeof why) != 0) {
        rq_fail(e, 422, "invalid_field", "deviceName", "Line %ld: %s.", lineno, why);
        goto bad;
    }
    /* the rules bound both well below the buffers */
    snprintf(out->identifier, sizeof out->identifier, "%s", vals[0]);
    snprintf(out->name, sizeof out->name, "%s", vals[1]);
    json_decref(j);
    return 1;
bad:
    e->line = lineno;
    json_decref(j);
    return -1;
}

int rq_lines_feed(rq_lines *l, const char *data, size_t n, rq_line_fn on_line, void *ud,
                  rq_error *e)
{
    while (n > 0) {
        const char *nl = memchr(data, '\n', n);
        size_t take = nl ? (size_t)(nl - data) : n;
        if (l->len + take > RQ_IMPORT_MAX_LINE) {
            rq_fail(e, 413, "too_large", NULL, "Line %ld is longer than %d bytes.", l->lineno + 1,
                    RQ_IMPORT_MAX_LINE);
            e->line = l->lineno + 1;
            return -1;
        }
        memcpy(l->buf + l->len, data, take);
        l->len += take;
        l->buf[l->len] = '\0';
        if (!nl)
            break;
        l->lineno++;
        size_t len = l->len;
        l->len = 0;
        if (on_line(ud, l->buf, len, l->lineno) != 0)
            return -1;
        data = nl + 1;
        n -= take + 1;
    }
    return 0;
}

int rq_lines_end(rq_lines *l, rq_line_fn on_line, void *ud)
{
    if (l->len == 0)
        return 0;
    l->lineno++;
    size_t len = l->len;
    l->len = 0;
    return on_line(ud, l->buf, len, l->lineno) != 0 ? -1 : 0;
}

/* ---- multipart parser ----------------------------------------------------------------------- */

enum {
    MP_PREAMBLE,
    MP_AFTER_DELIM,
    MP_AFTER_DELIM_DASH,
    MP_LWSP,
    MP_LF,
    MP_HEADERS,
    MP_DATA,
    MP_DONE,
    MP_ERROR
};

struct rq_multipart {
    rq_multipart_cbs cbs;
    void *ud;
    int state;
    char delim[4 + RQ_BOUNDARY_MAX + 1]; /* "\r\n--" boundary */
    size_t delim_len;
    size_t match;                     /* bytes of delim matched so far */
    char hdr[RQ_PART_HEADER_MAX + 1]; /* the current header block */
    size_t hdr_len;
};

/* The boundary parameter of a Content-Type value into out (RQ_BOUNDARY_MAX + 1 bytes).
 * 0, or -1 when absent, empty, too long or holding a CR/LF. */
static int boundary_of(const char *ct, char *out)
{
    const char *p = ct;
    if (!ct)
        return -1;
    while ((p = strchr(p, ';')) != NULL) {
        p++;
        while (*p == ' ' || *p == '\t')
            p++;
        if (strncasecmp(p, "boundary=", 9) != 0)
            continue;
        p += 9;
        size_t n = 0;
        if (*p == '"') {
            const char *q = strchr(++p, '"');
            if (!q)
                return -1;
            n = (size_t)(q - p);
        } else {
            n = strcspn(p, "; \t");
        }
        if (n == 0 || n > RQ_BOUNDARY_MAX || memchr(p, '\r', n) || memchr(p, '\n', n))
            return -1;
        memcpy(out, p, n);
        out[n] = '\0';
        return 0;
    }
    return -1;
}

rq_multipart *rq_multipart_new(const char *content_type, const rq_multipart_cbs *cbs, void *ud)
{
    char b[RQ_BOUNDARY_MAX + 1];
    if (boundary_of(content_type, b) != 0)
        return NULL;
    rq_multipart *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->cbs = *cbs;
    m->ud = ud;
    m->delim_len = (size_t)snprintf(m->delim, sizeof m->delim, "\r\n--%s", b);
    m->state = MP_PREAMBLE;
    m->match = 2; /* the body may open with "--boundary" at once */
    return m;
}

void rq_multipart_free(rq_multipart *m)
{
    free(m);
}

int rq_multipart_complete(const rq_multipart *m)
{
    return m && m->state == MP_DONE;
}

/* Copies the value of parameter name (e.g. "name") from a Content-Disposition value into
 * out (cap bytes). 1 when found, 0 when not. */
static int disposition_param(const char *v, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    const char *p = v;
    while ((p = strchr(p, ';')) != NULL) {
        p++;
        while (*p == ' ' || *p == '\t')
            p++;
        if (strncasecmp(p, name, nl) != 0 || p[nl] != '=')
            continue;
        p += nl + 1;
        size_t n;
        if (*p == '"') {
            const char *q = strchr(++p, '"');
            n = q ? (size_t)(q - p) : strlen(p);
        } else {
            n = strcspn(p, "; \t");
        }
        if (n >= cap)
            n = cap - 1;
        memcpy(out, p, n);
        out[n] = '\0';
        return 1;
    }
    return 0;
}

/* The header block of a part is complete (hdr holds its lines, CRLF-separated): find
 * Content-Disposition and announce the part. 0, or -1. */
static int begin_part(rq_multipart *m)
{
    char name[256] = "", filename[1024];
    int has_file = 0;
    m->hdr[m->hdr_len] = '\0';
    for (char *line = m->hdr; *line;) {
        char *end = strstr(line, "\r\n");
        if (end)
            *end = '\0';
        if (strncasecmp(line, "Content-Disposition:", 20) == 0) {
            const char *v = line + 20;
            disposition_param(v, "name", name, sizeof name);
            has_file = disposition_param(v, "filename", filename, sizeof filename);
        }
        if (!end)
            break;
        line = end + 2;
    }
    return m->cbs.part_begin(m->ud, name, has_file ? filename : NULL);
}

/* Hands data to the part (skipped in the preamble). 0, or -1. */
static int emit(rq_multipart *m, const char *d, size_t n)
{
    if (n == 0 || m->state != MP_DATA)
        return 0;
    return m->cbs.part_data(m->ud, d, n);
}

int rq_multipart_feed(rq_multipart *m, const char *data, size_t n)
{
    size_t i = 0;
    while (i < n) {
        char c = data[i];
        switch (m->state) {
        case MP_PREAMBLE:
        case MP_DATA:
            if (m->match == 0) {
                /* fast path: everything before the next CR is data */
                const char *cr = memchr(data + i, '\r', n - i);
                size_t run = cr ? (size_t)(cr - (data + i)) : n - i;
                if (emit(m, data + i, run) != 0)
                    goto fail;
                i += run;
                if (!cr)
                    return 0;
                m->match = 1;
                i++;
                continue;
            }
            if (c == m->delim[m->match]) {
                m->match++;
                i++;
                if (m->match == m->delim_len) {
                    m->match = 0;
                    m->state = MP_AFTER_DELIM;
                }
                continue;
            }
            /* a partial match that failed is data (the boundary holds no CR); the preamble's
             * virtual CRLF is not */
            if (m->state == MP_DATA && emit(m, m->delim, m->match) != 0)
                goto fail;
            m->match = 0;
            continue; /* the same byte again, from the start of the delimiter */
        case MP_AFTER_DELIM:
            i++;
            if (c == '-') {
                m->state = MP_AFTER_DELIM_DASH;
            } else if (c == ' ' || c == '\t') {
                m->state = MP_LWSP;
            } else if (c == '\r') {
                m->state = MP_LF;
            } else {
                goto fail;
            }
            continue;
        case MP_AFTER_DELIM_DASH:
            if (c != '-')
                goto fail;
            m->state = MP_DONE;
            return 0; /* the epilogue is ignored */
        case MP_LWSP:
            i++;
            if (c == '\r')
                m->state = MP_LF;
            else if (c != ' ' && c != '\t')
                goto fail;
            continue;
        case MP_LF:
            i++;
            if (c != '\n')
                goto fail;
            m->state = MP_HEADERS;
            m->hdr_len = 0;
            continue;
        case MP_HEADERS:
            if (m->hdr_len >= RQ_PART_HEADER_MAX)
                goto fail;
            m->hdr[m->hdr_len++] = c;
            i++;
            if (m->hdr_len == 2 && memcmp(m->hdr, "\r\n", 2) == 0) {
                m->hdr_len = 0; /* a part without headers */
            } else if (m->hdr_len >= 4 && memcmp(m->hdr + m->hdr_len - 4, "\r\n\r\n", 4) == 0) {
                m->hdr_len -= 2;
            } else {
                continue;
            }
            if (begin_part(m) != 0)
                goto fail;
            m->state = MP_DATA;
            m->match = 0;
            continue;
        case MP_DONE:
            return 0;
        default:
            return -1;
        }
    }
    return 0;
fail:
    m->state = MP_ERROR;
    return -1;
}

/* ---- the firmware form ---------------------------------------------------------------------- */

const char *const rq_form_field_names[RQ_F_COUNT] = {
    "firmwareName", "productKey", "firmwareVersion", "firmwareDescription", "signature"};

static int form_part_begin(void *ud, const char *name, const char *filename)
{
    rq_form *f = ud;
    char why[256];
    if (strcmp(name, "file") == 0) {
        if (f->file_seen) {
            rq_fail(&f->err, 400, "bad_request", "file", "Only one file may be uploaded.");
            return -1;
        }
        f->file_seen = 1;
        f->cur = -1;
        if (!filename) {
            rq_fail(&f->err, 422, "invalid_field", "file",
                    "The file part must be a file with a file name.");
            return -1;
        }
        if (strlen(filename) >= sizeof f->file_name) {
            rq_fail(&f->err, 422, "invalid_field", "file", "The file name is too long.");
            return -1;
        }
        snprintf(f->file_name, sizeof f->file_name, "%s", filename);
        if (valid_file_name(filename, NULL, why, sizeof why) != 0) {
            rq_fail(&f->err, 422, "invalid_field", "file", "%s.", why);
            return -1;
        }
        if (f->sink.file_begin(f->sink.ud) != 0) {
            rq_fail(&f->err, 500, "internal", NULL, "The upload could not be stored.");
            return -1;
        }
        return 0;
    }
    for (int i = 0; i < RQ_F_COUNT; i++) {
        if (strcmp(name, rq_form_field_names[i]) != 0)
            continue;
        if (f->field_seen[i]) {
            rq_fail(&f->err, 400, "bad_request", rq_form_field_names[i],
                    "The field %s is given twice.", rq_form_field_names[i]);
            return -1;
        }
        f->field_seen[i] = 1;
        f->cur = i;
        return 0;
    }
    char shown[48];
    snprintf(shown, sizeof shown, "%s", name);
    rq_fail(&f->err, 400, "unknown_field", shown, "The field \"%s\" is not known here.", shown);
    return -1;
}

static int form_part_data(void *ud, const char *d, size_t n)
{
    rq_form *f = ud;
    /* Over a limit, what fits is still taken before the error, so that the state left
     * behind does not depend on how the body was cut into calls (fuzz_multipart checks). */
    if (f->cur == -1) {
        int over = n > f->max_file - f->file_size;
        size_t k = over ? (size_t)(f->max_file - f->file_size) : n;
        if (k > 0 && f->sink.file_write(f->sink.ud, d, k) != 0) {
            rq_fail(&f->err, 500, "internal", NULL, "The upload could not be stored.");
            return -1;
        }
        f->file_size += k;
        if (over) {
            rq_fail(&f->err, 413, "too_large", "file",
                    "The firmware file is larger than 100 MB (104857600 bytes).");
            return -1;
        }
        return 0;
    }
    int i = f->cur;
    if (i < 0) {
        rq_fail(&f->err, 422, "invalid_field", NULL, "The field ? is too long.");
        return -1;
    }
    int over = n > RQ_FIELD_MAX - f->field_len[i];
    size_t k = over ? RQ_FIELD_MAX - f->field_len[i] : n;
    memcpy(f->field[i] + f->field_len[i], d, k);
    f->field_len[i] += k;
    f->field[i][f->field_len[i]] = '\0';
    if (over) {
        rq_fail(&f->err, 422, "invalid_field", rq_form_field_names[i], "The field %s is too long.",
                rq_form_field_names[i]);
        return -1;
    }
    return 0;
}

int rq_form_init(rq_form *f, const char *content_type, uint64_t max_file, rq_file_sink sink)
{
    static const rq_multipart_cbs cbs = {form_part_begin, form_part_data};
    memset(f, 0, sizeof *f);
    f->cur = -2;
    f->max_file = max_file;
    f->sink = sink;
    f->mp = rq_multipart_new(content_type, &cbs, f);
    if (!f->mp) {
        rq_fail(&f->err, 400, "bad_request", NULL,
                "The multipart body has no boundary or an unsupported encoding.");
        return -1;
    }
    return 0;
}

int rq_form_feed(rq_form *f, const char *data, size_t n)
{
    if (f->err.status)
        return -1;
    if (rq_multipart_feed(f->mp, data, n) != 0) {
        rq_fail(&f->err, 400, "bad_request", NULL, "The multipart body is malformed.");
        return -1;
    }
    return 0;
}

int rq_form_finish(rq_form *f)
{
    char why[256];
    if (!f->err.status && !rq_multipart_complete(f->mp))
        rq_fail(&f->err, 400, "bad_request", NULL, "The multipart body is incomplete.");
    if (f->err.status)
        return -1;
    /* the rules, in the order of the form */
    static const int order[] = {RQ_F_NAME, RQ_F_PRODUCT, RQ_F_VERSION};
    for (size_t k = 0; k < sizeof order / sizeof order[0]; k++)
        if (!f->field_seen[order[k]] || f->field_len[order[k]] == 0)
            rq_fail(&f->err, 422, "missing_field", rq_form_field_names[order[k]],
                    "The field %s is required.", rq_form_field_names[order[k]]);
    if (!f->err.status && valid_firmware_name(f->field[RQ_F_NAME], why, sizeof why) != 0)
        rq_fail(&f->err, 422, "invalid_field", "firmwareName", "%s.", why);
    if (!f->err.status && valid_product_key(f->field[RQ_F_PRODUCT]) != 0)
        rq_fail(&f->err, 422, "unknown_product", "productKey", "The product does not exist.");
    if (!f->err.status && valid_firmware_version(f->field[RQ_F_VERSION], why, sizeof why) != 0)
        rq_fail(&f->err, 422, "invalid_field", "firmwareVersion", "%s.", why);
    if (!f->err.status && valid_description(f->field[RQ_F_DESC], why, sizeof why) != 0)
        rq_fail(&f->err, 422, "invalid_field", "firmwareDescription", "%s.", why);
    if (!f->err.status && f->field_len[RQ_F_SIGNATURE] > 0) {
        long n = ota_b64_decode(f->field[RQ_F_SIGNATURE], f->field_len[RQ_F_SIGNATURE],
                                f->signature, sizeof f->signature);
        if (n < 0 && f->field_len[RQ_F_SIGNATURE] != OTA_SIGN_SIG_B64_LEN)
            rq_fail(&f->err, 422, "invalid_field", "signature",
                    "The signature must be standard padded base64 of %d bytes (Ed25519).",
                    OTA_SIGN_SIG_BYTES);
        else if (n < 0)
            rq_fail(&f->err, 422, "invalid_field", "signature",
                    "The signature is not standard padded base64.");
        else if (n != OTA_SIGN_SIG_BYTES)
            rq_fail(&f->err, 422, "invalid_field", "signature",
                    "The signature must be %d bytes (Ed25519), not %ld.", OTA_SIGN_SIG_BYTES, n);
        else
            f->has_signature = 1;
    }
    if (!f->err.status && !f->file_seen)
        rq_fail(&f->err, 422, "missing_field", "file", "The firmware file is required.");
    if (!f->err.status && f->file_size == 0)
        rq_fail(&f->err, 422, "invalid_field", "file", "The firmware file is empty.");
    return f->err.status ? -1 : 0;
}

void rq_form_free(rq_form *f)
{
    if (!f)
        return;
    rq_multipart_free(f->mp);
    f->mp = NULL;
}
