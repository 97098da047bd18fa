/*
 * timerheap: an array-backed binary min-heap of deadlines (see timerheap.h for the lazy
 * deletion design and the ceiling). Entry i has children 2i+1 and 2i+2. Expected load:
 * up to a few entries per device task in flight, i.e. millions of entries for a large
 * fleet; push and pop are O(log n), removal by id O(n).
 */
#include "timerheap.h"

#include <stdlib.h>

#define DEFAULT_CAPACITY 64

struct theap {
    theap_entry *a; /* owned array of cap entries */
    size_t n;       /* entries in use */
    size_t cap;     /* allocated entries */
    size_t max;     /* hard ceiling on n */
};

theap *theap_new(size_t initial_capacity, size_t max_entries)
{
    if (max_entries == 0)
        return NULL;
    size_t cap = initial_capacity ? initial_capacity : DEFAULT_CAPACITY;
    if (cap > max_entries)
        cap = max_entries;
    theap *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->a = calloc(cap, sizeof *h->a);
    if (!h->a) {
        free(h);
        return NULL;
    }
    h->cap = cap;
    h->max = max_entries;
    return h;
}

void theap_free(theap *h)
{
    if (!h)
        return;
    free(h->a);
    free(h);
}

/* Strict order: due, then id, then kind. */
static int less(const theap_entry *x, const theap_entry *y)
{
    if (x->due_ms != y->due_ms)
        return x->due_ms < y->due_ms;
    if (x->id != y->id)
        return x->id < y->id;
    return x->kind < y->kind;
}

static void sift_up(theap_entry *a, size_t i)
{
    theap_entry e = a[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!less(&e, &a[parent]))
            break;
        a[i] = a[parent];
        i = parent;
    }
    a[i] = e;
}

static void sift_down(theap_entry *a, size_t n, size_t i)
{
    theap_entry e = a[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && less(&a[c + 1], &a[c]))
            c++;
        if (!less(&a[c], &e))
            break;
        a[i] = a[c];
        i = c;
    }
    a[i] = e;
}

ota_err theap_push(theap *h, int64_t due_ms, uint64_t id, int kind)
{
    if (h->n >= h->max)
        return OTA_EFULL;
    if (h->n == h->cap) {
        size_t ncap = h->cap > h->max / 2 ? h->max : h->cap * 2;
        if (ncap > SIZE_MAX / sizeof *h->a)
            return OTA_ENOMEM;
        theap_entry *na = realloc(h->a, ncap * sizeof *na);
        if (!na)
            return OTA_ENOMEM;
        h->a = na;
        h->cap = ncap;
    }
    h->a[h->n] = (theap_entry){due_ms, id, kind};
    sift_up(h->a, h->n);
    h->n++;
    return OTA_OK;
}

ota_err theap_peek(const theap *h, theap_entry *out)
{
    if (h->n == 0)
        return OTA_EEMPTY;
    *out = h->a[0];
    return OTA_OK;
}

/* Removes entry i, keeping the heap property. */
static void remove_at(theap *h, size_t i)
{
    h->n--;
    if (i == h->n)
        return;
    h->a[i] = h->a[h->n];
    if (i > 0 && less(&h->a[i], &h->a[(i - 1) / 2]))
        sift_up(h->a, i);
    else
        sift_down(h->a, h->n, i);
}

ota_err theap_pop(theap *h, theap_entry *out)
{
    if (h->n == 0)
        return OTA_EEMPTY;
    if (out)
        *out = h->a[0];
    remove_at(h, 0);
    return OTA_OK;
}

ota_err theap_pop_due(theap *h, int64_t now_ms, theap_entry *out)
{
    if (h->n == 0 || h->a[0].due_ms > now_ms)
        return OTA_EEMPTY;
    return theap_pop(h, out);
}

size_t theap_remove(theap *h, uint64_t id, int kind)
{
    /* compact the array without the matches, then rebuild the heap bottom-up: O(n) */
    size_t w = 0;
    for (size_t i = 0; i < h->n; i++) {
        if (h->a[i].id == id && (kind < 0 || h->a[i].kind == kind))
            continue;
        h->a[w++] = h->a[i];
    }
    size_t removed = h->n - w;
    h->n = w;
    if (removed && w > 1) {
        for (size_t i = w / 2; i-- > 0;)
            sift_down(h->a, w, i);
    }
    return removed;
}

int64_t theap_wait_ms(const theap *h, int64_t now_ms, int64_t max_wait_ms)
{
    if (h->n == 0)
        return max_wait_ms;
    int64_t due = h->a[0].due_ms;
    if (due <= now_ms)
        return 0;
    /* due - now cannot overflow when due > now unless now is very negative; guard it */
    if (now_ms < 0 && due > INT64_MAX + now_ms)
        return max_wait_ms;
    int64_t w = due - now_ms;
    return w < max_wait_ms ? w : max_wait_ms;
}

void theap_clear(theap *h)
{
    h->n = 0;
}

size_t theap_size(const theap *h)
{
    return h->n;
}

size_t theap_capacity(const theap *h)
{
    return h->cap;
}

size_t theap_max_entries(const theap *h)
{
    return h->max;
}
