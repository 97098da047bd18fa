/*
 * parts: partitions of the device key space and the lease plan (parts.h says what).
 */
#include "core/parts.h"

#include "ota_crypto.h"
#include <stdlib.h>
#include <string.h>

int parts_of(const char *identifier)
{
    return ota_part_of(identifier);
}

int parts_count(uint64_t set)
{
    return __builtin_popcountll(set);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void parts_plan(const char *me, const char *const *live, size_t n_live,
                const parts_lease leases[PARTS_N], int64_t now_ms, parts_action act[PARTS_N])
{
    /* the live names, me added when missing (we are live: we are running), sorted */
    const char **names = calloc(n_live + 1, sizeof *names);
    size_t n = 0;
    int have_me = 0;
    if (!names)
        abort(); /* the daemon may abort on out-of-memory */
    for (size_t i = 0; i < n_live; i++) {
        int dup = 0;
        for (size_t k = 0; k < n && !dup; k++)
            dup = strcmp(names[k], live[i]) == 0;
        if (dup)
            continue;
        names[n++] = live[i];
        have_me |= strcmp(live[i], me) == 0;
    }
    if (!have_me)
        names[n++] = me;
    qsort(names, n, sizeof *names, by_name);
    for (int p = 0; p < PARTS_N; p++) {
        const parts_lease *l = &leases[p];
        int mine = strcmp(l->owner, me) == 0;
        int target_me = strcmp(names[(size_t)p % n], me) == 0;
        int free_now = l->owner[0] == '\0' || l->expires_ms <= now_ms;
        if (mine)
            act[p] = target_me ? PARTS_RENEW : PARTS_RELEASE;
        else if (target_me)
            act[p] = free_now ? PARTS_TAKE : PARTS_WAIT;
        else
            act[p] = PARTS_NONE;
    }
    free(names);
}
