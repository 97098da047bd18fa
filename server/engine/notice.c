/*
 * notice: the thread that listens for the other instances' batch notices (notice.h).
 */
#include "engine/notice.h"

#include "core/parts.h"
#include "ota_log.h"
#include "store/store_parts.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define NOTICE_WAIT_MS 250   /* one wait; bounds how long notice_stop takes */
#define NOTICE_RETRY_MS 1000 /* after the listening connection failed */

struct notice {
    store_t *store;
    char me[PARTS_OWNER_MAX];
    void (*heard)(void *ud);
    void *ud;
    pthread_t thread;
    atomic_bool stop;
};

static void pause_ms(int ms)
{
    struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

static void *notice_main(void *arg)
{
    notice_t *n = arg;
    store_listener *l = NULL;
    int failing = 0;
    while (!atomic_load(&n->stop)) {
        if (!l && store_listener_open(n->store, &l) != OTA_OK) {
            if (!failing)
                OTA_WARN("notice: cannot listen for the other instances' batch notices; "
                         "their batch changes reach this one at its resync (OTA_RESYNC_MS)");
            failing = 1;
            for (int t = 0; t < NOTICE_RETRY_MS && !atomic_load(&n->stop); t += NOTICE_WAIT_MS)
                pause_ms(NOTICE_WAIT_MS);
            continue;
        }
        if (failing)
            OTA_INFO("notice: listening for the other instances' batch notices again");
        failing = 0;
        int got = store_listener_wait(l, n->me, NOTICE_WAIT_MS);
        if (got > 0)
            n->heard(n->ud);
        else if (got < 0) {
            store_listener_close(l);
            l = NULL;
            /* the notices sent meanwhile are lost: the engine's resync makes up for them */
            n->heard(n->ud);
        }
    }
    store_listener_close(l);
    return NULL;
}

notice_t *notice_start(store_t *store, const char *me, void (*heard)(void *ud), void *ud)
{
    notice_t *n = calloc(1, sizeof *n);
    if (!n)
        abort(); /* the daemon may abort on out-of-memory */
    n->store = store;
    snprintf(n->me, sizeof n->me, "%s", me);
    n->heard = heard;
    n->ud = ud;
    atomic_init(&n->stop, false);
    if (pthread_create(&n->thread, NULL, notice_main, n) != 0) {
        OTA_ERROR("notice: cannot start its thread");
        free(n);
        return NULL;
    }
    pthread_setname_np(n->thread, "ota-notice");
    return n;
}

void notice_stop(notice_t *n)
{
    if (!n)
        return;
    atomic_store(&n->stop, true);
    pthread_join(n->thread, NULL);
    free(n);
}
