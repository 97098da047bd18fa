/*
 * firmware_files: the HTTP side's use of the firmware byte store (server/blob/blob.h),
 * named by content (sha256). Uploads stream into a blob put while MD5 and SHA-256 are
 * computed; the put is committed under its sha256 name (or shares the blob already there),
 * and only then is the row committed. Identical firmwares share one blob; a blob is
 * removed when no row uses it. fwfiles_lock serializes "place blob + commit row" against
 * "delete row + remove blob", so a blob is never removed under a row being added.
 *
 * Which store: fwfiles_init (otad, from OTA_BLOB: "fs" = DATA/firmware/<sha256>, the
 * default; "postgresql" = the store's database). Without fwfiles_init, the first use opens
 * the "fs" store of app->data_dir.
 */
#ifndef OTAD_FIRMWARE_FILES_H
#define OTAD_FIRMWARE_FILES_H

#include "blob/blob.h"
#include "http/http.h"

#include <stdint.h>

/* Bytes an upload gathers before it hashes and writes them: the multipart parser hands
 * over runs that end at every CR of the file (about 256 bytes of a binary image), and one
 * write and two digest updates per run cost three times the upload's floor. */
#define FWUP_BUF_BYTES 65536

typedef struct {
    blob_put *put;                    /* NULL when closed */
    uint64_t size;                    /* bytes taken so far (written and gathered) */
    char md5_hex[33], sha256_hex[65], sha1_hex[41]; /* set by fwup_finish */
    size_t buf_len;                   /* bytes gathered in buf, not yet written */
    unsigned char buf[FWUP_BUF_BYTES];
} fwup;

/* Opens the blob store of kind ("fs" or "postgresql") for app. 0, or -1 with err. */
int fwfiles_init(const http_app *app, const char *kind, char *err, size_t errlen);
/* Closes it (at stop; no request may be running). */
void fwfiles_close(void);

/* Starts an upload. Returns 0, or -1 (logged; nothing left). */
int fwup_begin(const http_app *app, fwup *u);
/* Appends (gathered in u->buf, hashed and written when it fills). Returns 0, or -1 (write
 * error, logged). */
int fwup_write(fwup *u, const void *data, size_t len);
/* Finishes the hashes and makes the bytes durable. Returns 0, or -1. */
int fwup_finish(fwup *u);
/* Stores the finished upload under its sha256 name (or shares the blob there). Call with
 * fwfiles_lock held. Returns 0, or -1. */
int fwup_place(const http_app *app, fwup *u);
/* Drops what was not placed and frees the upload. Safe to call twice. */
void fwup_discard(fwup *u);

void fwfiles_lock(const http_app *app);
void fwfiles_unlock(const http_app *app);
/* Removes blob sha256 unless a row uses it. Call with fwfiles_lock held. */
void fwfiles_remove_if_unused(const http_app *app, const char *sha256);
/* At start: removes leftovers of interrupted uploads and blobs no row uses (a crash
 * between placing and commit). */
void fwfiles_sweep(const http_app *app);
/* The SHA-1 of blob sha256 as hex into out, read from the store (for a firmware row added
 * before the sha1 column: docs/ddi.md). 0, or -1 (logged). */
int fwfiles_sha1(const http_app *app, const char *sha256, char out[41]);
/* Answers with the bytes of blob sha256 (Range, HEAD, 416 as http_send_fd): by file
 * descriptor when the store has a file, else through http_send_blob. 404 when missing. */
int fwfiles_send(http_req *r, const char *sha256, const char *download_name);

#endif
