/*
 * engine: the batch engine's thread (engine.h says what it promises).
 *
 * The loop (engine_main), one round per wake-up, each step a function:
 *   take_inputs      sleep until an input or the next deadline or push token, then take the
 *                    queued inputs (at most ROUND_MAX_EVENTS)
 *   resync_when_due  with several otad: re-read what the others changed (resync)
 *   apply_clock      clock probes move the watermark of device-silence deadlines
 *   round_needed     nothing to write (a timed wake-up, only probes): no transaction
 *   run_round        one store transaction: apply_inputs in arrival order, fire_deadlines
 *                    that are due, settle_ready (which of the tasks they left waiting for a
 *                    push have a ready device, in one load), send_pushes the pacing allows,
 *                    write_counts and mark finished batches completed; the webhook events of
 *                    tasks that ended and batches that completed go into the same
 *                    transaction; commit
 *   publish_outputs  after the commit: publish the round's messages, arm its new deadlines
 *   mark_done        engine_sync's waiters learn the inputs are durable
 *   requeue          the round failed, so nothing was written: its messages are dropped, its
 *                    inputs go back in front, and the in-memory view (timers, push queues)
 *                    is rebuilt from the store (rebuild) before the next round
 *   refresh_pushable after a presence snapshot, re-read who is ready for a push
 *   refresh_batches  after a phase began or a resume, re-read that batch's waiting devices
 * then finished batches are dropped from memory and the round is counted.
 *
 * With partition leases (cfg.lease_owner; docs/postgresql.md, "Partitions") two steps come
 * first: adopt_parts switches to the partitions the lease keeper (lease.c) holds now
 * (rebuilding the view for them, replaying what was set aside for a partition gained), and
 * split_inputs sets aside the device messages and presence of other partitions (park); a
 * round then starts with the fence (store_uow_fence), so it commits only while this
 * instance still holds its leases.
 *
 * In memory, per running batch: its parameters (durations already divided by the time
 * scale), a token bucket for maxPushPerMinute and a FIFO of devices known to be ready for
 * a push. Per deadline: one heap entry (lazy deletion: a popped entry that no longer
 * matches the task is dropped by the state machine's TIMER_STALE). Everything else lives
 * in the store. Memory per task is a heap entry while a deadline is armed and a queue
 * slot while waiting to be pushed: tens of bytes.
 */
#include "engine/engine.h"

#include "core/ddi.h"
#include "core/devmsg.h"
#include "core/fsm.h"
#include "core/parts.h"
#include "core/target.h"
#include "core/rollout.h"
#include "core/window.h"
#include "core/timerheap.h"
#include "core/urlsign.h"
#include "ota_sign.h"
#include "ota_log.h"
#include "ota_time.h"
#include "engine/lease.h"
#include "engine/notice.h"
#include "store/store_batch.h"
#include "store/store_parts.h"
#include "store/store_webhook.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define KIND_EXPIRY 100            /* heap kind of a batch's validity end (id = batch id) */
#define KIND_PHASE 101             /* heap kind of a phase's soak end (id = batch id) */
#define KIND_START 102             /* heap kind of a scheduled batch's startAt (id = batch id) */
#define ROUND_MAX_EVENTS 5000      /* inputs applied per transaction */
#define ROUND_MAX_TIMERS 5000      /* deadlines fired per transaction */
#define ROUND_MAX_PUSHES 5000      /* pushes per transaction */
#define ROUND_FIRST_PUSHES 250     /* ... after a round that pushed none (round_push_cap) */
#define MAX_WAIT_MS 1000           /* the loop wakes at least this often */
#define HOLD_MAX_MS 20             /* a round waits this long at most for a read phase (engine_hold) */
#define HOLD_LAG_MS 2000           /* pushes wait while device messages reach us later than this */
#define HOLD_PUBLISHES 2000        /* ... or while this many publishes wait to leave */
#define SENT_RING 8192             /* rounds with pushes remembered (push_left): a minute at
                                      the benchmark's busiest */
#define PARK_KEEP_MS 60000         /* other partitions' messages are kept this long ... */
#define PARK_MAX 200000            /* ... and at most this many */
#define REPLAY_MARGIN_MS 2000      /* replayed from this long before the last owner's
                                      watermark (probes are stamped by each instance's clock) */

typedef enum {
    IN_MESSAGE,
    IN_PRESENCE,
    IN_SNAPSHOT,
    IN_BATCH_CREATED,
    IN_BATCH_ENDED,
    IN_BATCH_CHANGED,
    IN_CLOCK,
    IN_TARGETS,
    IN_DDI
} in_kind;

typedef struct input {
    struct input *next;
    uint64_t seq;  /* arrival number, for engine_sync */
    in_kind kind;
    char pk[OTA_PRODUCT_KEY_MAX + 1];
    char id[OTA_IDENT_MAX + 1];
    char suffix[OTA_TOPIC_SUFFIX_MAX + 1];
    int online;
    int64_t num;   /* batch id, presence time, a clock probe's send time, or a DDI event's time */
    int ddi;       /* IN_DDI: the engine_ddi_event */
    int step;      /* IN_DDI: progress step or failure step */
    int64_t action; /* IN_DDI: the action id */
    int64_t left_ms; /* IN_CLOCK from engine_published: the probe's send time (0: none) */
    int64_t back_ms; /* ... and when it came back */
    int64_t tag_ms; /* set aside (park): the newest probe before it, and when */
    int64_t parked_ms;
    size_t len;    /* payload bytes, or snapshot entries */
    char **clients;
    char payload[]; /* message payload + NUL */
} input;

typedef struct {
    int64_t *ids;
    size_t head, tail, cap; /* ids[head..tail) */
} idqueue;

typedef struct {
    store_batch row;       /* as loaded (counters not kept current here) */
    fsm_params params;
    int running;           /* not ended: its tasks are worked on (fsm_batch_state_is_running) */
    int pushing;           /* in_progress: pushes go out (paused and scheduled send none) */
    double tokens;
    int64_t refill_ms;
    idqueue pending;       /* device ids ready to push (may hold stale ids: checked at push) */
    target tgt;            /* continuous batches: what a device must match to join */
    /* phases and brakes (docs/batches.md), with a rollout only: the rollout, each phase's
     * devices and finished ones, the batch's failures by reason (ct); ct, row.phase,
     * row.phase_due_ms and row.brakes_fired are the store's (batch_rollout) as read under
     * its lock in the current round (tally_lock), else as last seen */
    int has_rollout;
    rollout ro;
    rollout_tally ct;      /* exact while the round holds the store's lock (tally_lock) */
    int ct_locked;         /* ct was read under the lock in this round (and is written back) */
    int refresh;           /* its phase moved on or it resumed: re-read who waits for a push */
    window_set win;        /* maintenance windows (win.list.n = 0: none); zones owned */
} batch_mem;

typedef struct {
    char pk[OTA_PRODUCT_KEY_MAX + 1];
    char id[OTA_IDENT_MAX + 1];
    char suffix[OTA_TOPIC_SUFFIX_MAX + 1];
    char *payload; /* owned */
} outmsg;

typedef struct {
    int64_t device_id;
    int kind;
    int64_t due_ms;
} rearm;

/* A round whose pushes went out by MQTT (push_left). */
typedef struct {
    int64_t round_ms;  /* the round's now: its pushes' pushed_ms */
    int64_t queued_ms; /* when its publishes were all queued, after the commit */
    int64_t left_ms;   /* when the first probe queued after them came back; 0: not yet */
} sent_round;

struct engine {
    engine_config cfg;
    char *public_url;
    unsigned char url_key[URLSIGN_KEY_BYTES];
    int64_t ack_timeout_ms;
    int64_t ddi_ack_timeout_ms; /* a DDI device's: its poll interval + ack_timeout_ms */
    int64_t ddi_sleep_ms;       /* the poll interval DDI devices are told */
    int64_t next_ddi_sweep_ms;  /* engine thread only (sweep_ddi) */

    pthread_t thread;
    int started;
    pthread_mutex_t mu;
    pthread_cond_t wake;    /* the engine thread waits on it */
    pthread_cond_t room;    /* producers wait on it when the queue is full */
    pthread_cond_t done;    /* engine_sync waits on it */
    uint64_t seq_in;        /* inputs queued so far */
    uint64_t seq_done;      /* inputs committed (or found to need no write) so far */
    input *q_head, *q_tail;
    size_t q_len;
    int stop;
    int holds; /* producers in a read phase (engine_hold) */

    /* engine thread only */
    theap *heap;        /* wall-clock deadlines: validity ends, retry waits */
    theap *sheap;       /* device-silence deadlines (ack, upgrade): fire against wm_ms */
    int64_t wm_ms;      /* clocked: send time of the newest probe applied (0: none yet) */
    int held;           /* pushes were held in the last round */
    int held_waiting;   /* ... while a device waited for one (since held_since) */
    int64_t held_since;
    int last_pushes;    /* pushes of the last round that could push (round_push_cap) */
    int round_mqtt;     /* pushes by MQTT in the round in progress (sent_note) */
    sent_round *sent;   /* ring of SENT_RING: sent[k % SENT_RING] for k in [sent_n - SENT_RING,
                           sent_n); those from sent_backed on have no left_ms yet */
    uint64_t sent_n, sent_backed;
    int64_t held_logged_ms;
    int64_t lag_logged_ms;
    int64_t started_ms;
    batch_mem *batches;
    size_t n_batches, cap_batches;
    outmsg *out;
    size_t n_out, cap_out;
    rearm *arm;
    size_t n_arm, cap_arm;
    struct touched {
        int64_t batch_id;
        int delta[FSM_STATE_COUNT]; /* counter changes of this round, written once at its end */
    } *touched;
    size_t n_touched, cap_touched;
    struct ready_note {
        int64_t batch_id, device_id;
        int phase;
    } *ready; /* to_push tasks whose device may be ready: judged together (settle_ready) */
    size_t n_ready, cap_ready;
    int view_stale;     /* the view above could not be rebuilt from the store (rebuild) */
    int in_round;       /* between run_round's begin and its commit or rollback */
    int resync_failing; /* the last resync could not read the store */
    int snapshot_pending_rebuild;
    int64_t next_resync_ms;
    int targets_pending; /* target_events may hold devices to judge (join_noted) */
    int64_t cont_known;  /* the newest continuous batch id looked for (known_continuous) */
    uint64_t cont_round; /* the round that looked last (known_continuous) */

    /* partitions (cfg.lease_owner): parts_next and parts_cur under mu, parts_cur written by
     * the engine thread; the rest engine thread only */
    lease_t *lease;      /* NULL: one engine owns every partition */
    notice_t *notice;    /* the other instances' batch notices (notice.h); NULL: none */
    atomic_int resync_now; /* a notice was heard: resync at the next loop turn */
    int notice_due;      /* this round changed a batch: tell the others once it commits */
    char *owner;
    uint64_t parts_next; /* what the lease keeper holds; adopted at the next loop turn */
    uint64_t parts_cur;  /* what the engine works on */
    const int64_t *parts_from; /* with parts_next: lease.h's from_ms, or NULL */
    int64_t parts_wm;    /* wm_done when parts_cur was adopted */
    int64_t wm_done;     /* under mu: the watermark of the last committed round */
    pthread_cond_t parts_cv;
    input *park_head, *park_tail; /* other partitions' inputs, oldest first */
    size_t n_parked;
    uint64_t n_foreign;  /* device messages of other partitions received (stats.foreign) */
    uint64_t clock_gate; /* cfg.route: probes that arrived up to this arrival number are
                            older than a partition gained: they move no watermark */

    /* stats (under mu) */
    engine_stats stats;
    /* what the round in progress counted, added to the atomics below once it committed
     * (engine thread only) */
    struct {
        uint64_t acks, retries, failures[FSM_REASON_COUNT], acks_moved;
    } round_counts;
    atomic_ullong acks, retries, failures[FSM_REASON_COUNT], acks_moved;
    hist round_time;

    ota_log_limit *devlog; /* lines about one device: DEVLOG_BURST per DEVLOG_WINDOW_MS */
};

static int parted(const engine_t *e); /* with partition leases (adopt_parts) */
static int owns(const engine_t *e, const struct input *in); /* its partition is this engine's */

/* ---- small containers ------------------------------------------------------------------ */

static void *xrealloc(void *p, size_t n)
{
    void *r = realloc(p, n);
    if (!r && n)
        abort(); /* the daemon may abort on out-of-memory */
    return r;
}

#define GROW(arr, n, cap)                                                                         \
    do {                                                                                          \
        if ((n) == (cap)) {                                                                       \
            (cap) = (cap) ? (cap) * 2 : 64;                                                       \
            (arr) = xrealloc((arr), (cap) * sizeof *(arr));                                       \
        }                                                                                         \
    } while (0)

static void idq_push(idqueue *q, int64_t id)
{
    if (q->tail == q->cap) {
        if (q->head > 0 && q->head >= q->cap / 2) {
            memmove(q->ids, q->ids + q->head, (q->tail - q->head) * sizeof *q->ids);
            q->tail -= q->head;
            q->head = 0;
        } else {
            q->cap = q->cap ? q->cap * 2 : 256;
            q->ids = xrealloc(q->ids, q->cap * sizeof *q->ids);
        }
    }
    q->ids[q->tail++] = id;
}

static int idq_pop(idqueue *q, int64_t *id)
{
    if (q->head == q->tail)
        return 0;
    *id = q->ids[q->head++];
    if (q->head == q->tail)
        q->head = q->tail = 0;
    return 1;
}

static size_t idq_len(const idqueue *q)
{
    return q->tail - q->head;
}

static void idq_free(idqueue *q)
{
    free(q->ids);
    memset(q, 0, sizeof *q);
}

/* ---- batches in memory ----------------------------------------------------------------- */

static int64_t scaled(engine_t *e, int64_t ms)
{
    double v = (double)ms / e->cfg.time_scale;
    return v < 1 ? 1 : (int64_t)v;
}

static void batches_fix_pointers(engine_t *e);

/* A device that sends bad messages as fast as it can must not flood the log: each device
 * gets DEVLOG_BURST lines per DEVLOG_WINDOW_MS (scaled by time_scale), then one summary. */
#define DEVLOG_BURST 10
#define DEVLOG_WINDOW_MS 60000
#define DEVLOG_SLOTS 4096

/* 1 when a line about device pk.id may be written now (common/log_limit.c). */
static int dev_log_ok(engine_t *e, const char *pk, const char *id)
{
    char key[112];
    snprintf(key, sizeof key, "device %.32s.%.64s", pk ? pk : "?", id ? id : "?");
    return ota_log_limit_allow(e->devlog, key, ota_time_now_ms());
}

static batch_mem *batch_find(engine_t *e, int64_t id)
{
    for (size_t i = 0; i < e->n_batches; i++)
        if (e->batches[i].row.id == id)
            return &e->batches[i];
    return NULL;
}

/* The state the row says: running (tasks worked on) and pushing (pushes go out). */
static void batch_state_from_row(batch_mem *b)
{
    fsm_batch_state bs;
    if (fsm_batch_state_from_name(b->row.state, &bs) != 0)
        bs = FSM_BATCH_TERMINATED;
    b->running = fsm_batch_state_is_running(bs);
    b->pushing = fsm_batch_state_is_pushing(bs);
}

/* n devices of phase (0-based, in range) finished in state st (succeeded or failed). */
static void count_finished(batch_mem *b, int phase, fsm_state st, fsm_reason why, int64_t n)
{
    b->ct.finished += n;
    if (st == FSM_SUCCEEDED) {
        b->ct.succ[phase] += n;
        return;
    }
    b->ct.fail[phase] += n;
    b->ct.failed += n;
    if ((unsigned)why < FSM_REASON_COUNT)
        b->ct.failed_by[why] += n;
}

/* 1 when the batch may push at now: in_progress and inside a window (or without one). */
static int can_push(const batch_mem *b, int64_t now)
{
    return b->pushing && window_inside(&b->win, now);
}

/* A batch with a rollout: its stored counters (made from its tasks the first time an engine
 * loads it, store_batch_rollout_init) and the soak end armed. The counters read here are
 * for the log and the API's view only: a round reads them again under the store's lock
 * before it judges a phase or a brake (tally_lock). A store error leaves the view to be
 * rebuilt. */
static void rollout_load(engine_t *e, batch_mem *b)
{
    if (!b->row.rollout[0] || rollout_from_text(b->row.rollout, &b->ro) != 0)
        return;
    b->has_rollout = 1;
    /* not inside a round's unit (the counting would wait for the unit on SQLite): a batch
     * learnt in a round has its counters from its creation, an older one is made at the
     * rebuild that the round's failure (tally_lock) brings */
    if (store_batch_rollout_init(e->cfg.store, b->row.id, !e->in_round, &b->ct) != OTA_OK) {
        OTA_ERROR("engine: batch %lld: cannot count its finished devices by phase; rebuilding",
                  (long long)b->row.id);
        e->view_stale = 1;
    }
    if (b->running && b->row.phase_due_ms > 0)
        theap_push(e->heap, b->row.phase_due_ms, (uint64_t)b->row.id, KIND_PHASE);
}

static batch_mem *batch_add(engine_t *e, const store_batch *row)
{
    batch_mem *b = batch_find(e, row->id);
    if (b)
        return b;
    GROW(e->batches, e->n_batches, e->cap_batches);
    b = &e->batches[e->n_batches++];
    memset(b, 0, sizeof *b);
    b->row = *row;
    batch_state_from_row(b);
    b->params.ack_timeout_ms = e->ack_timeout_ms;
    b->params.timeout_ms = scaled(e, (int64_t)row->timeout_min * 60000);
    b->params.retry_interval_ms = scaled(e, (int64_t)row->retry_interval_min * 60000);
    b->params.retry_times = row->retry_times;
    b->params.confirm_ms = row->confirm_min > 0 ? scaled(e, (int64_t)row->confirm_min * 60000) : 0;
    b->params.firmware_version = b->row.firmware_version;
    b->refill_ms = ota_time_now_ms();
    b->tokens = 1;
    if (row->continuous &&
        target_load(&b->tgt, row->target_tags, row->target_groups, row->target_versions) != 0) {
        /* a target the API wrote is always of its form; take nobody rather than everybody */
        OTA_ERROR("engine: batch %lld: its target cannot be read; no device will join it",
                  (long long)row->id);
        target_free(&b->tgt);
        b->row.continuous = 0;
    }
    batches_fix_pointers(e); /* the array may have moved */
    if (b->running)
        theap_push(e->heap, row->expires_ms, (uint64_t)row->id, KIND_EXPIRY);
    rollout_load(e, b);
    if (b->row.windows[0] && window_set_load(b->row.windows, &b->win) != 0)
        OTA_ERROR("engine: batch %lld: cannot load its windows' time zones; it pushes at any "
                  "time",
                  (long long)b->row.id);
    if (strcmp(b->row.state, "scheduled") == 0)
        theap_push(e->heap, b->row.start_at_ms, (uint64_t)b->row.id, KIND_START);
    return b;
}

/* Loads a batch the store knows but memory does not (created by the API just now). */
static batch_mem *batch_get(engine_t *e, int64_t id)
{
    batch_mem *b = batch_find(e, id);
    store_batch row;
    if (b)
        return b;
    if (store_batch_get(e->cfg.store, id, &row) != OTA_OK)
        return NULL;
    return batch_add(e, &row);
}

static void batches_fix_pointers(engine_t *e)
{
    for (size_t i = 0; i < e->n_batches; i++)
        e->batches[i].params.firmware_version = e->batches[i].row.firmware_version;
}

static void batch_drop_finished(engine_t *e)
{
    size_t w = 0;
    for (size_t i = 0; i < e->n_batches; i++) {
        if (e->batches[i].running) {
            if (w != i)
                e->batches[w] = e->batches[i];
            w++;
        } else {
            idq_free(&e->batches[i].pending);
            target_free(&e->batches[i].tgt);
            window_set_free(&e->batches[i].win);
        }
    }
    e->n_batches = w;
    batches_fix_pointers(e);
}

/* Device-silence deadlines (no ack, no final report in time) are judged by what has reached
 * us, not by the wall clock alone. With cfg.clocked the bus sends a probe through the broker
 * every ~100 ms and hands its send time back in line with the device messages
 * (engine_clock). A deadline due at D fires once a probe sent at or after D has been
 * applied: every message a device had got to the broker before that probe was applied
 * first, however long it then waited on the way (the broker's queue for us, the socket, our
 * input queue). So a backlog on our side never fails a device that answered in time. Other
 * deadlines (validity end, retry interval) are the wall clock's. */
static int is_silence(int kind)
{
    return kind == FSM_DL_ACK || kind == FSM_DL_UPGRADE;
}

static theap *heap_for(engine_t *e, int kind)
{
    return is_silence(kind) ? e->sheap : e->heap;
}

static int64_t silence_now(const engine_t *e, int64_t now)
{
    if (!e->cfg.clocked)
        return now;
    return e->wm_ms < now ? e->wm_ms : now;
}

/* An ack deadline counts from when the push left us, not from its commit. A round's pushes
 * are queued for the broker after its commit, behind whatever publishes wait already, and
 * under load they reach the broker seconds later: a device cannot answer a push it has not
 * got. The probes show when they left: the clock probe goes out on the connection the
 * pushes take, behind them (mqttc.c, clock_tick), so once the first probe queued after a
 * round's pushes is back (engine_published), they have all reached the broker. */

/* After the commit: the round that ran at round_ms queued its pushes by now. */
static void sent_note(engine_t *e, int64_t round_ms)
{
    e->sent[e->sent_n % SENT_RING] = (sent_round){round_ms, ota_time_now_ms(), 0};
    e->sent_n++;
}

/* A probe sent at probe_ms came back at back_ms: the rounds queued before it have left.
 * Strictly before: queued_ms is read after a round's publishes are queued and probe_ms
 * before the probe is, so queued_ms < probe_ms in whole ms means the probe is behind them. */
static void sent_back(engine_t *e, int64_t probe_ms, int64_t back_ms)
{
    if (e->sent_n - e->sent_backed > SENT_RING)
        e->sent_backed = e->sent_n - SENT_RING; /* overwritten before they were back */
    while (e->sent_backed < e->sent_n) {
        sent_round *s = &e->sent[e->sent_backed % SENT_RING];
        if (s->queued_ms >= probe_ms)
            break;
        s->left_ms = back_ms;
        e->sent_backed++;
    }
}

/* When the pushes of the round that ran at pushed_ms left us: a time, 0 while they have
 * not, -1 when no round of ours remembered ran then (pushed by an otad before a restart,
 * by another instance, or longer ago than SENT_RING rounds). Newest first, so a lookup
 * costs the rounds since the push (an ack timeout's worth); a wall clock set back by more
 * than that makes an older push look unremembered, which only keeps its deadline. */
static int64_t push_left(const engine_t *e, int64_t pushed_ms)
{
    uint64_t oldest = e->sent_n > SENT_RING ? e->sent_n - SENT_RING : 0;
    for (uint64_t k = e->sent_n; k > oldest; k--) {
        const sent_round *s = &e->sent[(k - 1) % SENT_RING];
        if (s->round_ms == pushed_ms) /* the latest such round: its probe came back last */
            return s->left_ms;
        if (s->round_ms < pushed_ms)
            break;
    }
    return -1;
}

/* The ack deadline a pushed task deserves, at the silence clock snow: the ack timeout of an
 * MQTT push (every batch's) from when its push left us (push_left), or from snow while it
 * has not left yet. Without probes, or for a push we do not remember, the deadline it has.
 * A DDI device's (its deadline counts from its next poll, and a round may push both kinds)
 * moves only if this comes later than that. */
static int64_t ack_due(const engine_t *e, const fsm_task *t, int64_t snow)
{
    if (!e->cfg.clocked)
        return t->deadline_ms;
    int64_t left = push_left(e, t->pushed_ms);
    if (left < 0)
        return t->deadline_ms;
    return (left ? left : snow) + e->ack_timeout_ms;
}

/* Pushes wait while device messages reach us late (the answers to more pushes would only
 * queue behind them) or while earlier publishes have not left yet (a push must leave soon
 * after its ack clock starts). Both clear as the backlog drains. */
static int pushes_held(engine_t *e, int64_t now)
{
    if (e->cfg.clocked && now - e->wm_ms > HOLD_LAG_MS)
        return 1;
    return e->cfg.publish_pending && e->cfg.publish_pending(e->cfg.publish_ud) > HOLD_PUBLISHES;
}

static void pushable_cb(void *ud, int64_t device_id)
{
    idq_push(&((batch_mem *)ud)->pending, device_id);
}

static void deadline_cb(void *ud, int64_t device_id, int kind, int64_t due_ms)
{
    engine_t *e = ud;
    if (kind != FSM_DL_NONE)
        theap_push(heap_for(e, kind), due_ms, (uint64_t)device_id, kind);
}

/* (Re)builds the whole in-memory view from the store. Returns NULL, or what the read that
 * failed was for (the view is then partial: see rebuild). */
static const char *reload(engine_t *e)
{
    store_batch *rows = NULL;
    size_t n = 0;
    theap_clear(e->heap);
    theap_clear(e->sheap);
    for (size_t i = 0; i < e->n_batches; i++) {
        idq_free(&e->batches[i].pending);
        target_free(&e->batches[i].tgt);
        window_set_free(&e->batches[i].win);
    }
    e->n_batches = 0;
    e->targets_pending = 1; /* what target_events holds is judged in the next round */
    if (store_engine_batches(e->cfg.store, &rows, &n) != OTA_OK)
        return "the running batches";
    for (size_t i = 0; i < n; i++)
        batch_add(e, &rows[i]);
    free(rows);
    batches_fix_pointers(e);
    for (size_t i = 0; i < e->n_batches; i++)
        if (store_engine_pushable(e->cfg.store, e->batches[i].row.id, e->batches[i].row.phase,
                                  pushable_cb,
                                  &e->batches[i]) != OTA_OK)
            return "the devices waiting for a push";
    if (store_engine_deadlines(e->cfg.store, INT64_MAX, INT64_MAX, deadline_cb, e) != OTA_OK)
        return "the armed deadlines";
    OTA_INFO("engine: %zu running batches, %zu armed deadlines", e->n_batches,
             theap_size(e->heap) + theap_size(e->sheap));
    return NULL;
}

/* ---- outputs of a round ---------------------------------------------------------------- */

static void out_add(engine_t *e, const char *pk, const char *id, const char *suffix, char *payload)
{
    if (!payload)
        return;
    GROW(e->out, e->n_out, e->cap_out);
    outmsg *m = &e->out[e->n_out++];
    snprintf(m->pk, sizeof m->pk, "%s", pk);
    snprintf(m->id, sizeof m->id, "%s", id);
    snprintf(m->suffix, sizeof m->suffix, "%s", suffix);
    m->payload = payload;
}

static void arm_add(engine_t *e, int64_t device_id, int kind, int64_t due_ms)
{
    GROW(e->arm, e->n_arm, e->cap_arm);
    e->arm[e->n_arm++] = (rearm){device_id, kind, due_ms};
}

/* Accumulates a transition's counter changes for the batch (written at the round's end). */
static void touch(engine_t *e, int64_t batch_id, const int delta[FSM_STATE_COUNT])
{
    size_t i;
    for (i = 0; i < e->n_touched; i++)
        if (e->touched[i].batch_id == batch_id)
            break;
    if (i == e->n_touched) {
        GROW(e->touched, e->n_touched, e->cap_touched);
        memset(&e->touched[i], 0, sizeof e->touched[i]);
        e->touched[i].batch_id = batch_id;
        e->n_touched++;
    }
    for (int k = 0; k < FSM_STATE_COUNT; k++)
        e->touched[i].delta[k] += delta[k];
}

/* Writes the batch's accumulated counter changes now (before a terminate, which sets the
 * counters from the row itself). */
static ota_err flush_counts(engine_t *e, store_uow *u, int64_t batch_id)
{
    for (size_t i = 0; i < e->n_touched; i++) {
        if (e->touched[i].batch_id != batch_id)
            continue;
        ota_err rc = store_uow_batch_counts(u, batch_id, e->touched[i].delta);
        memset(e->touched[i].delta, 0, sizeof e->touched[i].delta);
        return rc;
    }
    return OTA_OK;
}

static void outputs_clear(engine_t *e, int send)
{
    for (size_t i = 0; i < e->n_out; i++) {
        outmsg *m = &e->out[i];
        if (send && e->cfg.publish(e->cfg.publish_ud, m->pk, m->id, m->suffix, m->payload,
                                   strlen(m->payload)) != 0)
            OTA_WARN("engine: publish to %s.%s %s failed", m->pk, m->id, m->suffix);
        free(m->payload);
    }
    e->n_out = 0;
    e->round_mqtt = 0;
    if (send)
        for (size_t i = 0; i < e->n_arm; i++)
            if (theap_push(heap_for(e, e->arm[i].kind), e->arm[i].due_ms,
                           (uint64_t)e->arm[i].device_id, e->arm[i].kind) != OTA_OK)
                OTA_ERROR("engine: timer heap full; device %lld deadline lost until restart",
                          (long long)e->arm[i].device_id);
    e->n_arm = 0;
    e->n_touched = 0;
}

/* ---- applying the state machine -------------------------------------------------------- */

typedef struct {
    const char *pk;
    const char *id;
} who;

/* ---- phases and brakes (docs/batches.md, "Phases, brakes and time") ---------------------- */

/* The batch's rollout progress (phase, soak end, brakes fired) written in the unit. */
static ota_err save_progress(store_uow *u, batch_mem *b)
{
    return store_uow_batch_phase(u, b->row.id, b->row.phase, b->row.phase_due_ms,
                                 b->row.brakes_fired);
}

/* A batch event the engine decides (batch.completed, batch.paused by a brake or a phase,
 * batch.phase.started) in the round's transaction: the batch's webhook data with extra's members added (extra is
 * taken, may be NULL). */
static ota_err batch_hook(engine_t *e, store_uow *u, const batch_mem *b, hook_event ev,
                          json_t *extra, int64_t now)
{
    e->notice_due = 1; /* the other instances re-read the batch once this round commits */
    char *data = store_webhook_batch_data(&b->row, b->row.state);
    json_t *o = data ? json_loads(data, 0, NULL) : NULL;
    free(data);
    if (o && extra)
        json_object_update(o, extra);
    json_decref(extra);
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!text)
        abort(); /* the daemon may abort on out-of-memory */
    ota_err rc = store_uow_event(u, ev, text, now);
    free(text);
    return rc;
}

/* Stops a pushing batch: paused with why (JSON text, owned by the caller), and its
 * batch.paused event. A batch that is already paused or scheduled keeps its state: the store
 * decides (another otad may have paused or resumed it since this one last looked). */
static ota_err halt(engine_t *e, store_uow *u, batch_mem *b, const char *why, int64_t now)
{
    int done = 0;
    ota_err rc = store_uow_batch_pause(u, b->row.id, why, &done);
    if (rc != OTA_OK || !done)
        return rc;
    b->pushing = 0;
    snprintf(b->row.state, sizeof b->row.state, "paused");
    return batch_hook(e, u, b, HOOK_EV_BATCH_PAUSED,
                      json_pack("{s:o}", "pauseReason", json_loads(why, 0, NULL)), now);
}

static char *why_text(json_t *o)
{
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    if (!s)
        abort(); /* the daemon may abort on out-of-memory */
    return s;
}

static json_t *time_json(int64_t ms)
{
    char buf[40];
    return json_string(ota_time_format_ms(ms, buf, sizeof buf));
}

/* Reads one batch's stored counters and progress under the store's lock (held until the
 * round ends) into memory: from here to the commit they are the batch's exact totals, whatever
 * other otad on the database did before. A phase moved on elsewhere makes its devices
 * re-read for pushes; a soak started elsewhere is armed here too (whoever fires it first
 * moves the phase on; the other finds it moved, KIND_PHASE in on_timer). */
static ota_err tally_lock_one(engine_t *e, store_uow *u, batch_mem *b)
{
    store_rollout r;
    ota_err rc = store_uow_rollout_lock(u, b->row.id, &r);
    if (rc == OTA_ENOTFOUND) {
        OTA_ERROR("engine: batch %lld: its rollout counters are not stored; rebuilding",
                  (long long)b->row.id);
        rc = OTA_EDB; /* the rebuild's load makes them (rollout_load) */
    }
    if (rc != OTA_OK)
        return rc;
    b->ct = r.ct;
    if (r.phase != b->row.phase)
        b->refresh = 1;
    if (r.phase_due_ms > 0 && r.phase_due_ms != b->row.phase_due_ms)
        arm_add(e, b->row.id, KIND_PHASE, r.phase_due_ms);
    b->row.phase = r.phase;
    b->row.phase_due_ms = r.phase_due_ms;
    b->row.brakes_fired = r.brakes_fired;
    b->ct_locked = 1;
    return OTA_OK;
}

/* Before a round reads or changes a batch's phase counters (a device of it finished or
 * joined, its soak ended, it resumed): the batch's stored counters, locked. The rounds of
 * several otad lock these rows in batch id order (with the running batches of lower id
 * this engine knows taken first, a later need in the round is always of a higher id), so
 * they wait for each other but never in a cycle; a batch learnt in the middle of a round
 * with a lower id is the exception, which the database resolves by failing one round
 * (retried). Written back by tally_write. */
static ota_err tally_lock(engine_t *e, store_uow *u, batch_mem *b)
{
    if (!b->has_rollout || b->ct_locked)
        return OTA_OK;
    for (;;) {
        batch_mem *next = NULL;
        for (size_t i = 0; i < e->n_batches; i++) {
            batch_mem *x = &e->batches[i];
            if (x->has_rollout && x->running && !x->ct_locked && x->row.id < b->row.id &&
                (!next || x->row.id < next->row.id))
                next = x;
        }
        if (!next)
            break;
        ota_err rc = tally_lock_one(e, u, next);
        if (rc != OTA_OK)
            return rc;
    }
    return tally_lock_one(e, u, b);
}

/* Step 4, first: the counters and progress of the batches whose rows the round locked,
 * written back (their locks end with the commit). */
static ota_err tally_write(engine_t *e, store_uow *u)
{
    for (size_t i = 0; i < e->n_batches; i++) {
        batch_mem *b = &e->batches[i];
        if (!b->ct_locked)
            continue;
        store_rollout r = {b->ct, b->row.phase, b->row.phase_due_ms, b->row.brakes_fired};
        ota_err rc = store_uow_rollout_put(u, b->row.id, &r);
        if (rc != OTA_OK)
            return rc;
        b->ct_locked = 0;
    }
    return OTA_OK;
}

/* The abort rules, at the event that finished a device: the first rule not fired yet that
 * fires now pauses or aborts the batch, with the rule and the figures of this moment.
 * *ended = 1 when it aborted the batch. */
static ota_err check_rules(engine_t *e, store_uow *u, batch_mem *b, int64_t now, int *ended)
{
    *ended = 0;
    for (int i = 0; i < b->ro.n_rules; i++) {
        const rollout_rule *x = &b->ro.rules[i];
        int64_t failed = x->reason == FSM_REASON_NONE ? b->ct.failed : b->ct.failed_by[x->reason];
        if (b->row.brakes_fired & (1 << i) || !rollout_rule_fires(x, b->ct.finished, failed))
            continue;
        b->row.brakes_fired |= 1 << i;
        char *why = why_text(json_pack(
            "{s:s, s:i, s:s, s:i, s:I, s:s, s:I, s:I, s:f, s:i, s:o}", "by", "rule", "rule", i + 1,
            "reason", x->reason == FSM_REASON_NONE ? "any" : fsm_reason_name(x->reason),
            "thresholdPercent", x->threshold_percent, "minFinished", (json_int_t)x->min_finished,
            "action", x->abort ? "abort" : "pause", "finished", (json_int_t)b->ct.finished, "failed",
            (json_int_t)failed, "failedPercent",
            (double)(int64_t)((double)failed * 1000.0 / (double)b->ct.finished + 0.5) / 10.0,
            "phase", b->row.phase + 1, "time", time_json(now)));
        ota_err rc = save_progress(u, b);
        if (rc == OTA_OK && x->abort) {
            int done = 0;
            int64_t ended_tasks = 0;
            rc = flush_counts(e, u, b->row.id);
            if (rc == OTA_OK)
                rc = store_uow_batch_abort(u, b->row.id, now, why, &done, &ended_tasks);
            e->round_counts.failures[FSM_REASON_TERMINATED] += (uint64_t)ended_tasks;
            if (rc == OTA_OK && done) {
                b->running = b->pushing = 0;
                *ended = 1;
            }
        } else if (rc == OTA_OK) {
            rc = halt(e, u, b, why, now);
        }
        OTA_INFO("engine: batch %lld: abort rule %d fired (%lld of %lld finished failed): %s",
                 (long long)b->row.id, i + 1, (long long)failed, (long long)b->ct.finished,
                 x->abort ? "aborted" : "paused");
        free(why);
        return rc;
    }
    return OTA_OK;
}

static ota_err check_phase(engine_t *e, store_uow *u, batch_mem *b, int64_t now);

/* The next phase starts: its devices become pushable (after the round, refresh). */
static ota_err advance(engine_t *e, store_uow *u, batch_mem *b, int64_t now)
{
    if (b->row.phase + 1 >= rollout_phase_count(&b->ro))
        return OTA_OK;
    b->row.phase++;
    b->row.phase_due_ms = 0;
    b->refresh = 1;
    OTA_INFO("engine: batch %lld: phase %d of %d starts (%lld devices)", (long long)b->row.id,
             b->row.phase + 1, rollout_phase_count(&b->ro), (long long)b->ct.size[b->row.phase]);
    ota_err rc = save_progress(u, b);
    if (rc == OTA_OK)
        rc = batch_hook(e, u, b, HOOK_EV_BATCH_PHASE_STARTED,
                        json_pack("{s:i, s:I}", "phase", b->row.phase + 1, "devices",
                                  (json_int_t)b->ct.size[b->row.phase]),
                        now);
    return rc == OTA_OK ? check_phase(e, u, b, now) : rc;
}

/* The current phase, after one of its devices finished (or it began): its success share
 * reached starts its soak (the next phase then starts at the soak's end, at once without
 * one); every device of it finished below the share pauses the batch. The last phase has
 * nothing after it. */
static ota_err check_phase(engine_t *e, store_uow *u, batch_mem *b, int64_t now)
{
    int k = b->row.phase;
    if (k + 1 >= rollout_phase_count(&b->ro) || b->row.phase_due_ms > 0)
        return OTA_OK;
    const rollout_phase *p = k < b->ro.n_phases ? &b->ro.phases[k] : NULL;
    if (rollout_share_met(p, b->ct.size[k], b->ct.succ[k])) {
        int64_t soak = p && p->soak_minutes ? scaled(e, (int64_t)p->soak_minutes * 60000) : 0;
        if (soak <= 0)
            return advance(e, u, b, now);
        b->row.phase_due_ms = now + soak;
        arm_add(e, b->row.id, KIND_PHASE, b->row.phase_due_ms);
        return save_progress(u, b);
    }
    if (b->ct.succ[k] + b->ct.fail[k] < b->ct.size[k])
        return OTA_OK;
    char *why = why_text(json_pack("{s:s, s:i, s:I, s:I, s:I, s:i, s:o}", "by", "phase", "phase",
                                   k + 1, "devices", (json_int_t)b->ct.size[k], "succeeded",
                                   (json_int_t)b->ct.succ[k], "failed", (json_int_t)b->ct.fail[k],
                                   "minSuccessPercent", p ? p->min_success_percent : 0, "time",
                                   time_json(now)));
    OTA_INFO("engine: batch %lld: phase %d ended below its success share (%lld of %lld): paused",
             (long long)b->row.id, k + 1, (long long)b->ct.succ[k], (long long)b->ct.size[k]);
    ota_err rc = halt(e, u, b, why, now);
    free(why);
    return rc;
}

/* A device of a batch with a rollout finished, or its success was rolled back (task t,
 * already written): the counters, then the brakes, then the phase, all at this event. */
static ota_err on_finished(engine_t *e, store_uow *u, batch_mem *b, const store_task *t,
                           int rolled_back, int64_t now)
{
    int ended = 0;
    int k = t->phase >= 0 && t->phase < ROLLOUT_MAX_PHASES ? t->phase : 0;
    ota_err rc = tally_lock(e, u, b);
    if (rc != OTA_OK)
        return rc;
    if (rolled_back) { /* counted as a success when it finished: now a failure */
        b->ct.succ[k]--;
        b->ct.finished--;
    }
    count_finished(b, k, t->task.state, t->task.reason, 1);
    rc = check_rules(e, u, b, now, &ended);
    if (rc != OTA_OK || ended)
        return rc;
    return check_phase(e, u, b, now);
}

/* The webhook event of a device's upgrade that just ended (succeeded or failed), written in
 * the round's transaction (store_webhook.h). Names read from the store when w has none (a
 * deadline fired). */
static ota_err device_event(store_uow *u, const batch_mem *b, const store_task *t, who w,
                            int64_t now)
{
    char pkbuf[OTA_PRODUCT_KEY_MAX + 1], idbuf[OTA_IDENT_MAX + 1];
    int ok = t->task.state == FSM_SUCCEEDED;
    if (!w.pk || !w.id) {
        ota_err rc =
            store_uow_device_names(u, t->device_id, pkbuf, sizeof pkbuf, idbuf, sizeof idbuf);
        if (rc != OTA_OK)
            return rc == OTA_ENOTFOUND ? OTA_OK : rc;
        w = (who){pkbuf, idbuf};
    }
    char *data = hook_data_device(t->batch_id, w.pk, w.id, b->row.firmware_version,
                                  ok ? NULL : fsm_reason_name(t->task.reason), t->task.retried);
    ota_err rc = store_uow_event(
        u, ok ? HOOK_EV_DEVICE_UPGRADE_SUCCEEDED : HOOK_EV_DEVICE_UPGRADE_FAILED, data, now);
    free(data);
    return rc;
}

/* Counts a task's change of state from `from` in the round's counters (published once it
 * commits: publish_counts). */
static void count_transition(engine_t *e, fsm_state from, const fsm_task *to)
{
    if (from == FSM_PUSHED && to->state == FSM_TO_UPGRADE)
        e->round_counts.acks++;
    if (to->state == FSM_TO_RETRY || to->state == FSM_FAILED) {
        e->round_counts.failures[to->reason < FSM_REASON_COUNT ? to->reason : FSM_REASON_UNKNOWN]++;
        if (to->state == FSM_TO_RETRY)
            e->round_counts.retries++;
    }
}

/* The committed round's counters into the ones metrics read (relaxed atomics: a scrape
 * never waits for the engine). */
static void publish_counts(engine_t *e)
{
    atomic_fetch_add_explicit(&e->acks, e->round_counts.acks, memory_order_relaxed);
    atomic_fetch_add_explicit(&e->retries, e->round_counts.retries, memory_order_relaxed);
    atomic_fetch_add_explicit(&e->acks_moved, e->round_counts.acks_moved, memory_order_relaxed);
    for (int i = 0; i < FSM_REASON_COUNT; i++)
        if (e->round_counts.failures[i])
            atomic_fetch_add_explicit(&e->failures[i], e->round_counts.failures[i],
                                      memory_order_relaxed);
    memset(&e->round_counts, 0, sizeof e->round_counts);
}

/* Applies ev to t (in the unit u) under params p (b's, or a DDI push's), persisting and
 * counting the change, and a task that ends gives its webhook event. *res (may be NULL)
 * gets the result. */
static ota_err apply_params(engine_t *e, store_uow *u, batch_mem *b, const fsm_params *p,
                            store_task *t, const fsm_event *ev, int64_t now, who w,
                            fsm_result *res)
{
    fsm_result r;
    fsm_apply(&t->task, p, ev, now, &r);
    if (res)
        *res = r;
    if (!r.changed) {
        if (r.note != FSM_NOTE_TIMER_STALE && r.note != FSM_NOTE_APPLIED) {
            if (dev_log_ok(e, w.pk, w.id))
                OTA_INFO("engine: batch %lld device %s.%s: %s ignored in %s (%s)",
                         (long long)t->batch_id, w.pk ? w.pk : "?", w.id ? w.id : "?",
                         fsm_event_name(ev->kind), fsm_state_name(t->task.state),
                         fsm_note_name(r.note));
            pthread_mutex_lock(&e->mu);
            e->stats.ignored++;
            pthread_mutex_unlock(&e->mu);
        }
        return OTA_OK;
    }
    int ended = 0;
    if (r.task.state != t->task.state) {
        int delta[FSM_STATE_COUNT] = {0};
        fsm_counts_delta(t->task.state, r.task.state, delta);
        touch(e, t->batch_id, delta);
        ended = (fsm_state_is_final(r.task.state) && !fsm_state_is_final(t->task.state)) ||
                r.rolled_back;
        count_transition(e, t->task.state, &r.task);
    }
    t->task = r.task;
    ota_err rc = store_uow_task_put(u, t, now);
    if (rc == OTA_OK && ended)
        rc = device_event(u, b, t, w, now);
    if (rc != OTA_OK)
        return rc;
    if (r.rearm && r.task.deadline_kind != FSM_DL_NONE)
        arm_add(e, t->device_id, (int)r.task.deadline_kind, r.task.deadline_ms);
    if ((r.finished || r.rolled_back) && b->has_rollout)
        return on_finished(e, u, b, t, r.rolled_back, now);
    return OTA_OK;
}

/* apply_params under the batch's parameters. */
static ota_err apply(engine_t *e, store_uow *u, batch_mem *b, store_task *t, const fsm_event *ev,
                     int64_t now, who w, fsm_result *res)
{
    return apply_params(e, u, b, &b->params, t, ev, now, w, res);
}

/* The firmware offer of a batch for one device: fills *up, with *url_out the signed link
 * (valid until the batch's validity end; the caller frees it) and, for a signed firmware,
 * the manifest its signature covers built into manifest (common/ota_sign.h). -1 on error. */
static int offer(engine_t *e, batch_mem *b, const char *pk, const char *id, char bid[24],
                 devmsg_upgrade *up, char **url_out, char manifest[OTA_SIGN_MANIFEST_MAX])
{
    char fw[24], dev[OTA_CLIENT_ID_MAX + 1];
    snprintf(fw, 24, "%lld", (long long)b->row.firmware_id);
    snprintf(bid, 24, "%lld", (long long)b->row.id);
    snprintf(dev, sizeof dev, "%s.%s", pk, id);
    urlsign_fields f = {fw, b->row.file_name, bid, dev, (b->row.expires_ms + 999) / 1000};
    *url_out = NULL;
    if (urlsign_build(e->url_key, e->public_url, &f, url_out) != OTA_OK)
        return -1;
    *up = (devmsg_upgrade){
        .policy = b->row.policy,
        .size = b->row.size,
        .firmware_version = b->row.firmware_version,
        .url = *url_out,
        .md5 = b->row.md5,
        .sha256 = b->row.sha256,
        .batch_id = bid,
    };
    if (b->row.key_id[0]) {
        if (ota_sign_manifest(b->row.product_key, b->row.firmware_version, b->row.size,
                              b->row.sha256, manifest, OTA_SIGN_MANIFEST_MAX) < 0) {
            free(*url_out);
            *url_out = NULL;
            return -1;
        }
        up->manifest = manifest;
        up->signature = b->row.signature;
        up->key_id = b->row.key_id;
    }
    return 0;
}

/* The push message (ota/firmware/upgrade) or, with get_msg_id, the get_reply. NULL on error. */
static char *offer_payload(engine_t *e, batch_mem *b, const char *pk, const char *id,
                           const char *msg_id, int is_get_reply)
{
    char bid[24], *url = NULL, *payload = NULL, manifest[OTA_SIGN_MANIFEST_MAX];
    devmsg_upgrade up;
    if (offer(e, b, pk, id, bid, &up, &url, manifest) == 0)
        payload = is_get_reply ? devmsg_build_get_reply(msg_id, &up) : devmsg_build_upgrade(msg_id, &up);
    free(url);
    if (!payload)
        OTA_ERROR("engine: batch %lld: cannot build the offer for %s.%s", (long long)b->row.id, pk, id);
    return payload;
}

/* Pushes the device's to_push task now (inside u). Returns OTA_OK also when the task
 * turned out not to be pushable (then nothing happens). */
static ota_err do_push(engine_t *e, store_uow *u, batch_mem *b, int64_t device_id, const char *pk,
                       const char *id, int64_t now, int *pushed)
{
    store_task t;
    int ok = 0;
    char msg_id[48];
    char pkbuf[OTA_PRODUCT_KEY_MAX + 1], idbuf[OTA_IDENT_MAX + 1];
    int ddi = 0;
    *pushed = 0;
    ota_err rc = store_uow_task_open(u, device_id, &t);
    if (rc == OTA_ENOTFOUND)
        return OTA_OK;
    if (rc != OTA_OK)
        return rc;
    if (t.batch_id != b->row.id || t.task.state != FSM_TO_PUSH || t.phase > b->row.phase)
        return OTA_OK;
    rc = store_uow_device_pushable(u, device_id, &ok, &ddi);
    if (rc != OTA_OK || !ok)
        return rc == OTA_ENOTFOUND ? OTA_OK : rc;
    if (!pk) {
        rc = store_uow_device_names(u, device_id, pkbuf, sizeof pkbuf, idbuf, sizeof idbuf);
        if (rc != OTA_OK)
            return rc == OTA_ENOTFOUND ? OTA_OK : rc;
        pk = pkbuf;
        id = idbuf;
    }
    snprintf(msg_id, sizeof msg_id, "ota-%lld-%d", (long long)b->row.id, t.task.attempt + 1);
    fsm_event ev = {.kind = FSM_EV_PUSH_SENT, .msg_id = msg_id};
    fsm_result r;
    /* a DDI device (the store's flag: it polled whichever instance, docs/ddi.md) learns of
     * the push at its next poll (the deploymentBase link), which may be a whole poll
     * interval away: its ack deadline counts from there, and nothing goes out by MQTT */
    fsm_params p = b->params;
    if (ddi)
        p.ack_timeout_ms = e->ddi_ack_timeout_ms;
    rc = apply_params(e, u, b, &p, &t, &ev, now, (who){pk, id}, &r);
    if (rc != OTA_OK || !r.changed)
        return rc;
    if (!ddi) {
        out_add(e, pk, id, OTA_TOPIC_UPGRADE, offer_payload(e, b, pk, id, msg_id, 0));
        e->round_mqtt++;
    }
    *pushed = 1;
    return OTA_OK;
}

/* The device's succeeded task still in its confirmation (CONFIRM armed) in a running batch
 * with confirmMinutes (of product pk, when given): one lookup by primary key per such batch
 * in memory. *out_b = NULL when there is none. */
static ota_err find_confirming(engine_t *e, store_uow *u, int64_t device_id, const char *pk,
                               store_task *t, batch_mem **out_b)
{
    *out_b = NULL;
    for (size_t i = 0; i < e->n_batches; i++) {
        batch_mem *b = &e->batches[i];
        if (!b->running || b->params.confirm_ms <= 0 || (pk && strcmp(pk, b->row.product_key)))
            continue;
        ota_err rc = store_uow_task_get(u, b->row.id, device_id, t);
        if (rc == OTA_ENOTFOUND)
            continue;
        if (rc != OTA_OK)
            return rc;
        if (t->task.state == FSM_SUCCEEDED && t->task.deadline_kind == FSM_DL_CONFIRM) {
            *out_b = b;
            return OTA_OK;
        }
    }
    return OTA_OK;
}

/* ---- inputs ---------------------------------------------------------------------------- */

/* The task waits for a push once its device is online and ready. That is judged for all of
 * a round's tasks together (settle_ready), after its inputs and deadlines: the flags a
 * presence or report of the round writes are then read in one load, not once per device. */
static void queue_when_ready(engine_t *e, const store_task *t)
{
    if (t->task.state != FSM_TO_PUSH)
        return;
    GROW(e->ready, e->n_ready, e->cap_ready);
    e->ready[e->n_ready++] = (struct ready_note){t->batch_id, t->device_id, t->phase};
}

/* Step 2, last: before the pushes: the devices of the tasks noted by queue_when_ready
 * in one load (store_uow_load_ids), then those online and ready join their batch's queue. */
static ota_err settle_ready(engine_t *e, store_uow *u)
{
    ota_err rc = OTA_OK;
    if (e->n_ready == 0)
        return OTA_OK;
    int64_t *ids = xrealloc(NULL, e->n_ready * sizeof *ids);
    for (size_t i = 0; i < e->n_ready; i++)
        ids[i] = e->ready[i].device_id;
    rc = store_uow_load_ids(u, ids, e->n_ready);
    free(ids);
    for (size_t i = 0; i < e->n_ready && rc == OTA_OK; i++) {
        const struct ready_note *n = &e->ready[i];
        int ok = 0;
        batch_mem *b = batch_get(e, n->batch_id);
        if (!b || !b->running || n->phase > b->row.phase)
            continue;
        rc = store_uow_device_pushable(u, n->device_id, &ok, NULL);
        if (rc == OTA_ENOTFOUND)
            rc = OTA_OK;
        else if (rc == OTA_OK && ok)
            idq_push(&b->pending, n->device_id);
    }
    e->n_ready = 0;
    return rc;
}

/* ---- continuous batches ---------------------------------------------------------------- */

typedef struct {
    char (*names)[72];
    size_t n, cap;
} group_names;

static void group_name_cb(void *ud, const char *name)
{
    group_names *g = ud;
    GROW(g->names, g->n, g->cap);
    snprintf(g->names[g->n++], sizeof g->names[0], "%s", name);
}

/* A running continuous batch of the product named by pk (or, pk NULL, of product_id; 0 =
 * any product). */
static int candidate(const batch_mem *b, const char *pk, int64_t product_id)
{
    return b->running && b->row.continuous &&
           (pk ? strcmp(b->row.product_key, pk) == 0
               : product_id == 0 || b->row.product_id == product_id);
}

/* Before a device event is judged: loads the continuous batches created since the engine
 * last looked, once per round. A batch created through the API reaches the engine as an
 * input queued after its commit; a device event already queued before that input would
 * otherwise be judged without it. The round's transaction sees every batch committed before
 * it began (SQLite: writers take turns, so none commits during the round). The read is asked
 * ahead (apply_inputs): on PostgreSQL it comes back with the round's load of its devices,
 * sent after the inputs were taken, so no round trip of its own. */
static ota_err known_continuous(engine_t *e, store_uow *u)
{
    int64_t ids[64];
    size_t n = 0;
    if (e->cont_round == e->stats.rounds + 1)
        return OTA_OK;
    e->cont_round = e->stats.rounds + 1;
    ota_err rc = store_uow_continuous_new(u, e->cont_known, ids, sizeof ids / sizeof ids[0], &n);
    for (size_t i = 0; rc == OTA_OK && i < n; i++) {
        if (!batch_get(e, ids[i]))
            rc = OTA_EDB; /* the round fails, and is retried after a rebuild */
        else
            e->cont_known = ids[i];
    }
    return rc;
}

/* A device activated, reported a version, or got tags or groups (the event that called):
 * it joins the first running continuous batch of its product (named by pk; NULL: read from
 * the store) it matches and is eligible for (activated, on another version; the store refuses a
 * device that was ever in the batch or is in an unfinished task). The work is one pass over
 * the running batches in memory; only when one of them is of the device's product are the
 * device's facts (and, when a target names groups, its groups) read. connected: the event
 * came from the device itself, so it is activated even if the store does not say so yet
 * (after a start, its messages can come before the presence snapshot that sets it). */
static ota_err join_continuous(engine_t *e, store_uow *u, int64_t device_id, const char *pk,
                               int connected, int64_t now)
{
    size_t i;
    ota_err rc = known_continuous(e, u);
    if (rc != OTA_OK)
        return rc;
    for (i = 0; i < e->n_batches && !candidate(&e->batches[i], pk, 0); i++)
        ;
    if (i == e->n_batches)
        return OTA_OK;
    store_device_facts f;
    rc = store_uow_device_facts(u, device_id, &f);
    if (rc == OTA_ENOTFOUND || (rc == OTA_OK && !f.activated && !connected))
        return OTA_OK;
    group_names g = {0};
    int have_groups = 0;
    for (; rc == OTA_OK && i < e->n_batches; i++) {
        batch_mem *b = &e->batches[i];
        int joined = 0;
        if (!candidate(b, NULL, f.product_id) ||
            (f.has_version && strcmp(f.version, b->row.firmware_version) == 0))
            continue;
        if (target_needs_groups(&b->tgt) && !have_groups) {
            rc = store_uow_device_groups(u, device_id, group_name_cb, &g);
            have_groups = 1;
            if (rc != OTA_OK)
                break;
        }
        const char *names[TARGET_GROUPS_PER_PRODUCT];
        size_t n = g.n < TARGET_GROUPS_PER_PRODUCT ? g.n : TARGET_GROUPS_PER_PRODUCT;
        for (size_t k = 0; k < n; k++)
            names[k] = g.names[k];
        if (!target_match(&b->tgt, f.tags, names, n, f.has_version ? f.version : NULL))
            continue;
        /* a batch with phases takes it into its current phase (docs/batches.md), the one
         * the store says under its lock */
        if ((rc = tally_lock(e, u, b)) != OTA_OK)
            break;
        rc = store_uow_task_join(u, b->row.id, device_id, b->row.phase, now, &joined);
        if (rc == OTA_OK && joined) {
            store_task t = {.batch_id = b->row.id, .device_id = device_id, .phase = b->row.phase};
            t.task.state = FSM_TO_PUSH;
            if (b->has_rollout)
                b->ct.size[b->row.phase]++;
            if (dev_log_ok(e, b->row.product_key, ""))
                OTA_INFO("engine: device %lld joined continuous batch %lld", (long long)device_id,
                         (long long)b->row.id);
            queue_when_ready(e, &t);
            break; /* one unfinished task per device: no other batch can take it now */
        }
    }
    free(g.names);
    return rc;
}

/* After the inputs: the devices whose tags or groups changed (noted by the API in the same
 * transaction as the change), judged and their notes removed, at most ROUND_MAX_EVENTS per
 * round; more wait for the next. */
static ota_err join_noted(engine_t *e, store_uow *u, int64_t now)
{
    int64_t ids[256];
    size_t n = 0, done = 0;
    if (!e->targets_pending)
        return OTA_OK;
    ota_err rc = OTA_OK;
    do {
        rc = store_uow_target_events(u, ids, sizeof ids / sizeof ids[0], &n);
        for (size_t i = 0; rc == OTA_OK && i < n; i++) {
            rc = join_continuous(e, u, ids[i], NULL, 0, now);
            if (rc == OTA_OK)
                rc = store_uow_target_event_done(u, ids[i]);
        }
        done += n;
    } while (rc == OTA_OK && n == sizeof ids / sizeof ids[0] && done < ROUND_MAX_EVENTS);
    if (rc == OTA_OK && n < sizeof ids / sizeof ids[0])
        e->targets_pending = 0; /* a failed round's rebuild sets it again */
    return rc;
}

static ota_err on_get(engine_t *e, store_uow *u, const devmsg_msg *m, int64_t device_id,
                      int64_t now)
{
    store_task t;
    char *reply = NULL;
    ota_err rc = store_uow_task_open(u, device_id, &t);
    if (rc != OTA_OK && rc != OTA_ENOTFOUND)
        return rc;
    batch_mem *b = rc == OTA_OK ? batch_get(e, t.batch_id) : NULL;
    const char *want = m->has_version ? m->firmware_version : NULL;
    if (b && b->running && (!want || strcmp(want, b->row.firmware_version) == 0)) {
        /* a paused or scheduled batch pushes nothing: the device hears 404 until it goes on */
        if (t.task.state == FSM_TO_PUSH && can_push(b, now) && t.phase <= b->row.phase) {
            int pushed;
            /* the device just said it is subscribed: push now, outside the pacing */
            rc = do_push(e, u, b, device_id, m->product_key, m->identifier, now, &pushed);
            if (rc != OTA_OK)
                return rc;
            if (pushed && (rc = store_uow_task_open(u, device_id, &t)) != OTA_OK)
                return rc;
        }
        if (t.task.state == FSM_PUSHED || t.task.state == FSM_TO_UPGRADE || t.task.state == FSM_UPGRADING) {
            reply = offer_payload(e, b, m->product_key, m->identifier, m->msg_id, 1);
        }
    }
    if (!reply)
        reply = devmsg_build_get_reply_404(m->msg_id, want);
    out_add(e, m->product_key, m->identifier, OTA_TOPIC_GET_REPLY, reply);
    return OTA_OK;
}

static ota_err on_message(engine_t *e, store_uow *u, const input *in, int64_t now)
{
    devmsg_msg m;
    char why[160], topic[OTA_TOPIC_MAX];
    int64_t device_id;
    store_task t;
    if (devmsg_topic(topic, sizeof topic, in->pk, in->id, in->suffix) != 0 ||
        devmsg_parse(topic, in->payload, in->len, &m, why, sizeof why) != OTA_OK) {
        if (dev_log_ok(e, in->pk, in->id))
            OTA_WARN("device %s.%s: bad message on %s dropped: %s", in->pk, in->id, in->suffix,
                     why);
        pthread_mutex_lock(&e->mu);
        e->stats.bad_messages++;
        pthread_mutex_unlock(&e->mu);
        return OTA_OK;
    }
    ota_err rc = store_uow_device_find(u, in->pk, in->id, &device_id);
    if (rc == OTA_ENOTFOUND) {
        if (dev_log_ok(e, in->pk, in->id))
            OTA_WARN("device %s.%s: message from an unknown device dropped", in->pk, in->id);
        return OTA_OK;
    }
    if (rc != OTA_OK)
        return rc;

    if (m.kind == DEVMSG_VERSION || m.kind == DEVMSG_GET) {
        /* after connecting, these say the device has subscribed (docs/batches.md) */
        rc = store_uow_device_ready(u, device_id, now);
        if (rc != OTA_OK)
            return rc;
    }
    if (m.kind == DEVMSG_VERSION) {
        rc = store_uow_device_version(u, device_id, m.firmware_version, now);
        if (rc != OTA_OK)
            return rc;
    }
    if (m.kind == DEVMSG_GET) {
        /* a continuous batch it matches takes it first, so the answer can offer it */
        rc = join_continuous(e, u, device_id, in->pk, 1, now);
        return rc == OTA_OK ? on_get(e, u, &m, device_id, now) : rc;
    }

    rc = store_uow_task_open(u, device_id, &t);
    if (rc == OTA_ENOTFOUND) {
        if (m.kind != DEVMSG_VERSION && dev_log_ok(e, in->pk, in->id))
            OTA_INFO("device %s.%s: %s outside any running batch ignored", in->pk, in->id, in->suffix);
        if (m.kind == DEVMSG_VERSION) {
            /* a success still in its confirmation: another version rolls it back */
            batch_mem *cb = NULL;
            rc = find_confirming(e, u, device_id, in->pk, &t, &cb);
            if (rc == OTA_OK && cb) {
                fsm_event ev = {.kind = FSM_EV_VERSION, .version = m.firmware_version};
                snprintf(t.current_version, sizeof t.current_version, "%s", m.firmware_version);
                rc = apply(e, u, cb, &t, &ev, now, (who){in->pk, in->id}, NULL);
            }
            if (rc != OTA_OK)
                return rc;
            return join_continuous(e, u, device_id, in->pk, 1, now);
        }
        return OTA_OK;
    }
    if (rc != OTA_OK)
        return rc;
    batch_mem *b = batch_get(e, t.batch_id);
    if (!b)
        return OTA_EDB;
    fsm_event ev = {0};
    switch (m.kind) {
    case DEVMSG_VERSION:
        ev.kind = FSM_EV_VERSION;
        ev.version = m.firmware_version;
        snprintf(t.current_version, sizeof t.current_version, "%s", m.firmware_version);
        break;
    case DEVMSG_UPGRADE_REPLY:
        ev.kind = FSM_EV_ACK;
        ev.msg_id = m.msg_id;
        ev.code = m.code;
        break;
    case DEVMSG_PROGRESS:
        ev.kind = FSM_EV_PROGRESS;
        ev.step = m.step;
        break;
    default:
        return OTA_OK;
    }
    fsm_result r;
    rc = apply(e, u, b, &t, &ev, now, (who){in->pk, in->id}, &r);
    if (rc != OTA_OK)
        return rc;
    if (m.kind == DEVMSG_VERSION) {
        if (!r.changed) /* keep the reported version on the task all the same */
            rc = store_uow_task_put(u, &t, now);
        queue_when_ready(e, &t);
        if (rc == OTA_OK && fsm_state_is_final(t.task.state))
            rc = join_continuous(e, u, device_id, in->pk, 1, now);
    }
    return rc;
}

static ota_err on_presence(engine_t *e, store_uow *u, const input *in, int64_t now)
{
    int64_t device_id;
    ota_err rc = store_uow_device_find(u, in->pk, in->id, &device_id);
    (void)e;
    if (rc == OTA_ENOTFOUND)
        return OTA_OK;
    if (rc != OTA_OK)
        return rc;
    rc = store_uow_device_presence(u, device_id, in->online, in->num ? in->num : now);
    if (rc == OTA_OK && in->online)
        rc = join_continuous(e, u, device_id, in->pk, 1, now); /* it may have just activated */
    if (rc == OTA_OK && in->online && e->cfg.route) {
        /* its report on this connection may have come first (through its partition's
         * session, docs/broker.md "Partition topics"): then it is ready now */
        store_task t;
        ota_err trc = store_uow_task_open(u, device_id, &t);
        if (trc == OTA_OK)
            queue_when_ready(e, &t);
        else if (trc != OTA_ENOTFOUND)
            rc = trc;
    }
    return rc == OTA_ENOTFOUND ? OTA_OK : rc;
}

/* A DDI device polled while the store had it offline: online, ready (it asks for work)
 * and a DDI device from now on, whichever instance it polled (docs/ddi.md, "Presence").
 * Its to_push task waits for a push here only when its partition is this engine's: the
 * owner pushes (docs/postgresql.md, "Partitions"), and reads who is ready from the store
 * at its next resync. Offline comes from the store (sweep_ddi), not from an input. */
static ota_err on_ddi_presence(engine_t *e, store_uow *u, const input *in, int64_t device_id,
                               int64_t now)
{
    store_task t;
    ota_err rc = store_uow_ddi_online(u, device_id, in->num ? in->num : now);
    if (rc != OTA_OK || !owns(e, in))
        return rc;
    rc = store_uow_task_open(u, device_id, &t);
    if (rc == OTA_ENOTFOUND)
        return OTA_OK;
    if (rc == OTA_OK)
        queue_when_ready(e, &t);
    return rc;
}

/* A DDI device's fetch or feedback for an action: an event of the state machine when the
 * action is its task's current attempt, else ignored (a closed action, an older attempt,
 * another batch). */
static ota_err on_ddi(engine_t *e, store_uow *u, const input *in, int64_t now)
{
    int64_t device_id, batch_id;
    int attempt;
    store_task t;
    ota_err rc = store_uow_device_find(u, in->pk, in->id, &device_id);
    if (rc == OTA_ENOTFOUND)
        return OTA_OK;
    if (rc != OTA_OK)
        return rc;
    if (in->ddi == ENGINE_DDI_POLL)
        return on_ddi_presence(e, u, in, device_id, now);
    rc = store_uow_task_open(u, device_id, &t);
    if (rc != OTA_OK && rc != OTA_ENOTFOUND)
        return rc;
    batch_mem *b = rc == OTA_OK ? batch_get(e, t.batch_id) : NULL;
    if (!b || !b->running || ddi_action_split(in->action, &batch_id, &attempt) != 0 ||
        batch_id != t.batch_id || attempt != t.task.attempt) {
        if (dev_log_ok(e, in->pk, in->id))
            OTA_INFO("device %s.%s: DDI event %d for action %lld ignored (not its current one)",
                     in->pk, in->id, in->ddi, (long long)in->action);
        pthread_mutex_lock(&e->mu);
        e->stats.ignored++;
        pthread_mutex_unlock(&e->mu);
        return OTA_OK;
    }
    fsm_event ev = {0};
    switch ((engine_ddi_event)in->ddi) {
    case ENGINE_DDI_FETCH:
        ev.kind = FSM_EV_ACK;
        ev.msg_id = t.task.push_msg_id; /* the action is this push */
        ev.code = 200;
        break;
    case ENGINE_DDI_PROGRESS:
    case ENGINE_DDI_FAILURE:
        ev.kind = FSM_EV_PROGRESS;
        ev.step = in->step;
        break;
    case ENGINE_DDI_SUCCESS:
        /* closed + success: the device runs the batch's firmware, as a version report
         * says for an MQTT device */
        rc = store_uow_device_version(u, device_id, b->row.firmware_version, now);
        if (rc != OTA_OK)
            return rc;
        ev.kind = FSM_EV_VERSION;
        ev.version = b->row.firmware_version;
        snprintf(t.current_version, sizeof t.current_version, "%s", b->row.firmware_version);
        break;
    default:
        return OTA_OK;
    }
    return apply(e, u, b, &t, &ev, now, (who){in->pk, in->id}, NULL);
}

static ota_err on_timer(engine_t *e, store_uow *u, const theap_entry *te, int64_t now)
{
    store_task t;
    if (te->kind == FSM_DL_CONFIRM) {
        batch_mem *cb = NULL;
        ota_err rc = find_confirming(e, u, (int64_t)te->id, NULL, &t, &cb);
        if (rc != OTA_OK || !cb || t.task.deadline_ms != te->due_ms)
            return rc; /* rolled back or confirmed since: stale */
        fsm_event ev = {.kind = FSM_EV_CONFIRM_DUE};
        static const int none[FSM_STATE_COUNT];
        touch(e, cb->row.id, none); /* the batch may complete now (write_counts) */
        return apply(e, u, cb, &t, &ev, now, (who){NULL, NULL}, NULL);
    }
    if (te->kind == KIND_START) {
        int done = 0;
        batch_mem *b = batch_find(e, (int64_t)te->id);
        if (!b || strcmp(b->row.state, "scheduled") != 0)
            return OTA_OK; /* started, terminated or ended since */
        ota_err rc = store_uow_batch_start(u, b->row.id, &done);
        if (rc != OTA_OK || !done)
            return rc;
        snprintf(b->row.state, sizeof b->row.state, "in_progress");
        batch_state_from_row(b);
        b->refresh = 1;
        b->refill_ms = now;
        b->tokens = 1;
        OTA_INFO("engine: batch %lld reached its startAt: in_progress", (long long)b->row.id);
        return OTA_OK;
    }
    if (te->kind == KIND_PHASE) {
        batch_mem *b = batch_find(e, (int64_t)te->id);
        if (!b || !b->running || !b->has_rollout)
            return OTA_OK;
        ota_err rc = tally_lock(e, u, b); /* another otad may have moved it on */
        if (rc != OTA_OK || b->row.phase_due_ms != te->due_ms)
            return rc; /* moved on since: stale */
        return advance(e, u, b, now);
    }
    if (te->kind == KIND_EXPIRY) {
        int done = 0;
        int64_t failed = 0;
        batch_mem *b = batch_find(e, (int64_t)te->id);
        ota_err rc = flush_counts(e, u, (int64_t)te->id);
        if (rc == OTA_OK)
            rc = store_uow_batch_terminate(u, (int64_t)te->id, now, &done, &failed);
        if (rc != OTA_OK)
            return rc;
        e->round_counts.failures[FSM_REASON_TERMINATED] += (uint64_t)failed;
        if (done)
            OTA_INFO("engine: batch %lld reached its validity end: terminated", (long long)te->id);
        if (b)
            b->running = 0;
        return OTA_OK;
    }
    ota_err rc = store_uow_task_open(u, (int64_t)te->id, &t);
    if (rc == OTA_ENOTFOUND)
        return OTA_OK; /* finished since: a stale entry */
    if (rc != OTA_OK)
        return rc;
    if ((int)t.task.deadline_kind != te->kind || t.task.deadline_ms != te->due_ms)
        return OTA_OK; /* re-armed since: stale */
    batch_mem *b = batch_get(e, t.batch_id);
    if (!b || !b->running)
        return OTA_OK;
    fsm_event ev = {0};
    switch (te->kind) {
    case FSM_DL_ACK: {
        int64_t due = ack_due(e, &t.task, silence_now(e, now));
        if (due > t.task.deadline_ms) { /* its push left late: the device gets its time */
            t.task.deadline_ms = due;
            rc = store_uow_task_put(u, &t, now);
            if (rc == OTA_OK) {
                arm_add(e, t.device_id, FSM_DL_ACK, due);
                e->round_counts.acks_moved++;
            }
            return rc;
        }
        ev.kind = FSM_EV_ACK_TIMEOUT;
        break;
    }
    case FSM_DL_UPGRADE:
        ev.kind = FSM_EV_UPGRADE_TIMEOUT;
        break;
    case FSM_DL_RETRY:
        ev.kind = FSM_EV_RETRY_DUE;
        break;
    default:
        return OTA_OK;
    }
    fsm_result r;
    rc = apply(e, u, b, &t, &ev, now, (who){NULL, NULL}, &r);
    if (rc == OTA_OK && r.changed)
        queue_when_ready(e, &t);
    return rc;
}

/* ---- what the loop needs ----------------------------------------------------------------- */

static void free_input(input *in)
{
    if (in->clients) {
        for (size_t i = 0; i < in->len; i++)
            free(in->clients[i]);
        free(in->clients);
    }
    free(in);
}

static void free_list(input *list)
{
    while (list) {
        input *next = list->next;
        free_input(list);
        list = next;
    }
}

/* Publishes how far behind the device messages are (health reports it), and says so in
 * the log when it is far (a deep backlog, or probes that never come back). */
static void lag_stats(engine_t *e, int64_t now)
{
    ota_log_limit_flush(e->devlog, now);
    int64_t since = e->wm_ms ? e->wm_ms : e->started_ms;
    if (e->cfg.clocked && now - since > 30000 && now - e->lag_logged_ms >= 30000) {
        OTA_WARN("engine: no clock probe back for %lld s (a deep backlog, no broker, or a "
                 "broker that drops " OTA_TOPIC_CLOCK_PREFIX "): ack and upgrade deadlines and pushes "
                 "wait",
                 (long long)((now - since) / 1000));
        e->lag_logged_ms = now;
    }
    pthread_mutex_lock(&e->mu);
    e->stats.input_lag_ms = e->cfg.clocked ? (e->wm_ms ? now - e->wm_ms : -1) : 0;
    e->stats.pushes_held = e->held;
    e->stats.parts = e->parts_cur;
    e->stats.parked = e->n_parked;
    e->stats.foreign = e->n_foreign;
    pthread_mutex_unlock(&e->mu);
}

/* A batch's pushes a millisecond on this engine: its maxPushPerMinute, shared among the
 * instances by the partitions each works on (devices spread evenly over partitions). */
static double push_rate(const engine_t *e, const batch_mem *b)
{
    double per_ms = (double)b->row.max_push_per_min / 60000.0;
    if (e->parts_cur != PARTS_ALL)
        per_ms = per_ms * parts_count(e->parts_cur) / PARTS_N;
    return per_ms;
}

static void refill(const engine_t *e, batch_mem *b, int64_t now)
{
    double per_ms = push_rate(e, b);
    double cap = per_ms * 1000.0; /* at most one second's worth at once */
    if (cap < 1)
        cap = 1;
    if (now > b->refill_ms) {
        b->tokens += per_ms * (double)(now - b->refill_ms);
        if (b->tokens > cap)
            b->tokens = cap;
        b->refill_ms = now;
    }
}

/* A batch's phase moved on or its soak started on another otad: its next phase's devices
 * are pushed here too (refresh), and its soak end is armed here as well, so the phase moves
 * on even if that otad dies (whoever fires first moves it; the other finds it moved). */
static void resync_progress(engine_t *e, batch_mem *b, const store_batch *row)
{
    if (!b->has_rollout)
        return;
    if (row->phase != b->row.phase)
        b->refresh = 1;
    if (b->running && row->phase_due_ms > 0 && row->phase_due_ms != b->row.phase_due_ms)
        theap_push(e->heap, row->phase_due_ms, (uint64_t)b->row.id, KIND_PHASE);
    b->row.phase = row->phase;
    b->row.phase_due_ms = row->phase_due_ms;
    b->row.brakes_fired = row->brakes_fired;
}

/* With several otad on one store: what the others changed reaches this engine only through
 * the store. Batches they created or ended, deadlines they armed (and will not fire if they
 * died), and devices waiting for a push are re-read; duplicates are harmless, since every
 * transition re-reads its task under the store's lock (a stale heap entry or queue slot is
 * dropped there). Every read is tried; returns NULL, or what the first failed read was for
 * (the next resync tries again). */
static const char *resync(engine_t *e, int64_t now)
{
    store_batch *rows = NULL;
    size_t n = 0;
    const char *failed = NULL;
    if (store_engine_batches(e->cfg.store, &rows, &n) == OTA_OK) {
        for (size_t i = 0; i < e->n_batches; i++) {
            int found = 0;
            for (size_t k = 0; k < n && !found; k++)
                found = rows[k].id == e->batches[i].row.id;
            if (!found)
                e->batches[i].running = 0; /* ended elsewhere */
        }
        for (size_t k = 0; k < n; k++) {
            batch_mem *b = batch_find(e, rows[k].id);
            if (!b) {
                batch_add(e, &rows[k]);
            } else {
                if (strcmp(b->row.state, rows[k].state) != 0) {
                    /* paused or resumed elsewhere */
                    snprintf(b->row.state, sizeof b->row.state, "%s", rows[k].state);
                    batch_state_from_row(b);
                }
                resync_progress(e, b, &rows[k]);
            }
        }
        free(rows);
    } else {
        failed = "the running batches";
    }
    if (store_engine_deadlines(e->cfg.store, now + e->cfg.resync_ms, 10000, deadline_cb, e) !=
            OTA_OK &&
        !failed)
        failed = "the deadlines due soon";
    for (size_t i = 0; i < e->n_batches; i++) {
        batch_mem *b = &e->batches[i];
        if (b->running && idq_len(&b->pending) == 0 &&
            store_engine_pushable(e->cfg.store, b->row.id, b->row.phase, pushable_cb, b) != OTA_OK &&
            !failed)
            failed = "the devices waiting for a push";
    }
    /* a device of ours noted by another instance's API (its tags or groups changed) */
    for (size_t i = 0; parted(e) && i < e->n_batches; i++)
        if (e->batches[i].running && e->batches[i].row.continuous)
            e->targets_pending = 1;
    return failed;
}

/* How long the loop may sleep: until the next deadline or the next push token. */
static int64_t wait_ms(engine_t *e, int64_t now)
{
    if (e->view_stale || e->targets_pending)
        return 0; /* the next round rebuilds it first, or judges the noted devices */
    int64_t w = theap_wait_ms(e->heap, now, MAX_WAIT_MS);
    int64_t sw = theap_wait_ms(e->sheap, silence_now(e, now), MAX_WAIT_MS);
    if (e->cfg.clocked && sw > 0)
        sw = MAX_WAIT_MS; /* what moves these deadlines is a probe, and a probe wakes us */
    if (sw < w)
        w = sw;
    if (e->cfg.resync_ms > 0 && e->next_resync_ms - now < w)
        w = e->next_resync_ms - now;
    if (pushes_held(e, now))
        return w < 0 ? 0 : w;
    for (size_t i = 0; i < e->n_batches; i++) {
        batch_mem *b = &e->batches[i];
        if (!b->pushing || idq_len(&b->pending) == 0)
            continue;
        if (!window_inside(&b->win, now)) { /* wake when its next window opens */
            int64_t t = window_next_open(&b->win, now) - now;
            if (t < w)
                w = t;
            continue;
        }
        refill(e, b, now);
        if (b->tokens >= 1)
            return 0;
        double per_ms = push_rate(e, b);
        if (per_ms <= 0)
            continue;
        int64_t t = (int64_t)((1.0 - b->tokens) / per_ms) + 1;
        if (t < w)
            w = t;
    }
    return w < 0 ? 0 : w;
}

/* 1 when a round would do something besides inputs: a due deadline or a push. */
static int has_work(engine_t *e, int64_t now)
{
    theap_entry te;
    if (e->snapshot_pending_rebuild || e->targets_pending)
        return 1;
    if (theap_peek(e->heap, &te) == OTA_OK && te.due_ms <= now)
        return 1;
    if (theap_peek(e->sheap, &te) == OTA_OK && te.due_ms <= silence_now(e, now))
        return 1;
    if (pushes_held(e, now))
        return 0;
    for (size_t i = 0; i < e->n_batches; i++) {
        batch_mem *b = &e->batches[i];
        if (can_push(b, now) && idq_len(&b->pending) > 0) {
            refill(e, b, now);
            if (b->tokens >= 1)
                return 1;
        }
    }
    return 0;
}

/* ---- partitions (docs/postgresql.md, "Partitions") ------------------------------------- */

/* The inputs one round takes from the queue. */
typedef struct {
    input *list, *last; /* taken, in arrival order; last->next is NULL */
    uint64_t seq_max;   /* the newest arrival number taken (also of those set aside) */
    size_t taken;       /* inputs in list */
    size_t n_clock;     /* of which clock probes */
    size_t applied;     /* inputs the round's transaction applied (stats) */
} round_in;

static void timed_wait(pthread_cond_t *c, pthread_mutex_t *mu, int64_t ms);

static int parted(const engine_t *e)
{
    return e->owner != NULL;
}

/* 1 when the input is about a device of a partition this engine works on. */
static int owns(const engine_t *e, const struct input *in)
{
    return !parted(e) || ((e->parts_cur >> parts_of(in->id)) & 1);
}

static void park_unlink(engine_t *e, input **pp, input *prev)
{
    input *in = *pp;
    *pp = in->next;
    if (e->park_tail == in)
        e->park_tail = prev;
    in->next = NULL;
    e->n_parked--;
}

/* Drops set-aside inputs older than PARK_KEEP_MS, and the oldest beyond PARK_MAX. */
static void park_prune(engine_t *e, int64_t now)
{
    while (e->park_head &&
           (e->n_parked > PARK_MAX || now - e->park_head->parked_ms > PARK_KEEP_MS)) {
        input *in = e->park_head;
        park_unlink(e, &e->park_head, NULL);
        free_input(in);
    }
}

/* Sets aside the round's device messages and presence events of partitions this engine
 * does not work on: their owner applies its own copy (every instance receives every
 * message: docs/broker.md, "Several otad"). They are kept a while (PARK_KEEP_MS) in
 * case this engine takes their partition over before the owner committed them
 * (adopt_parts), each tagged with the newest clock probe before it. */
static void split_inputs(engine_t *e, round_in *r, int64_t now)
{
    if (!parted(e))
        return;
    int64_t tag = e->wm_ms;
    input **pp = &r->list, *last = NULL;
    size_t kept = 0;
    while (*pp) {
        input *in = *pp;
        if (in->kind == IN_CLOCK && in->num > tag)
            tag = in->num;
        if ((in->kind == IN_MESSAGE || in->kind == IN_PRESENCE) && !owns(e, in)) {
            if (in->kind == IN_MESSAGE)
                e->n_foreign++;
            *pp = in->next;
            in->next = NULL;
            in->tag_ms = tag;
            in->parked_ms = now;
            if (e->park_tail)
                e->park_tail->next = in;
            else
                e->park_head = in;
            e->park_tail = in;
            e->n_parked++;
            continue;
        }
        last = in;
        kept++;
        pp = &in->next;
    }
    r->last = last;
    r->taken = kept;
    park_prune(e, now);
}

/* Between rounds: switches to the partitions the lease keeper holds now (parts_next). The
 * view is rebuilt for them (the store's engine reads cover those only:
 * store_parts_filter). For a partition gained, the inputs set aside since its last owner's
 * watermark (less REPLAY_MARGIN_MS) go in front of the round's own: what that owner had not
 * committed is applied here, and what it had is applied again, which changes nothing (the
 * state machine drops repeated reports, presence goes by the broker's times). The broker
 * is asked for a new presence snapshot for the devices gained. */
static void adopt_parts(engine_t *e, round_in *r)
{
    int64_t from[PARTS_N] = {0};
    if (!parted(e))
        return;
    pthread_mutex_lock(&e->mu);
    uint64_t next = e->parts_next;
    if (e->parts_from)
        memcpy(from, e->parts_from, sizeof from);
    pthread_mutex_unlock(&e->mu);
    if (next == e->parts_cur)
        return;
    uint64_t gained = next & ~e->parts_cur;
    input *head = NULL, *tail = NULL, **pp = &e->park_head, *prev = NULL;
    size_t n = 0;
    while (*pp) {
        input *in = *pp;
        int p = parts_of(in->id);
        if (!((gained >> p) & 1)) {
            prev = in;
            pp = &in->next;
            continue;
        }
        park_unlink(e, pp, prev);
        if (in->tag_ms < from[p] - REPLAY_MARGIN_MS) {
            free_input(in); /* committed by the last owner */
            continue;
        }
        if (tail)
            tail->next = in;
        else
            head = in;
        tail = in;
        n++;
    }
    if (head) {
        tail->next = r->list;
        r->list = head;
        if (!r->last)
            r->last = tail;
        r->taken += n;
    }
    OTA_INFO("engine: working on %d of %d partitions now (%+d); %zu inputs set aside replayed",
             parts_count(next), PARTS_N, parts_count(next) - parts_count(e->parts_cur), n);
    if (gained && e->cfg.route) {
        /* The partition's messages come through its own session, whose backlog (what
         * reached the broker while nobody held it) arrives after now: its devices' silence
         * deadlines must wait for it. The watermark goes back to what the last owners had
         * committed, and only probes that came back through every session held, the new
         * ones included (the bus holds them back until then), move it again. */
        int64_t floor = e->wm_ms;
        for (int p = 0; p < PARTS_N; p++)
            if (((gained >> p) & 1) && from[p] - REPLAY_MARGIN_MS < floor)
                floor = from[p] > REPLAY_MARGIN_MS ? from[p] - REPLAY_MARGIN_MS : 0;
        e->wm_ms = floor;
        pthread_mutex_lock(&e->mu);
        e->clock_gate = e->seq_in;
        pthread_mutex_unlock(&e->mu);
    }
    store_parts_filter(e->cfg.store, next);
    e->view_stale = 1; /* the next round rebuilds timers and push queues for them */
    if (gained && e->cfg.request_snapshot)
        e->cfg.request_snapshot(e->cfg.publish_ud);
    pthread_mutex_lock(&e->mu);
    e->parts_cur = next;
    e->parts_wm = e->wm_done;
    pthread_cond_broadcast(&e->parts_cv);
    pthread_mutex_unlock(&e->mu);
}

/* The first step of a round with leases: holds this engine's leases until the round ends,
 * or refuses the round (OTA_EFENCED) when another instance took one over meanwhile. */
static ota_err fence(engine_t *e, store_uow *u)
{
    if (!parted(e))
        return OTA_OK;
    ota_err rc = store_uow_fence(u, e->owner, e->parts_cur);
    if (rc == OTA_EFENCED) {
        OTA_WARN("engine: %s no longer holds all of its %d partitions; the round waits for "
                 "the lease keeper",
                 e->owner, parts_count(e->parts_cur));
        pthread_mutex_lock(&e->mu);
        e->stats.fenced++;
        pthread_mutex_unlock(&e->mu);
    }
    return rc;
}

/* lease_config.apply (the keeper's thread): hands set to the engine and waits until the
 * engine works on it (at most 2 s; then the keeper's request is taken back). */
static int parts_apply(void *ud, uint64_t set, const int64_t *from_ms, int64_t *applied_ms)
{
    engine_t *e = ud;
    pthread_mutex_lock(&e->mu);
    e->parts_next = set;
    e->parts_from = from_ms;
    pthread_cond_signal(&e->wake);
    int64_t until = ota_time_now_ms() + 2000;
    while (e->parts_cur != set && !e->stop && ota_time_now_ms() < until)
        timed_wait(&e->parts_cv, &e->mu, 100);
    int ok = e->parts_cur == set;
    if (!ok)
        e->parts_next = e->parts_cur;
    e->parts_from = NULL;
    *applied_ms = e->parts_wm;
    pthread_mutex_unlock(&e->mu);
    return ok ? 0 : -1;
}

/* lease_config.applied (the keeper's thread). */
static int64_t parts_applied(void *ud)
{
    engine_t *e = ud;
    pthread_mutex_lock(&e->mu);
    int64_t wm = e->wm_done;
    pthread_mutex_unlock(&e->mu);
    return wm;
}

/* ---- one round ------------------------------------------------------------------------- */


/* A batch was created through the API: load it and queue its devices waiting for a push.
 * A store error fails the round (it is retried after a rebuild from the store). */
static ota_err on_batch_created(engine_t *e, int64_t batch_id)
{
    batch_mem *b = batch_get(e, batch_id);
    if (!b)
        return OTA_OK; /* ended or deleted since */
    ota_err rc = store_engine_pushable(e->cfg.store, b->row.id, b->row.phase, pushable_cb, b);
    if (rc != OTA_OK)
        OTA_ERROR("engine: batch %lld: cannot read the devices waiting for a push (%s)",
                  (long long)batch_id, ota_err_name(rc));
    return rc;
}

/* A batch was paused or resumed through the API: its state is re-read. A resumed batch's
 * devices waiting for a push are read again (the refill starts now: no burst of the
 * tokens a paused batch would have saved). */
static ota_err on_batch_changed(engine_t *e, store_uow *u, int64_t batch_id, int64_t now)
{
    store_batch row;
    batch_mem *b = batch_find(e, batch_id);
    if (!b)
        return on_batch_created(e, batch_id);
    ota_err rc = store_batch_get(e->cfg.store, batch_id, &row);
    if (rc == OTA_ENOTFOUND)
        return OTA_OK;
    if (rc != OTA_OK)
        return rc;
    int was_pushing = b->pushing;
    snprintf(b->row.state, sizeof b->row.state, "%s", row.state);
    batch_state_from_row(b);
    if (b->pushing && !was_pushing) {
        b->refill_ms = now;
        b->tokens = 1;
        b->refresh = 1;
        /* the operator resumes a batch whose current phase has ended: the next one starts */
        rc = tally_lock(e, u, b);
        int k = b->row.phase;
        if (rc == OTA_OK && b->has_rollout && b->row.phase_due_ms == 0 &&
            b->ct.succ[k] + b->ct.fail[k] >= b->ct.size[k])
            rc = advance(e, u, b, now);
    }
    OTA_INFO("engine: batch %lld is %s", (long long)batch_id, b->row.state);
    return rc;
}

/* The broker's snapshot lists the MQTT connections; the store leaves the DDI devices'
 * presence alone (their polls keep it, whichever instance they reach). */
static ota_err apply_snapshot(engine_t *e, store_uow *u, const input *in, int64_t now)
{
    (void)e;
    return store_uow_presence_snapshot(u, (const char *const *)in->clients, in->len, now);
}

/* Before step 1: the devices of the round's messages and presence events, with their open
 * tasks, in one load (store_uow_load_names) instead of a read or two per input. */
static ota_err load_devices(store_uow *u, const round_in *r)
{
    const char **pks = malloc((r->taken + 1) * sizeof *pks);
    const char **ids = malloc((r->taken + 1) * sizeof *ids);
    size_t n = 0;
    if (!pks || !ids)
        abort(); /* the daemon may abort on out-of-memory */
    for (const input *in = r->list; in; in = in->next)
        if (in->kind == IN_MESSAGE || in->kind == IN_PRESENCE || in->kind == IN_DDI) {
            pks[n] = in->pk;
            ids[n++] = in->id;
        }
    ota_err rc = store_uow_load_names(u, pks, ids, n);
    free(pks);
    free(ids);
    return rc;
}

/* Step 1 of a round: the queued inputs, in arrival order. */
static ota_err apply_inputs(engine_t *e, store_uow *u, round_in *r, int64_t now)
{
    int snapshot = 0;
    if (e->cont_round != e->stats.rounds + 1) /* known_continuous's read rides on the load */
        store_uow_continuous_ahead(u, e->cont_known);
    ota_err rc = load_devices(u, r);
    for (input *in = r->list; in && rc == OTA_OK; in = in->next) {
        r->applied++;
        switch (in->kind) {
        case IN_MESSAGE:
            rc = on_message(e, u, in, now);
            break;
        case IN_PRESENCE:
            rc = on_presence(e, u, in, now);
            break;
        case IN_SNAPSHOT:
            rc = apply_snapshot(e, u, in, now);
            snapshot = 1;
            break;
        case IN_DDI:
            rc = on_ddi(e, u, in, now);
            break;
        case IN_BATCH_CREATED:
            store_uow_forget_absent(u); /* the new batch's tasks were not there when loaded */
            rc = on_batch_created(e, in->num);
            break;
        case IN_BATCH_ENDED: {
            batch_mem *b = batch_find(e, in->num);
            if (b)
                b->running = 0;
            break;
        }
        case IN_BATCH_CHANGED:
            store_uow_forget_absent(u); /* a batch new to this otad may have new tasks too */
            rc = on_batch_changed(e, u, in->num, now);
            break;
        case IN_CLOCK:
            break; /* applied before the round (apply_clock) */
        case IN_TARGETS:
            e->targets_pending = 1;
            break;
        }
    }
    if (rc == OTA_OK && snapshot)
        e->snapshot_pending_rebuild = 1;
    return rc;
}

/* Step 2: the deadlines that are due, wall-clock ones first, then the device-silence ones
 * against the probes' watermark; at most ROUND_MAX_TIMERS of them. Their devices are loaded
 * together first (store_uow_load_ids); most of them are stale entries of tasks that moved on. */
static ota_err fire_deadlines(engine_t *e, store_uow *u, int64_t now)
{
    theap_entry *due = NULL;
    int64_t *ids = NULL;
    size_t n = 0, n_ids = 0, cap = 0;
    int64_t snow = silence_now(e, now);
    theap_entry te;
    while (n < ROUND_MAX_TIMERS && theap_pop_due(e->heap, now, &te) == OTA_OK) {
        GROW(due, n, cap);
        due[n++] = te;
    }
    while (n < ROUND_MAX_TIMERS && theap_pop_due(e->sheap, snow, &te) == OTA_OK) {
        GROW(due, n, cap);
        due[n++] = te;
    }
    if (n) {
        ids = xrealloc(NULL, n * sizeof *ids);
        for (size_t i = 0; i < n; i++)
            if (due[i].kind > FSM_DL_NONE && due[i].kind < FSM_DL_COUNT) /* a task's */
                ids[n_ids++] = (int64_t)due[i].id;
    }
    ota_err rc = store_uow_load_ids(u, ids, n_ids);
    for (size_t i = 0; i < n && rc == OTA_OK; i++)
        rc = on_timer(e, u, &due[i], now);
    free(ids);
    free(due);
    return rc;
}

/* Before step 3: the devices the pushes will take from the queues (as many as each batch's
 * tokens allow), in one load. A device found not pushable lets the loop take one more, read
 * on its own. */
static ota_err load_pushes(engine_t *e, store_uow *u, size_t max, int64_t now)
{
    int64_t *ids = NULL;
    size_t n = 0, cap = 0;
    for (size_t i = 0; i < e->n_batches && n < max; i++) {
        batch_mem *b = &e->batches[i];
        if (!b->running || !can_push(b, now))
            continue;
        refill(e, b, now);
        for (size_t k = b->pending.head; k < b->pending.tail && n < max &&
                                         (double)(k - b->pending.head) + 1 <= b->tokens;
             k++) {
            GROW(ids, n, cap);
            ids[n++] = b->pending.ids[k];
        }
    }
    ota_err rc = store_uow_load_ids(u, ids, n);
    free(ids);
    return rc;
}

/* 1 when a running batch may push now and has a device waiting for it. */
static int pushes_waiting(const engine_t *e, int64_t now)
{
    for (size_t i = 0; i < e->n_batches; i++)
        if (e->batches[i].running && can_push(&e->batches[i], now) &&
            idq_len(&e->batches[i].pending) > 0)
            return 1;
    return 0;
}

/* How many pushes this round may send. A round's pushes leave only once it commits, so a
 * round of ROUND_MAX_PUSHES pushes keeps every one of them until the last is written. After
 * a round that pushed none (a batch or the next phase starting, a hold ending: nothing of
 * ours in flight) the rounds start at ROUND_FIRST_PUSHES and double while they push all
 * they may: the first devices get theirs after a short transaction and answer while the
 * next rounds write the rest. */
static int round_push_cap(const engine_t *e)
{
    int cap = e->last_pushes * 2;
    if (cap < ROUND_FIRST_PUSHES)
        cap = ROUND_FIRST_PUSHES;
    return cap < ROUND_MAX_PUSHES ? cap : ROUND_MAX_PUSHES;
}

/* Step 3: the pushes each running batch's token bucket allows, unless pushes are held
 * (pushes_held); at most round_push_cap of them. */
static ota_err send_pushes(engine_t *e, store_uow *u, int64_t now)
{
    int pushes = 0;
    int max = round_push_cap(e);
    int held = pushes_held(e, now);
    if (held && !e->held && now - e->held_logged_ms >= 10000) {
        /* a hold is normal under load: one line per 10 s at most, with its cause */
        size_t waiting_out = e->cfg.publish_pending ? e->cfg.publish_pending(e->cfg.publish_ud) : 0;
        if (e->cfg.clocked && !e->wm_ms)
            OTA_INFO("engine: pushes held: no clock probe back yet, %zu publishes waiting to "
                     "leave",
                     waiting_out);
        else
            OTA_INFO("engine: pushes held: device messages reach us %lld ms late, %zu "
                     "publishes waiting to leave",
                     (long long)(e->cfg.clocked ? now - e->wm_ms : 0), waiting_out);
        e->held_logged_ms = now;
    }
    int waiting = held && pushes_waiting(e, now);
    if (waiting && !e->held_waiting)
        e->held_since = now;
    else if (!waiting && e->held_waiting) {
        pthread_mutex_lock(&e->mu);
        e->stats.held_ms += (uint64_t)(now - e->held_since);
        pthread_mutex_unlock(&e->mu);
    }
    e->held_waiting = waiting;
    e->held = held;
    ota_err rc = held ? OTA_OK : load_pushes(e, u, (size_t)max, now);
    for (size_t i = 0; i < e->n_batches && pushes < max && !held && rc == OTA_OK; i++) {
        batch_mem *b = &e->batches[i];
        int64_t device_id;
        if (!b->running || !can_push(b, now))
            continue;
        refill(e, b, now);
        while (b->tokens >= 1 && pushes < max && idq_pop(&b->pending, &device_id)) {
            int pushed = 0;
            rc = do_push(e, u, b, device_id, NULL, NULL, now, &pushed);
            if (rc != OTA_OK)
                break;
            if (pushed) {
                b->tokens -= 1;
                pushes++;
            }
        }
    }
    if (rc != OTA_OK)
        return rc; /* rolled back: nothing was pushed */
    e->last_pushes = pushes;
    pthread_mutex_lock(&e->mu);
    e->stats.pushes += (uint64_t)pushes;
    pthread_mutex_unlock(&e->mu);
    return OTA_OK;
}

static int by_batch(const void *a, const void *b)
{
    int64_t x = ((const struct touched *)a)->batch_id, y = ((const struct touched *)b)->batch_id;
    return (x > y) - (x < y);
}

/* Step 4: each touched batch's counter changes in one write, and the batches this round
 * finished marked completed. In batch id order: the rounds of several instances lock the
 * batch rows they share in one order, so they never deadlock on them. */
static ota_err write_counts(engine_t *e, store_uow *u, int64_t now)
{
    ota_err trc = tally_write(e, u);
    if (trc != OTA_OK)
        return trc;
    if (e->n_touched > 1)
        qsort(e->touched, e->n_touched, sizeof *e->touched, by_batch);
    for (size_t i = 0; i < e->n_touched; i++) {
        int64_t batch_id = e->touched[i].batch_id;
        int completed = 0;
        batch_mem *tb = batch_find(e, batch_id);
        ota_err rc = store_uow_batch_counts(u, batch_id, e->touched[i].delta);
        if (rc == OTA_OK)
            rc = store_uow_batch_complete_if_done(u, batch_id, tb && tb->params.confirm_ms > 0,
                                                  now, &completed);
        if (rc != OTA_OK)
            return rc;
        if (completed) {
            batch_mem *b = batch_find(e, batch_id);
            if (b && (rc = batch_hook(e, u, b, HOOK_EV_BATCH_COMPLETED,
                                         json_pack("{s:s}", "state", "completed"), now)) != OTA_OK)
                return rc;
            OTA_INFO("engine: batch %lld completed", (long long)batch_id);
            if (b)
                b->running = 0;
        }
    }
    return OTA_OK;
}

/* Rebuilds the in-memory view from the store (reload). While that fails the view is stale:
 * no round runs (run_round) and the inputs stay queued. Logged when it starts failing and
 * when it works again. Returns 0 or -1. */
static int rebuild(engine_t *e)
{
    int was_stale = e->view_stale;
    const char *failed = reload(e);
    e->view_stale = failed != NULL;
    if (failed && !was_stale)
        OTA_ERROR("engine: cannot read %s from the store; rounds wait until it works", failed);
    else if (!failed && was_stale)
        OTA_INFO("engine: rebuilt from the store; rounds go on");
    return failed ? -1 : 0;
}

/* Runs one round in one store transaction (see the top of this file). On OTA_OK it is
 * committed and its messages and new deadlines wait in e->out and e->arm; otherwise nothing
 * was written. */
static ota_err run_round(engine_t *e, round_in *r, int64_t now)
{
    store_uow *u = NULL;
    if (e->view_stale && rebuild(e) != 0)
        return OTA_EDB; /* rebuild has said so */
    ota_err rc = store_uow_begin(e->cfg.store, &u);
    if (rc == OTA_OK) {
        e->in_round = 1;
        e->n_ready = 0;
        rc = fence(e, u);
        if (rc == OTA_OK)
            rc = apply_inputs(e, u, r, now);
        if (rc == OTA_OK)
            rc = join_noted(e, u, now);
        if (rc == OTA_OK)
            rc = fire_deadlines(e, u, now);
        if (rc == OTA_OK)
            rc = settle_ready(e, u);
        if (rc == OTA_OK)
            rc = send_pushes(e, u, now);
        if (rc == OTA_OK)
            rc = write_counts(e, u, now);
        if (rc == OTA_OK)
            rc = store_uow_commit(u);
        else
            store_uow_rollback(u);
        e->in_round = 0;
    }
    if (rc != OTA_OK)
        OTA_ERROR(
            "engine: round of %zu inputs failed (%s); retrying after a rebuild from the store",
            r->applied, ota_err_name(rc));
    return rc;
}

/* ---- the loop -------------------------------------------------------------------------- */

static void timed_wait(pthread_cond_t *c, pthread_mutex_t *mu, int64_t ms)
{
    ota_time_cond_wait(c, mu, ms);
}

/* Sleeps until an input arrives or the next deadline or push token is due (wait_ms), then
 * takes up to ROUND_MAX_EVENTS queued inputs into *r (none on a timed wake-up). Returns 0
 * once the engine is stopping and the queue is empty, else 1. */
static int take_inputs(engine_t *e, round_in *r)
{
    int64_t w = wait_ms(e, ota_time_now_ms());
    memset(r, 0, sizeof *r);
    pthread_mutex_lock(&e->mu);
    if (!e->q_head && !e->stop && w > 0 && e->parts_next == e->parts_cur &&
        !atomic_load(&e->resync_now))
        timed_wait(&e->wake, &e->mu, w);
    /* a read phase in progress: its inputs go into this round together (engine_hold) */
    int64_t hold_end = e->holds > 0 ? ota_time_mono_ms() + HOLD_MAX_MS : 0;
    while (e->holds > 0 && !e->stop && e->q_len < ROUND_MAX_EVENTS && e->q_len < e->cfg.max_queue) {
        int64_t left = hold_end - ota_time_mono_ms();
        if (left <= 0)
            break;
        timed_wait(&e->wake, &e->mu, left);
    }
    if (e->stop && !e->q_head) {
        pthread_mutex_unlock(&e->mu);
        return 0;
    }
    r->list = e->q_head;
    while (e->q_head && r->taken < ROUND_MAX_EVENTS) {
        r->last = e->q_head;
        r->seq_max = e->q_head->seq;
        e->q_head = e->q_head->next;
        r->taken++;
    }
    if (r->last)
        r->last->next = NULL;
    if (!e->q_head)
        e->q_tail = NULL;
    e->q_len -= r->taken;
    if (r->taken)
        pthread_cond_broadcast(&e->room);
    pthread_mutex_unlock(&e->mu);
    return 1;
}

static void refresh_batches(engine_t *e);

/* With several otad on one store, re-reads what the others changed every cfg.resync_ms
 * (resync). A failing read is logged when it starts and when it works again. */
static void resync_when_due(engine_t *e, int64_t now)
{
    int asked = atomic_exchange(&e->resync_now, 0); /* another instance changed a batch */
    if (e->cfg.resync_ms <= 0 || (now < e->next_resync_ms && !asked))
        return;
    e->next_resync_ms = now + e->cfg.resync_ms;
    const char *failed = resync(e, now);
    if (failed && !e->resync_failing)
        OTA_WARN("engine: resync: cannot read %s from the store; what other instances "
                 "changed reaches this one later",
                 failed);
    else if (!failed && e->resync_failing)
        OTA_INFO("engine: resync works again");
    e->resync_failing = failed != NULL;
    refresh_batches(e); /* a phase another otad moved on: its devices wait for pushes here too */
}

/* Every second: the DDI devices of this engine's partitions that no instance saw poll for
 * two intervals go offline. Their last polls reach the store in batches from every
 * instance (http/routes_ddi.c, every quarter interval at most), so a device that polls
 * another instance stays online. A failing write is logged once; the next sweep tries. */
static void sweep_ddi(engine_t *e, int64_t now)
{
    int64_t n = 0;
    if (now < e->next_ddi_sweep_ms || (parted(e) && !e->parts_cur))
        return;
    e->next_ddi_sweep_ms = now + MAX_WAIT_MS;
    ota_err rc = store_engine_ddi_offline(e->cfg.store, now - 2 * e->ddi_sleep_ms, &n);
    if (rc != OTA_OK)
        OTA_WARN("engine: cannot set silent DDI devices offline (%s); trying again",
                 ota_err_name(rc));
    else if (n > 0)
        OTA_INFO("engine: %lld DDI devices silent for two poll intervals: offline", (long long)n);
}

/* Clock probes first: the round's deadlines are fired after all of its inputs are applied,
 * so a probe may move the watermark before the messages ahead of it. */
static void apply_clock(engine_t *e, round_in *r)
{
    for (input *in = r->list; in; in = in->next) {
        if (in->kind != IN_CLOCK)
            continue;
        r->n_clock++;
        if (in->left_ms)
            sent_back(e, in->left_ms, in->back_ms);
        if (in->seq <= e->clock_gate)
            continue;
        if (in->num > e->wm_ms)
            e->wm_ms = in->num;
    }
}

/* 0 when the round has nothing to write (a timed wake-up, maybe probes): no transaction. */
static int round_needed(engine_t *e, const round_in *r, int64_t now)
{
    return e->view_stale || r->n_clock < r->taken || has_work(e, now);
}

/* Sends the others a notice (notice.h) that a batch changed here; a failure costs them only
 * the wait for their resync. */
static void tell_others(engine_t *e)
{
    if (parted(e) && store_parts_notify(e->cfg.store, e->owner) != OTA_OK)
        OTA_DEBUG("engine: batch notice not sent; the other instances see it at their resync");
}

/* Publishes what the committed round decided, arms its new deadlines and counts it. */
static void publish_outputs(engine_t *e, int64_t now)
{
    int pushed = e->round_mqtt;
    outputs_clear(e, 1);
    if (pushed)
        sent_note(e, now);
    publish_counts(e);
    if (e->notice_due)
        tell_others(e);
    e->notice_due = 0;
}

/* Tells engine_sync that the round's inputs are committed (or needed no write). */
static void mark_done(engine_t *e, const round_in *r)
{
    pthread_mutex_lock(&e->mu);
    e->wm_done = e->wm_ms; /* every message before the round's newest probe is committed */
    if (r->seq_max > e->seq_done) { /* inputs replayed from the side have older numbers */
        e->seq_done = r->seq_max;
        pthread_cond_broadcast(&e->done);
    }
    pthread_mutex_unlock(&e->mu);
}

/* After a failed round nothing was written: its messages are dropped, its inputs go back in
 * front of the queue (their PUBACKs wait: engine_sync) unless the engine is stopping, and
 * the in-memory view is rebuilt from the store before the next round. */
static void requeue(engine_t *e, round_in *r)
{
    outputs_clear(e, 0);
    memset(&e->round_counts, 0, sizeof e->round_counts);
    e->snapshot_pending_rebuild = 0;
    e->notice_due = 0;
    pthread_mutex_lock(&e->mu);
    if (r->list && !e->stop) {
        r->last->next = e->q_head;
        e->q_head = r->list;
        if (!e->q_tail)
            e->q_tail = r->last;
        e->q_len += r->taken;
        r->list = r->last = NULL;
    }
    pthread_mutex_unlock(&e->mu);
    struct timespec pause = {0, 200 * 1000000L};
    nanosleep(&pause, NULL);
    e->view_stale = 1;
}

/* After a round that applied a presence snapshot: who is pushable now comes from the store.
 * A store error leaves the view to be rebuilt before the next round. */
static void refresh_pushable(engine_t *e)
{
    if (!e->snapshot_pending_rebuild)
        return;
    e->snapshot_pending_rebuild = 0;
    for (size_t i = 0; i < e->n_batches; i++) {
        batch_mem *b = &e->batches[i];
        idq_free(&b->pending);
        if (!b->running)
            continue;
        ota_err rc = store_engine_pushable(e->cfg.store, b->row.id, b->row.phase, pushable_cb, b);
        if (rc != OTA_OK) {
            OTA_ERROR("engine: batch %lld: cannot re-read the devices waiting for a push after "
                      "a presence snapshot (%s); rebuilding from the store",
                      (long long)b->row.id, ota_err_name(rc));
            e->view_stale = 1;
            break;
        }
    }
    pthread_mutex_lock(&e->mu);
    e->stats.presence_synced = 1;
    pthread_mutex_unlock(&e->mu);
}

/* After a committed round: a batch whose phase moved on or that was resumed re-reads its
 * devices waiting for a push (the phase's devices join them). A store error leaves the view
 * to be rebuilt. */
static void refresh_batches(engine_t *e)
{
    for (size_t i = 0; i < e->n_batches; i++) {
        batch_mem *b = &e->batches[i];
        if (!b->refresh)
            continue;
        b->refresh = 0;
        idq_free(&b->pending);
        if (b->running &&
            store_engine_pushable(e->cfg.store, b->row.id, b->row.phase, pushable_cb, b) != OTA_OK) {
            OTA_ERROR("engine: batch %lld: cannot read the devices waiting for a push; "
                      "rebuilding from the store",
                      (long long)b->row.id);
            e->view_stale = 1;
        }
    }
}

static void count_round(engine_t *e, const round_in *r)
{
    pthread_mutex_lock(&e->mu);
    e->stats.rounds++;
    e->stats.events += r->applied;
    e->stats.timers = theap_size(e->heap) + theap_size(e->sheap);
    pthread_mutex_unlock(&e->mu);
}

/* The engine thread: one round per wake-up, until engine_stop and an empty queue. */
static void *engine_main(void *arg)
{
    engine_t *e = arg;
    round_in r;
    while (take_inputs(e, &r)) {
        int64_t now = ota_time_now_ms();
        adopt_parts(e, &r);
        split_inputs(e, &r, now);
        resync_when_due(e, now);
        sweep_ddi(e, now);
        apply_clock(e, &r);
        if (round_needed(e, &r, now)) {
            int64_t t0 = ota_time_mono_us();
            ota_err rc = run_round(e, &r, now);
            hist_observe_us(&e->round_time, ota_time_mono_us() - t0);
            if (rc == OTA_OK) {
                publish_outputs(e, now);
                refresh_batches(e);
                mark_done(e, &r);
            } else {
                requeue(e, &r);
            }
            refresh_pushable(e);
            batch_drop_finished(e);
            count_round(e, &r);
        } else {
            mark_done(e, &r);
        }
        free_list(r.list);
        lag_stats(e, now);
    }
    return NULL;
}

/* ---- public ---------------------------------------------------------------------------- */

/* The lock and condition variables, made first in engine_new and destroyed last in
 * engine_free, so every engine engine_free sees has them. 0, or -1 with none made. */
static int sync_init(engine_t *e)
{
    if (pthread_mutex_init(&e->mu, NULL) != 0)
        return -1;
    if (pthread_cond_init(&e->wake, NULL) != 0)
        goto no_wake;
    if (pthread_cond_init(&e->room, NULL) != 0)
        goto no_room;
    if (pthread_cond_init(&e->done, NULL) != 0)
        goto no_done;
    if (pthread_cond_init(&e->parts_cv, NULL) != 0)
        goto no_parts;
    return 0;
no_parts:
    pthread_cond_destroy(&e->done);
no_done:
    pthread_cond_destroy(&e->room);
no_room:
    pthread_cond_destroy(&e->wake);
no_wake:
    pthread_mutex_destroy(&e->mu);
    return -1;
}

static void sync_destroy(engine_t *e)
{
    pthread_cond_destroy(&e->parts_cv);
    pthread_cond_destroy(&e->done);
    pthread_cond_destroy(&e->room);
    pthread_cond_destroy(&e->wake);
    pthread_mutex_destroy(&e->mu);
}

/* Bounds of the round-time histogram, seconds: an idle round is well under a millisecond,
 * one of ROUND_MAX_PUSHES pushes on PostgreSQL a few hundred */
static const double round_le[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                  0.1,    0.25,  0.5,    1,     2.5,  5,    10};

engine_t *engine_new(const engine_config *cfg)
{
    if (!cfg || !cfg->store || !cfg->publish || !cfg->public_url || !cfg->server_key ||
        cfg->time_scale <= 0)
        return NULL;
    engine_t *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    if (sync_init(e) != 0) {
        free(e);
        return NULL;
    }
    e->cfg = *cfg;
    hist_init(&e->round_time, round_le, sizeof round_le / sizeof round_le[0]);
    if (!e->cfg.max_queue)
        e->cfg.max_queue = 200000;
    e->ack_timeout_ms = scaled(e, cfg->ack_timeout_ms ? cfg->ack_timeout_ms : 10000);
    e->ddi_sleep_ms = cfg->ddi_sleep_ms > 0 ? cfg->ddi_sleep_ms : scaled(e, 60000);
    e->ddi_ack_timeout_ms = e->ddi_sleep_ms + e->ack_timeout_ms;
    e->public_url = strdup(cfg->public_url);
    e->parts_cur = e->parts_next = PARTS_ALL;
    if (cfg->lease_owner && store_parts_supported(cfg->store)) {
        /* nothing until the lease keeper holds something */
        e->parts_cur = e->parts_next = 0;
        e->owner = strdup(cfg->lease_owner);
        if (!e->owner) {
            engine_free(e);
            return NULL;
        }
    }
    e->heap = theap_new(1024, 16u * 1024 * 1024);
    e->sheap = theap_new(1024, 16u * 1024 * 1024);
    e->sent = calloc(SENT_RING, sizeof *e->sent);
    e->devlog = ota_log_limit_new(DEVLOG_SLOTS, DEVLOG_BURST, scaled(e, DEVLOG_WINDOW_MS));
    if (!e->public_url || !e->heap || !e->sheap || !e->sent || !e->devlog ||
        urlsign_derive_key(cfg->server_key, e->url_key) != OTA_OK) {
        engine_free(e);
        return NULL;
    }
    return e;
}

/* notice.h's heard (the notice thread): resync at the next loop turn. */
static void heard(void *ud)
{
    engine_t *e = ud;
    atomic_store(&e->resync_now, 1);
    pthread_mutex_lock(&e->mu);
    pthread_cond_broadcast(&e->wake);
    pthread_mutex_unlock(&e->mu);
}

int engine_start(engine_t *e)
{
    const char *failed;
    store_parts_filter(e->cfg.store, e->parts_cur);
    if (store_engine_presence_reset(e->cfg.store) != OTA_OK) {
        OTA_ERROR("engine: cannot mark every device offline in the store");
        return -1;
    }
    if ((failed = reload(e)) != NULL) {
        OTA_ERROR("engine: cannot read %s from the store", failed);
        return -1;
    }
    e->started_ms = ota_time_now_ms();
    if (pthread_create(&e->thread, NULL, engine_main, e) != 0) {
        OTA_ERROR("engine: cannot start its thread");
        return -1;
    }
    pthread_setname_np(e->thread, "ota-engine"); /* top -H, perf */
    e->started = 1;
    if (parted(e)) {
        lease_config lc = {.store = e->cfg.store, .me = e->owner, .apply = parts_apply,
                           .applied = parts_applied, .ud = e, .route = e->cfg.route,
                           .route_ud = e->cfg.publish_ud};
        e->lease = lease_start(&lc);
        if (!e->lease) {
            OTA_ERROR("engine: cannot start the partition lease keeper");
            engine_stop(e);
            return -1;
        }
        /* without it (logged) the others' batch changes reach this engine at its resync */
        e->notice = notice_start(e->cfg.store, e->owner, heard, e);
    }
    return 0;
}

void engine_stop(engine_t *e)
{
    if (!e || !e->started)
        return;
    pthread_mutex_lock(&e->mu);
    e->stop = 1;
    pthread_cond_broadcast(&e->wake);
    pthread_cond_broadcast(&e->room);
    pthread_cond_broadcast(&e->done);
    pthread_mutex_unlock(&e->mu);
    pthread_join(e->thread, NULL);
    e->started = 0;
    notice_stop(e->notice);
    e->notice = NULL;
    /* after the last round: the others take our partitions over at once */
    lease_stop(e->lease, 1);
    e->lease = NULL;
}

void engine_free(engine_t *e)
{
    if (!e)
        return;
    engine_stop(e);
    free_list(e->q_head);
    free_list(e->park_head);
    free(e->owner);
    outputs_clear(e, 0);
    for (size_t i = 0; i < e->n_batches; i++) {
        idq_free(&e->batches[i].pending);
        target_free(&e->batches[i].tgt);
        window_set_free(&e->batches[i].win);
    }
    free(e->batches);
    free(e->out);
    free(e->arm);
    free(e->touched);
    free(e->ready);
    theap_free(e->heap);
    theap_free(e->sheap);
    free(e->sent);
    ota_log_limit_free(e->devlog);
    free(e->public_url);
    sync_destroy(e);
    free(e);
}

static void enqueue(engine_t *e, input *in)
{
    pthread_mutex_lock(&e->mu);
    /* back-pressure: the MQTT thread waits here, so the broker holds what we can't take */
    while (e->q_len >= e->cfg.max_queue && !e->stop && in->kind == IN_MESSAGE)
        pthread_cond_wait(&e->room, &e->mu);
    if (e->stop) {
        pthread_mutex_unlock(&e->mu);
        free_input(in);
        return;
    }
    in->next = NULL;
    in->seq = ++e->seq_in;
    if (e->q_tail)
        e->q_tail->next = in;
    else
        e->q_head = in;
    e->q_tail = in;
    e->q_len++;
    pthread_cond_signal(&e->wake);
    pthread_mutex_unlock(&e->mu);
}

static input *new_input(in_kind kind, const char *pk, const char *id, size_t payload_len)
{
    input *in = calloc(1, sizeof *in + payload_len + 1);
    if (!in)
        abort();
    in->kind = kind;
    if (pk)
        snprintf(in->pk, sizeof in->pk, "%s", pk);
    if (id)
        snprintf(in->id, sizeof in->id, "%s", id);
    return in;
}

void engine_device_message(engine_t *e, const char *pk, const char *id, const char *suffix,
                           const void *payload, size_t len)
{
    if (strlen(pk) > OTA_PRODUCT_KEY_MAX || strlen(id) > OTA_IDENT_MAX ||
        strlen(suffix) > OTA_TOPIC_SUFFIX_MAX || len > OTA_PAYLOAD_MAX) {
        if (dev_log_ok(e, pk, id))
            OTA_WARN("device %.32s.%.64s: oversized message on %.40s dropped", pk, id, suffix);
        return;
    }
    input *in = new_input(IN_MESSAGE, pk, id, len);
    snprintf(in->suffix, sizeof in->suffix, "%s", suffix);
    if (len > 0) /* an empty payload may come as NULL */
        memcpy(in->payload, payload, len);
    in->payload[len] = '\0';
    in->len = len;
    enqueue(e, in);
}

void engine_presence(engine_t *e, const char *pk, const char *id, int online, int64_t t_ms)
{
    if (strlen(pk) > OTA_PRODUCT_KEY_MAX || strlen(id) > OTA_IDENT_MAX)
        return;
    input *in = new_input(IN_PRESENCE, pk, id, 0);
    in->online = online;
    in->num = t_ms;
    enqueue(e, in);
}

void engine_presence_snapshot(engine_t *e, const char *const *clients, size_t n)
{
    input *in = new_input(IN_SNAPSHOT, NULL, NULL, 0);
    in->clients = calloc(n ? n : 1, sizeof *in->clients);
    if (!in->clients)
        abort();
    for (size_t i = 0; i < n; i++) {
        in->clients[i] = strdup(clients[i]);
        if (!in->clients[i])
            abort();
    }
    in->len = n;
    enqueue(e, in);
}

void engine_clock(engine_t *e, int64_t sent_ms)
{
    input *in = new_input(IN_CLOCK, "", "", 0);
    in->num = sent_ms;
    enqueue(e, in);
}

void engine_published(engine_t *e, int64_t sent_ms)
{
    input *in = new_input(IN_CLOCK, "", "", 0);
    in->left_ms = sent_ms; /* num 0: the watermark stays */
    in->back_ms = ota_time_now_ms();
    enqueue(e, in);
}

void engine_batch_created(engine_t *e, int64_t batch_id)
{
    input *in = new_input(IN_BATCH_CREATED, NULL, NULL, 0);
    in->num = batch_id;
    enqueue(e, in);
    tell_others(e);
}

void engine_batch_changed(engine_t *e, int64_t batch_id)
{
    input *in = new_input(IN_BATCH_CHANGED, NULL, NULL, 0);
    in->num = batch_id;
    enqueue(e, in);
    tell_others(e);
}

void engine_targets_changed(engine_t *e)
{
    enqueue(e, new_input(IN_TARGETS, NULL, NULL, 0));
    tell_others(e);
}

void engine_batch_ended(engine_t *e, int64_t batch_id, int64_t tasks_failed)
{
    if (tasks_failed > 0) /* committed by the API's terminate already */
        atomic_fetch_add_explicit(&e->failures[FSM_REASON_TERMINATED], (uint64_t)tasks_failed,
                                  memory_order_relaxed);
    input *in = new_input(IN_BATCH_ENDED, NULL, NULL, 0);
    in->num = batch_id;
    enqueue(e, in);
    tell_others(e);
}

void engine_ddi(engine_t *e, const char *pk, const char *id, engine_ddi_event ev,
                int64_t action_id, int step, int64_t t_ms)
{
    if (strlen(pk) > OTA_PRODUCT_KEY_MAX || strlen(id) > OTA_IDENT_MAX)
        return;
    input *in = new_input(IN_DDI, pk, id, 0);
    in->ddi = (int)ev;
    in->action = action_id;
    in->step = step;
    in->num = t_ms;
    enqueue(e, in);
}

void engine_hold(engine_t *e, int on)
{
    pthread_mutex_lock(&e->mu);
    if (on)
        e->holds++;
    else if (e->holds > 0 && --e->holds == 0)
        pthread_cond_signal(&e->wake);
    pthread_mutex_unlock(&e->mu);
}

int engine_sync_wait(engine_t *e, int wait_ms)
{
    pthread_mutex_lock(&e->mu);
    uint64_t target = e->seq_in;
    int64_t until = ota_time_mono_ms() + wait_ms;
    while (e->seq_done < target && !e->stop && ota_time_mono_ms() < until)
        timed_wait(&e->done, &e->mu, until - ota_time_mono_ms());
    int rc = e->seq_done >= target ? 1 : e->stop ? -1 : 0;
    pthread_mutex_unlock(&e->mu);
    return rc;
}

int engine_sync(engine_t *e)
{
    pthread_mutex_lock(&e->mu);
    uint64_t target = e->seq_in;
    while (e->seq_done < target && !e->stop)
        pthread_cond_wait(&e->done, &e->mu);
    int ok = e->seq_done >= target;
    pthread_mutex_unlock(&e->mu);
    return ok ? 0 : -1;
}

void engine_get_stats(engine_t *e, engine_stats *out)
{
    pthread_mutex_lock(&e->mu);
    *out = e->stats;
    out->queued = e->q_len;
    pthread_mutex_unlock(&e->mu);
    out->acks = atomic_load_explicit(&e->acks, memory_order_relaxed);
    out->retries = atomic_load_explicit(&e->retries, memory_order_relaxed);
    out->acks_moved = atomic_load_explicit(&e->acks_moved, memory_order_relaxed);
    for (int i = 0; i < FSM_REASON_COUNT; i++)
        out->failures[i] = atomic_load_explicit(&e->failures[i], memory_order_relaxed);
    hist_read(&e->round_time, &out->round_time);
}
