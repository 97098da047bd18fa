/*
 * conn_table: two chained hash tables over the same entries (see ota_conn_table.h). Buckets
 * double when the entries outnumber them, so chains stay short at a million devices.
 */
#include "ota_conn_table.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct conn_entry {
    const void *client;
    conn_entry *next_client;
    conn_entry *next_cid; /* only while current */
    bool current;
    char cid[OTA_CLIENT_ID_MAX + 1];
};

#define INITIAL_BUCKETS 1024u

static size_t hash_ptr(const void *p)
{
    uint64_t x = (uint64_t)(uintptr_t)p;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (size_t)x;
}

static size_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return (size_t)h;
}

int conn_table_init(conn_table *t)
{
    memset(t, 0, sizeof *t);
    t->by_client = calloc(INITIAL_BUCKETS, sizeof *t->by_client);
    t->by_cid = calloc(INITIAL_BUCKETS, sizeof *t->by_cid);
    if (!t->by_client || !t->by_cid) {
        conn_table_free(t);
        return -1;
    }
    t->nbuckets = INITIAL_BUCKETS;
    return 0;
}

void conn_table_free(conn_table *t)
{
    if (!t)
        return;
    if (t->by_client) {
        for (size_t i = 0; i < t->nbuckets; i++) {
            conn_entry *e = t->by_client[i];
            while (e) {
                conn_entry *next = e->next_client;
                free(e);
                e = next;
            }
        }
    }
    free(t->by_client);
    free(t->by_cid);
    memset(t, 0, sizeof *t);
}

/* Doubles the buckets; on allocation failure the table keeps working with longer chains. */
static void grow(conn_table *t)
{
    size_t n = t->nbuckets * 2;
    conn_entry **bc = calloc(n, sizeof *bc), **bi = calloc(n, sizeof *bi);
    if (!bc || !bi) {
        free(bc);
        free(bi);
        return;
    }
    for (size_t i = 0; i < t->nbuckets; i++) {
        conn_entry *e = t->by_client[i];
        while (e) {
            conn_entry *next = e->next_client;
            size_t b = hash_ptr(e->client) & (n - 1);
            e->next_client = bc[b];
            bc[b] = e;
            e = next;
        }
        e = t->by_cid[i];
        while (e) {
            conn_entry *next = e->next_cid;
            size_t b = hash_str(e->cid) & (n - 1);
            e->next_cid = bi[b];
            bi[b] = e;
            e = next;
        }
    }
    free(t->by_client);
    free(t->by_cid);
    t->by_client = bc;
    t->by_cid = bi;
    t->nbuckets = n;
}

static conn_entry *find_client(const conn_table *t, const void *client, conn_entry ***link)
{
    conn_entry **l = &t->by_client[hash_ptr(client) & (t->nbuckets - 1)];
    for (; *l; l = &(*l)->next_client) {
        if ((*l)->client == client) {
            if (link)
                *link = l;
            return *l;
        }
    }
    return NULL;
}

static conn_entry *find_cid(const conn_table *t, const char *cid, conn_entry ***link)
{
    conn_entry **l = &t->by_cid[hash_str(cid) & (t->nbuckets - 1)];
    for (; *l; l = &(*l)->next_cid) {
        if (strcmp((*l)->cid, cid) == 0) {
            if (link)
                *link = l;
            return *l;
        }
    }
    return NULL;
}

/* Takes e out of the current set (it stays in by_client). */
static void unset_current(conn_table *t, conn_entry *e)
{
    conn_entry **l;
    if (!e->current)
        return;
    if (find_cid(t, e->cid, &l) == e)
        *l = e->next_cid;
    e->next_cid = NULL;
    e->current = false;
    t->current--;
}

int conn_table_logout(conn_table *t, const void *client, char *cid_out)
{
    conn_entry **l, *e = find_client(t, client, &l);
    int was_current;
    if (!e)
        return 0;
    was_current = e->current;
    unset_current(t, e);
    *l = e->next_client;
    t->entries--;
    if (was_current && cid_out)
        memcpy(cid_out, e->cid, sizeof e->cid);
    free(e);
    return was_current;
}

int conn_table_login(conn_table *t, const void *client, const char *cid, conn_off_fn off, void *ud)
{
    char old[OTA_CLIENT_ID_MAX + 1];
    conn_entry *e, *prev;
    size_t len = strnlen(cid, OTA_CLIENT_ID_MAX + 1);
    if (len > OTA_CLIENT_ID_MAX)
        return -1;
    e = calloc(1, sizeof *e);
    if (!e)
        return -1;
    /* The same pointer again: a connection whose disconnect we never saw. */
    if (conn_table_logout(t, client, old) == 1 && off)
        off(old, ud);
    prev = find_cid(t, cid, NULL);
    if (prev) {
        unset_current(t, prev);
        if (off)
            off(cid, ud);
    }
    if (t->entries >= t->nbuckets)
        grow(t);
    e->client = client;
    memcpy(e->cid, cid, len);
    e->cid[len] = '\0';
    e->current = true;
    size_t bc = hash_ptr(client) & (t->nbuckets - 1), bi = hash_str(e->cid) & (t->nbuckets - 1);
    e->next_client = t->by_client[bc];
    t->by_client[bc] = e;
    e->next_cid = t->by_cid[bi];
    t->by_cid[bi] = e;
    t->entries++;
    t->current++;
    return 0;
}

int conn_table_online(const conn_table *t, const char *cid)
{
    return find_cid(t, cid, NULL) != NULL;
}

void conn_table_foreach(const conn_table *t, void (*fn)(const char *cid, void *ud), void *ud)
{
    for (size_t i = 0; i < t->nbuckets; i++) {
        for (conn_entry *e = t->by_cid[i]; e; e = e->next_cid)
            fn(e->cid, ud);
    }
}
