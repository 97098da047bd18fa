/*
 * reqparse: every piece of a management request that comes from outside, parsed and
 * checked without a connection, a store or a disk: JSON bodies (one object, known fields,
 * the product and device rules), NDJSON import lines and the line cutter in front of them,
 * and multipart/form-data (a streaming parser and the firmware form on top of it). The
 * HTTP routes (server/http/) call these and only add the store and the files; the fuzz
 * targets in tests/fuzz/ call them directly, at tens of thousands of inputs a second.
 *
 * Errors: the first broken rule is kept in an rq_error (status, code, field, one sentence)
 * and later ones are ignored, so a streamed body reports where it first went wrong.
 * Strings handed out are borrowed (from the JSON object or the parser's buffers) for as
 * long as their owner lives, unless said otherwise. Memory is bounded by the constants
 * below whatever the input.
 */
#ifndef OTAD_REQPARSE_H
#define OTAD_REQPARSE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define RQ_IMPORT_MAX_LINE 4096       /* bytes of one NDJSON import line */
#define RQ_IMPORT_MAX_DEVICES 1000000 /* devices in one import */
#define RQ_FIELD_MAX 1024             /* bytes of one multipart text field */
#define RQ_BOUNDARY_MAX 70            /* RFC 2046 */
#define RQ_PART_HEADER_MAX 4096       /* bytes of one part's header block */

typedef struct {
    unsigned status; /* HTTP status; 0 = no error */
    char code[40];   /* docs/api.md's error code */
    char field[72];  /* the field at fault, "" = none */
    char msg[320];   /* one sentence */
    long line;       /* import: 1-based line number, 0 = none */
} rq_error;

/* Records the first error (later calls are ignored); a lowercase first letter of the
 * message is capitalised. */
void rq_fail(rq_error *e, unsigned status, const char *code, const char *field, const char *fmt,
             ...) __attribute__((format(printf, 5, 6)));

/* ---- JSON bodies ------------------------------------------------------------------------ */

/* Parses body[0..len) as one JSON object (duplicate keys refused) whose keys are all in
 * allowed (NULL-terminated). Returns the object (new reference, caller decrefs) or NULL
 * with e set: 400 invalid_json or unknown_field. */
json_t *rq_json_object(const char *body, size_t len, const char *const *allowed, rq_error *e);
/* The string member name of obj into *out (borrowed; NULL when absent and not required).
 * Returns 0, or -1 with e set: 422 missing_field, 400 invalid_type. */
int rq_json_string(json_t *obj, const char *name, int required, const char **out, rq_error *e);

typedef struct {
    const char *name;        /* productName */
    const char *description; /* NULL when absent */
} rq_product;
/* POST /api/v1/products: the body's fields and rules. 0, or -1 with e set. */
int rq_product_body(const char *body, size_t len, json_t **keep, rq_product *out, rq_error *e);

typedef struct {
    const char *identifier;
    const char *name; /* deviceName */
} rq_device;
/* POST /api/v1/products/{pk}/devices: the body's fields and rules. *keep gets the JSON
 * object the strings point into (caller decrefs, also on error; NULL then). 0, or -1. */
int rq_device_body(const char *body, size_t len, json_t **keep, rq_device *out, rq_error *e);

typedef struct {
    const char *name;       /* 1..64 code points, no control characters */
    const char *public_key; /* the PEM text as sent */
    unsigned char raw[32];  /* the Ed25519 key it holds */
    char key_id[17];        /* ota_sign_key_id of raw */
} rq_signkey;
/* POST /api/v1/products/{pk}/signing-keys {name, publicKey}: the body's fields, the key
 * read (an Ed25519 SubjectPublicKeyInfo in PEM, common/ota_sign.h) and its id. *keep as
 * for rq_device_body. 0, or -1 with e set (422 invalid_field publicKey/name). */
int rq_signkey_body(const char *body, size_t len, json_t **keep, rq_signkey *out, rq_error *e);

/* PATCH /api/v1/products/{pk} {requireSignature}: 0 with *require_signature, or -1 with e
 * set (400 invalid_type, 422 missing_field). */
int rq_product_patch_body(const char *body, size_t len, int *require_signature, rq_error *e);

/* ---- NDJSON import ------------------------------------------------------------------ */

typedef struct {
    char identifier[65];
    char name[257]; /* 64 code points of UTF-8 at most */
} rq_import_row;

/* One import line (without its newline; a trailing CR is dropped), number lineno. Returns
 * 1 with the device in *out, 0 for a blank line, -1 with e set (e->line = lineno). */
int rq_import_line(const char *line, size_t len, long lineno, rq_import_row *out, rq_error *e);

/* Cuts a streamed body into lines of at most RQ_IMPORT_MAX_LINE bytes. */
typedef struct {
    char buf[RQ_IMPORT_MAX_LINE + 1];
    size_t len;
    long lineno; /* lines handed out so far */
} rq_lines;
typedef int (*rq_line_fn)(void *ud, const char *line, size_t len, long lineno);
/* Feeds data; on_line runs for each complete line (0 = go on, else stop). Returns 0, or
 * -1 when a line is too long (e set: 413) or on_line stopped. */
int rq_lines_feed(rq_lines *l, const char *data, size_t n, rq_line_fn on_line, void *ud,
                  rq_error *e);
/* The last line when the body does not end with a newline. Same returns. */
int rq_lines_end(rq_lines *l, rq_line_fn on_line, void *ud);

/* ---- multipart/form-data ------------------------------------------------------------ */

/* Callbacks of the streaming parser; each returns 0 to go on, -1 to stop. name and
 * filename are borrowed for the call (filename NULL when the part has none). */
typedef struct {
    int (*part_begin)(void *ud, const char *name, const char *filename);
    int (*part_data)(void *ud, const char *data, size_t n);
} rq_multipart_cbs;

typedef struct rq_multipart rq_multipart;
/* A parser for a body of the given Content-Type value. NULL when it has no usable
 * boundary parameter (or out of memory). Free with rq_multipart_free (NULL allowed). */
rq_multipart *rq_multipart_new(const char *content_type, const rq_multipart_cbs *cbs, void *ud);
/* 0, or -1 when the body is malformed or a callback stopped (the parser then refuses
 * everything after). Any split of the body into calls gives the same callbacks' data. */
int rq_multipart_feed(rq_multipart *m, const char *data, size_t n);
/* 1 when the closing delimiter has been seen, else 0. */
int rq_multipart_complete(const rq_multipart *m);
void rq_multipart_free(rq_multipart *m);

/* The firmware form of POST /api/v1/firmwares on top of the parser: fields firmwareName,
 * productKey, firmwareVersion, firmwareDescription, signature (optional: base64 of a
 * 64-byte Ed25519 signature; empty counts as absent) and one part "file" with a file
 * name, whose bytes go to the sink (a temp file in otad, memory in the fuzz target). */
enum { RQ_F_NAME, RQ_F_PRODUCT, RQ_F_VERSION, RQ_F_DESC, RQ_F_SIGNATURE, RQ_F_COUNT };
extern const char *const rq_form_field_names[RQ_F_COUNT];

typedef struct {
    int (*file_begin)(void *ud);                          /* 0, or -1 (500 internal) */
    int (*file_write)(void *ud, const char *d, size_t n); /* 0, or -1 (500 internal) */
    void *ud;
} rq_file_sink;

typedef struct {
    rq_error err;
    char field[RQ_F_COUNT][RQ_FIELD_MAX + 1];
    size_t field_len[RQ_F_COUNT];
    int field_seen[RQ_F_COUNT];
    int file_seen;
    char file_name[512];
    uint64_t file_size; /* bytes of the file part so far */
    int cur;            /* part being read: RQ_F_* , -1 the file, -2 none */
    uint64_t max_file;  /* the file part's ceiling (VALID_FIRMWARE_MAX_BYTES in otad) */
    rq_file_sink sink;
    rq_multipart *mp;
    int has_signature;           /* after rq_form_finish: a signature was given */
    unsigned char signature[64]; /* its bytes (field[RQ_F_SIGNATURE] holds its text) */
} rq_form;

/* Sets f up for a body of content_type. Returns 0, or -1 with f->err set (400: no
 * boundary). rq_form_free releases it in every case. */
int rq_form_init(rq_form *f, const char *content_type, uint64_t max_file, rq_file_sink sink);
/* 0, or -1 with f->err set (the first broken rule; the rest of the body is refused). */
int rq_form_feed(rq_form *f, const char *data, size_t n);
/* At the end of the body: completeness and the field rules in the order of the form.
 * 0, or -1 with f->err set. */
int rq_form_finish(rq_form *f);
void rq_form_free(rq_form *f);

#endif
