/*
 * blob: the firmware byte store, content-addressed by SHA-256, behind one interface so the
 * bytes can live where every otad instance reaches them. Two implementations:
 *   "fs"         (blob_fs.c)  files in the data folder: DATA/firmware/<sha256>, uploads
 *                             staged in DATA/tmp/upload-XXXXXX (the layout otad always had);
 *   "postgresql" (blob_pg.c)  large objects in the store's PostgreSQL database, one row
 *                             blobs(sha256, size, data oid) each (docs/postgresql.md).
 *
 * Writing: blob_put_begin, blob_put_write per chunk as it arrives (MD5, SHA-256 and SHA-1
 * are computed while streaming), blob_put_finish (hashes known), then blob_put_commit, which
 * makes the bytes visible under their sha256 name atomically (or shares the blob already
 * there with the same name). blob_put_free after commit only frees; without a commit it
 * removes every byte written: an abort leaves nothing.
 *
 * Which blobs are in use is the caller's knowledge (firmware rows): blob_open takes a
 * callback that says so, asked by blob_remove_if_unused and blob_sweep. blob_lock
 * serializes "commit blob + add row" against "delete row + remove blob" (and the sweep),
 * so a blob is never removed under a row being added. For postgresql the lock also holds
 * across otad instances sharing the database (an advisory lock).
 *
 * Reading: blob_reader_open gives the size and a reader; blob_read_at reads at an offset
 * (for Range answers). blob_reader_fd hands out a file descriptor when the bytes are a
 * plain file, so the HTTP server can send it with the kernel's copy.
 *
 * Threads: a blob_store is safe from any thread; a put or a reader is used by one thread
 * at a time. Errors are logged once where found.
 */
#ifndef OTAD_BLOB_H
#define OTAD_BLOB_H

#include "store/store.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct blob_store blob_store;
typedef struct blob_put blob_put;
typedef struct blob_reader blob_reader;

/* 1 when a row uses the blob sha256, 0 when none does, -1 when unknown (kept). */
typedef int (*blob_used_fn)(void *ud, const char *sha256);

/* Opens the store of kind "fs" (data_dir) or "postgresql" (the tables live in store's
 * database, which must be PostgreSQL; its connection pool is shared). Creates what it
 * needs (the blobs table). NULL with a reason in err on failure. */
blob_store *blob_open(const char *kind, const char *data_dir, store_t *store, blob_used_fn used,
                      void *used_ud, char *err, size_t errlen);
void blob_close(blob_store *b); /* NULL is fine; nothing may be running */
const char *blob_kind(const blob_store *b);

/* --- writing -------------------------------------------------------------------------- */
/* 0 and *out, or -1 (logged; nothing left). */
int blob_put_begin(blob_store *b, blob_put **out);
/* Appends and hashes. 0, or -1 (logged); after -1 only blob_put_free is useful. */
int blob_put_write(blob_put *p, const void *data, size_t len);
/* Finishes the hashes and makes the written bytes durable. 0, or -1. */
int blob_put_finish(blob_put *p);
uint64_t blob_put_size(const blob_put *p);      /* bytes written so far */
const char *blob_put_md5(const blob_put *p);    /* hex, after finish */
const char *blob_put_sha256(const blob_put *p); /* hex, after finish */
const char *blob_put_sha1(const blob_put *p);   /* hex, after finish (hawkBit DDI clients) */
/* Stores the finished bytes under their sha256 name, atomically (when that name exists
 * already, the bytes are dropped and the blob there is shared). Call with blob_lock held.
 * 0, or -1 (logged; nothing stored). */
int blob_put_commit(blob_put *p);
/* Frees p; the bytes of an uncommitted put are removed. NULL is fine. */
void blob_put_free(blob_put *p);

/* --- in use ------------------------------------------------------------------------------ */
void blob_lock(blob_store *b);
void blob_unlock(blob_store *b);
/* 1 when a blob sha256 is stored, 0 when not, -1 on error. */
int blob_exists(blob_store *b, const char *sha256);
/* Removes blob sha256 unless the used callback says a row uses it (or cannot tell). Call
 * with blob_lock held. */
void blob_remove_if_unused(blob_store *b, const char *sha256);
/* At start: removes leftovers of interrupted uploads and blobs no row uses (a crash
 * between the blob's commit and the row's). Takes blob_lock itself. */
void blob_sweep(blob_store *b);

/* --- reading ------------------------------------------------------------------------------ */
/* OTA_OK with *out and *size; OTA_ENOTFOUND when there is no such blob; OTA_EIO (a file)
 * or OTA_EDB (the database) on error, logged. */
ota_err blob_reader_open(blob_store *b, const char *sha256, blob_reader **out, uint64_t *size);
/* Reads up to len bytes at off into buf: the count (0 at or past the end), or -1. */
ssize_t blob_read_at(blob_reader *rd, uint64_t off, void *buf, size_t len);
/* A file descriptor of the bytes, handed over to the caller (who closes it), when the
 * store keeps them as a plain file; -1 otherwise. */
int blob_reader_take_fd(blob_reader *rd);
void blob_reader_close(blob_reader *rd); /* NULL is fine */

#endif
