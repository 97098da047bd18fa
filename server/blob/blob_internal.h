/*
 * blob_internal: what blob.c shares with the implementations (blob_fs.c, blob_pg.c) and
 * nothing else uses. blob.c owns hashing, the in-process lock, the "unused" decisions and
 * argument checks; an implementation only moves bytes, through one blob_ops table.
 */
#ifndef OTAD_BLOB_INTERNAL_H
#define OTAD_BLOB_INTERNAL_H

#include "blob/blob.h"

#include <openssl/evp.h>
#include <pthread.h>

typedef struct blob_ops blob_ops;

struct blob_store {
    const blob_ops *ops;
    char data_dir[1024];
    store_t *store;
    blob_used_fn used;
    void *used_ud;
    pthread_mutex_t mu; /* blob_lock, in this process */
    void *impl;
};

struct blob_put {
    blob_store *b;
    EVP_MD_CTX *md5, *sha256, *sha1;
    uint64_t size;
    char md5_hex[33], sha256_hex[65], sha1_hex[41];
    int failed, finished, committed;
    void *impl;
    void *fs; /* blob_fs.c's state: the fs store's, or blob_pg's local copy */
};

struct blob_reader {
    blob_store *b;
    uint64_t size;
    void *impl;
    void *fs; /* blob_fs.c's state (an open file) */
};

struct blob_ops {
    const char *kind;
    int (*open)(blob_store *b, char *err, size_t errlen);
    void (*close)(blob_store *b);
    int (*put_begin)(blob_put *p);
    int (*put_write)(blob_put *p, const void *data, size_t len);
    int (*put_finish)(blob_put *p); /* durable (or ready to commit) */
    int (*put_commit)(blob_put *p); /* under the name p->sha256_hex */
    void (*put_drop)(blob_put *p);  /* frees impl; removes uncommitted bytes */
    /* extra locking across processes (may be NULL), inside the in-process mutex */
    void (*lock)(blob_store *b);
    void (*unlock)(blob_store *b);
    int (*exists)(blob_store *b, const char *sha256);
    void (*remove)(blob_store *b, const char *sha256); /* unconditional; logged */
    /* calls fn for every stored blob's name (sweep); returns how many fn removed */
    int (*each)(blob_store *b, int (*fn)(blob_store *b, const char *sha256));
    int (*sweep_tmp)(blob_store *b); /* leftovers of interrupted puts; returns the count */
    ota_err (*reader_open)(blob_reader *rd, const char *sha256);
    ssize_t (*read_at)(blob_reader *rd, uint64_t off, void *buf, size_t len);
    int (*reader_take_fd)(blob_reader *rd); /* may be NULL */
    void (*reader_close)(blob_reader *rd);
};

extern const blob_ops blob_fs_ops;
#ifdef OTA_HAVE_PG
extern const blob_ops blob_pg_ops;
#endif

/* blob_fs.c: a new read-only descriptor of a finished, uncommitted put's staged file
 * (blob_pg.c copies it into PostgreSQL), or -1 (logged). */
int blob_fs__staged_fd(blob_put *p);

/* "0123...ef" of 64 lower-case hex digits. */
int blob__is_sha_name(const char *s);

#endif
