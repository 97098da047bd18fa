/*
 * conn_table: the plugin's view of who is connected, one entry per live device
 * connection (keyed by the broker's struct mosquitto pointer), and for each client id the
 * one connection that is current. Presence is tracked per connection because on a takeover
 * (the same client id connecting again) Mosquitto runs the new login before the old
 * connection's disconnect; the old entry is then "superseded": it gets its "off" at the
 * takeover and stays silent when its disconnect comes. Expected load: up to about a
 * million entries, O(1) per login and logout, O(n) per snapshot. Not thread-safe (the
 * broker is single-threaded).
 */
#ifndef OTA_CONN_TABLE_H
#define OTA_CONN_TABLE_H

#include "ota_auth_rules.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct conn_entry conn_entry;

typedef struct {
    conn_entry **by_client; /* chains keyed by the connection pointer */
    conn_entry **by_cid;    /* chains of current entries keyed by client id */
    size_t nbuckets;        /* power of two, same for both */
    size_t entries;         /* all entries (current + superseded) */
    size_t current;         /* current entries: the devices online */
} conn_table;

/* Called with the client id of a connection that just stopped being online. */
typedef void (*conn_off_fn)(const char *cid, void *ud);

/* Returns 0, or -1 when out of memory. */
int conn_table_init(conn_table *t);
void conn_table_free(conn_table *t);

/* Records a successful login of client as cid (a valid "pk.id"). A current connection with
 * the same cid is superseded and reported through off (before this returns), as is a stale
 * entry of the same pointer. Returns 0, or -1 when out of memory (nothing recorded). */
int conn_table_login(conn_table *t, const void *client, const char *cid, conn_off_fn off, void *ud);

/* Forgets client. Returns 1 and copies its cid into cid_out (>= OTA_CLIENT_ID_MAX+1 bytes) when
 * it was a current connection (the caller publishes "off"), 0 when it was superseded or
 * unknown (refused logins, the server's own connection). */
int conn_table_logout(conn_table *t, const void *client, char *cid_out);

/* 1 when cid has a current connection. */
int conn_table_online(const conn_table *t, const char *cid);

/* Calls fn for each current cid. fn must not change the table. */
void conn_table_foreach(const conn_table *t, void (*fn)(const char *cid, void *ud), void *ud);

#endif
