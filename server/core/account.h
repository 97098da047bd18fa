/*
 * account: the rules of people and their credentials that need no I/O: the three roles
 * and their order, user names, password hashing (scrypt through OpenSSL 3's EVP_KDF, a
 * random salt per password), bearer tokens (random, kept only as their SHA-256) and the
 * sign-in throttle that slows down and then refuses repeated failures. docs/api.md
 * ("Accounts, roles and tokens") describes what users see of it.
 *
 * Stored password form: "scrypt$<log2 N>$<r>$<p>$<salt hex>$<key hex>"; the parameters
 * travel with the hash, so they can be raised later without breaking old passwords.
 * Passwords are never logged and never leave these functions except as that hash.
 *
 * Expected load: a password hash costs about 32 MiB of memory and tens of milliseconds
 * (once per sign-in); a token check is one SHA-256 (every API call).
 */
#ifndef OTAD_ACCOUNT_H
#define OTAD_ACCOUNT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

/* Roles in rising order: each may do what the ones below it may. */
typedef enum {
    ACCT_ROLE_NONE = 0,
    ACCT_VIEWER = 1,   /* read only */
    ACCT_OPERATOR = 2, /* + products, devices, firmware, batches */
    ACCT_ADMIN = 3,    /* + users and every token */
} acct_role;

/* "viewer", "operator", "admin" ("" for ACCT_ROLE_NONE). */
const char *acct_role_name(acct_role r);
/* The role named s, or ACCT_ROLE_NONE. */
acct_role acct_role_parse(const char *s);

#define ACCT_NAME_MAX 64      /* bytes of a user or token name */
#define ACCT_PASSWORD_MIN 8   /* bytes */
#define ACCT_PASSWORD_MAX 256 /* bytes */
#define ACCT_HASH_MAX 256     /* stored password form, with NUL */
#define ACCT_TOKEN_HEX 64     /* a hashed token: SHA-256 in hex */
#define ACCT_TOKEN_MAX 80     /* a bearer token as given out, with NUL */

/* 0 when name is a valid user or token name: 1..ACCT_NAME_MAX bytes of [A-Za-z0-9._@-]
 * starting with a letter or digit; else -1 with a sentence in why. */
int acct_valid_name(const char *name, char *why, size_t whylen);
/* 0 when the password's length is within ACCT_PASSWORD_MIN..MAX; else -1 with why. */
int acct_valid_password(const char *pw, char *why, size_t whylen);

/* Hashes pw with a fresh random salt into out (>= ACCT_HASH_MAX). Returns 0, or -1 when
 * OpenSSL fails (logged). */
int acct_password_hash(const char *pw, char *out, size_t outlen);
/* 1 when pw matches the stored form, 0 when it does not (or stored is malformed or
 * empty), -1 when OpenSSL fails (logged). Compares in constant time. */
int acct_password_check(const char *pw, const char *stored);

/* A new bearer token: "ota_" and 64 random hex characters into token (>= ACCT_TOKEN_MAX),
 * its SHA-256 hex into hash (>= ACCT_TOKEN_HEX + 1). Returns 0 or -1. */
int acct_token_new(char *token, char *hash);
/* The SHA-256 hex of any presented token into hash (>= ACCT_TOKEN_HEX + 1). 0 or -1. */
int acct_token_hash(const char *token, char *hash);

/* ---- sign-in throttle ---------------------------------------------------------------
 * Counts failed sign-ins per key (a user name, a source address) in a fixed table. The
 * first `free` failures of a key cost nothing; each later one makes the key wait
 * 1, 2, 4, ... seconds before it may try again; from `lock` failures on the key is refused
 * for ACCT_LOCK_MS. A key forgotten after ACCT_LOCK_MS without failures; a success
 * clears it. When the table is full the entry idle the longest is reused. Thread-safe. */
#define ACCT_THROTTLE_SLOTS 4096
#define ACCT_LOCK_MS (15 * 60 * 1000)

typedef struct {
    char key[80];
    int fails;
    int64_t last_ms;  /* last failure */
    int64_t until_ms; /* no attempt before this */
} acct_throttle_slot;

typedef struct {
    pthread_mutex_t mu;
    int free, lock;
    acct_throttle_slot slot[ACCT_THROTTLE_SLOTS];
} acct_throttle;

/* free_fails >= 0, lock_fails > free_fails. */
void acct_throttle_init(acct_throttle *t, int free_fails, int lock_fails);
void acct_throttle_destroy(acct_throttle *t);
/* 0 when key may try now; else the milliseconds it must still wait (> 0). */
int64_t acct_throttle_wait(acct_throttle *t, const char *key, int64_t now_ms);
/* Records a failure; returns the failure count of key so far. */
int acct_throttle_fail(acct_throttle *t, const char *key, int64_t now_ms);
void acct_throttle_ok(acct_throttle *t, const char *key);

#endif
