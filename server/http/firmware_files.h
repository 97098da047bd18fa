/*
 * firmware_files: firmware bytes as files in the data folder, named by content:
 * DATA/firmware/<sha256>. Uploads stream into DATA/tmp/upload-XXXXXX while MD5 and
 * SHA-256 are computed (OpenSSL EVP), then fsync, rename into place (or drop the temp
 * file when identical bytes are already there), and only then is the row committed.
 * Identical firmwares share one file; a file is removed when no row uses it.
 * fwfiles_lock serializes "place file + commit row" against "delete row + remove file",
 * so a file is never removed under a row being added.
 */
#ifndef OTAD_FIRMWARE_FILES_H
#define OTAD_FIRMWARE_FILES_H

#include "http/http.h"

#include <openssl/evp.h>
#include <stdint.h>

typedef struct {
    int fd; /* -1 when closed */
    char tmp_path[CFG_STR_MAX + 64];
    EVP_MD_CTX *md5, *sha256;
    uint64_t size;                    /* bytes written so far */
    char md5_hex[33], sha256_hex[65]; /* set by fwup_finish */
} fwup;

/* Opens a new temp file under DATA/tmp. Returns 0, or -1 (logged; nothing left). */
int fwup_begin(const http_app *app, fwup *u);
/* Appends and hashes. Returns 0, or -1 (write error, logged). */
int fwup_write(fwup *u, const void *data, size_t len);
/* Finishes the hashes, fsyncs and closes the file. Returns 0, or -1. */
int fwup_finish(fwup *u);
/* Moves the finished temp file to DATA/firmware/<sha256> (or drops it when that file
 * exists) and fsyncs the folder. Call with fwfiles_lock held. Returns 0, or -1. */
int fwup_place(const http_app *app, fwup *u);
/* Removes the temp file (if any) and frees the hash contexts. Safe to call twice. */
void fwup_discard(fwup *u);

void fwfiles_lock(void);
void fwfiles_unlock(void);
/* DATA/firmware/<sha256> into out. */
void fwfiles_path(const http_app *app, const char *sha256, char *out, size_t outlen);
/* Removes DATA/firmware/<sha256> unless a row uses it. Call with fwfiles_lock held. */
void fwfiles_remove_if_unused(const http_app *app, const char *sha256);
/* At start: removes leftovers of interrupted uploads (DATA/tmp/upload-*) and firmware
 * files no row uses (a crash between rename and commit). */
void fwfiles_sweep(const http_app *app);

#endif
