/*
 * fsm: the device task state machine (see fsm.h for the states, events and rules).
 * The transition rules are spelled out per event below, each a small switch on the state,
 * so that every (state, event) pair has one visible outcome; the unit test walks all of
 * them. Pure functions only: no I/O, no clock, no globals besides constant name tables.
 */
#include "fsm.h"

#include <string.h>

#define X_NAME(c, name, ...) #name,
static const char *const state_names[FSM_STATE_COUNT] = {FSM_STATES(X_NAME)};
static const char *const reason_names[FSM_REASON_COUNT] = {FSM_REASONS(X_NAME)};
static const char *const batch_state_names[FSM_BATCH_STATE_COUNT] = {FSM_BATCH_STATES(X_NAME)};
static const char *const deadline_names[FSM_DL_COUNT] = {FSM_DEADLINES(X_NAME)};
#undef X_NAME

/* Every name fits the buffers that read names back (FSM_NAME_MAX). */
#define X_FITS(c, name, ...) _Static_assert(sizeof #name <= FSM_NAME_MAX, #name " is too long");
FSM_STATES(X_FITS)
FSM_REASONS(X_FITS)
FSM_BATCH_STATES(X_FITS)
FSM_DEADLINES(X_FITS)
#undef X_FITS

static const char *const event_names[FSM_EV_COUNT] = {
    "push_sent",       "ack",       "ack_timeout", "progress", "version",
    "upgrade_timeout", "retry_due", "terminate", "confirm_due",
};

static const char *const note_names[FSM_NOTE_COUNT] = {
    "applied",  "duplicate",   "late",          "stale_msgid", "refused",
    "finished", "unsolicited", "version_other", "timer_stale", "invalid",
};

const char *fsm_state_name(fsm_state s)
{
    return (unsigned)s < FSM_STATE_COUNT ? state_names[s] : "?";
}

int fsm_state_from_name(const char *name, fsm_state *out)
{
    if (!name)
        return -1;
    for (int i = 0; i < FSM_STATE_COUNT; i++) {
        if (strcmp(name, state_names[i]) == 0) {
            *out = (fsm_state)i;
            return 0;
        }
    }
    return -1;
}

const char *fsm_reason_name(fsm_reason r)
{
    return (unsigned)r < FSM_REASON_COUNT ? reason_names[r] : "?";
}

int fsm_reason_from_name(const char *name, fsm_reason *out)
{
    if (!name)
        return -1;
    for (int i = 0; i < FSM_REASON_COUNT; i++) {
        if (strcmp(name, reason_names[i]) == 0) {
            *out = (fsm_reason)i;
            return 0;
        }
    }
    return -1;
}

fsm_reason fsm_reason_from_step(int step)
{
#define X_STEP(c, name, st)                                                                        \
    if (st != 0 && step == st)                                                                     \
        return FSM_REASON_##c;
    FSM_REASONS(X_STEP)
#undef X_STEP
    return FSM_REASON_NONE;
}

const char *fsm_event_name(fsm_event_kind k)
{
    return (unsigned)k < FSM_EV_COUNT ? event_names[k] : "?";
}

const char *fsm_note_name(fsm_note n)
{
    return (unsigned)n < FSM_NOTE_COUNT ? note_names[n] : "?";
}

const char *fsm_deadline_name(fsm_deadline d)
{
    return (unsigned)d < FSM_DL_COUNT ? deadline_names[d] : "?";
}

fsm_deadline fsm_deadline_from_name(const char *name)
{
    for (int i = 0; name && i < FSM_DL_COUNT; i++)
        if (strcmp(name, deadline_names[i]) == 0)
            return (fsm_deadline)i;
    return FSM_DL_NONE;
}

const char *fsm_batch_state_name(fsm_batch_state s)
{
    return (unsigned)s < FSM_BATCH_STATE_COUNT ? batch_state_names[s] : "?";
}

int fsm_batch_state_from_name(const char *name, fsm_batch_state *out)
{
    for (int i = 0; name && i < FSM_BATCH_STATE_COUNT; i++) {
        if (strcmp(name, batch_state_names[i]) == 0) {
            *out = (fsm_batch_state)i;
            return 0;
        }
    }
    return -1;
}

int fsm_batch_state_is_running(fsm_batch_state s)
{
    switch (s) {
#define X_RUNNING(c, name, running, pushing)                                                       \
    case FSM_BATCH_##c:                                                                            \
        return running;
        FSM_BATCH_STATES(X_RUNNING)
#undef X_RUNNING
    default:
        return 0;
    }
}

int fsm_batch_state_is_pushing(fsm_batch_state s)
{
    switch (s) {
#define X_PUSHING(c, name, running, pushing)                                                      \
    case FSM_BATCH_##c:                                                                            \
        return pushing;
        FSM_BATCH_STATES(X_PUSHING)
#undef X_PUSHING
    default:
        return 0;
    }
}

int fsm_state_is_final(fsm_state s)
{
    switch (s) {
#define X_FINAL(c, name, final)                                                                    \
    case FSM_##c:                                                                                  \
        return final;
        FSM_STATES(X_FINAL)
#undef X_FINAL
    default:
        return 0;
    }
}

void fsm_task_init(fsm_task *t)
{
    memset(t, 0, sizeof *t);
    t->state = FSM_TO_PUSH;
    t->reason = FSM_REASON_NONE;
    t->deadline_kind = FSM_DL_NONE;
}

void fsm_counts_delta(fsm_state from, fsm_state to, int delta[FSM_STATE_COUNT])
{
    if (from == to || (unsigned)from >= FSM_STATE_COUNT || (unsigned)to >= FSM_STATE_COUNT)
        return;
    delta[from] -= 1;
    delta[to] += 1;
}

int fsm_batch_complete(const int64_t counts[FSM_STATE_COUNT], int64_t total)
{
    int64_t done = 0;
#define X_DONE(c, name, final)                                                                     \
    if (final)                                                                                     \
        done += counts[FSM_##c];
    FSM_STATES(X_DONE)
#undef X_DONE
    return total > 0 && done >= total;
}

/* ---- transitions ---- */

static void set_deadline(fsm_task *t, fsm_deadline kind, int64_t at)
{
    t->deadline_kind = kind;
    t->deadline_ms = kind == FSM_DL_NONE ? 0 : at;
}

static void finish(fsm_task *t, fsm_state s, fsm_reason r, int64_t now)
{
    t->state = s;
    t->reason = r;
    t->finished_ms = now;
    set_deadline(t, FSM_DL_NONE, 0);
}

/* A failed attempt: to_retry while retries are left, else failed. */
static void fail(fsm_task *t, const fsm_params *p, fsm_reason r, int64_t now)
{
    if (t->retried < p->retry_times) {
        t->state = FSM_TO_RETRY;
        t->reason = r;
        int64_t iv = p->retry_interval_ms > 0 ? p->retry_interval_ms : 0;
        set_deadline(t, FSM_DL_RETRY, now + iv);
    } else {
        finish(t, FSM_FAILED, r, now);
    }
}

static int valid_msg_id(const char *id)
{
    if (!id || !id[0])
        return 0;
    return strnlen(id, OTA_MSGID_MAX + 1) <= OTA_MSGID_MAX;
}

/* The note for an ack or progress that arrives when no attempt is waiting for it. */
static fsm_note note_not_waiting(const fsm_task *t)
{
    if (t->state == FSM_TO_PUSH && t->attempt == 0)
        return FSM_NOTE_UNSOLICITED;
    return FSM_NOTE_LATE;
}

static fsm_note on_push_sent(fsm_task *t, const fsm_params *p, const fsm_event *ev, int64_t now)
{
    if (t->state != FSM_TO_PUSH || !valid_msg_id(ev->msg_id))
        return FSM_NOTE_INVALID;
    t->state = FSM_PUSHED;
    t->attempt += 1;
    t->retried = t->attempt - 1;
    t->progress = 0;
    size_t n = strlen(ev->msg_id);
    memcpy(t->push_msg_id, ev->msg_id, n + 1);
    t->pushed_ms = now;
    t->started_ms = 0;
    int64_t ack = p->ack_timeout_ms > 0 ? p->ack_timeout_ms : FSM_ACK_TIMEOUT_DEFAULT_MS;
    set_deadline(t, FSM_DL_ACK, now + ack);
    return FSM_NOTE_APPLIED;
}

static fsm_note on_ack(fsm_task *t, const fsm_event *ev)
{
    if (!ev->msg_id)
        return FSM_NOTE_INVALID;
    int same = t->attempt > 0 && strcmp(ev->msg_id, t->push_msg_id) == 0;
    switch (t->state) {
    case FSM_PUSHED:
        if (!same)
            return FSM_NOTE_STALE_MSGID;
        if (ev->code != 200)
            return FSM_NOTE_REFUSED;
        t->state = FSM_TO_UPGRADE;
        set_deadline(t, FSM_DL_NONE, 0);
        return FSM_NOTE_APPLIED;
    case FSM_TO_UPGRADE:
    case FSM_UPGRADING:
        return same ? FSM_NOTE_DUPLICATE : FSM_NOTE_STALE_MSGID;
    case FSM_TO_RETRY:
    case FSM_TO_PUSH:
        if (t->attempt == 0)
            return FSM_NOTE_UNSOLICITED;
        return same ? FSM_NOTE_LATE : FSM_NOTE_STALE_MSGID;
    default:
        return FSM_NOTE_FINISHED;
    }
}

static fsm_note on_progress(fsm_task *t, const fsm_params *p, const fsm_event *ev, int64_t now)
{
    int step = ev->step;
    if (!((step >= 1 && step <= 100) || (step >= -4 && step <= -1)))
        return FSM_NOTE_INVALID;
    switch (t->state) {
    case FSM_PUSHED:
    case FSM_TO_UPGRADE:
        if (step < 0) {
            fail(t, p, fsm_reason_from_step(step), now);
            return FSM_NOTE_APPLIED;
        }
        t->state = FSM_UPGRADING;
        t->progress = step;
        t->started_ms = now;
        set_deadline(t, FSM_DL_UPGRADE, now + (p->timeout_ms > 0 ? p->timeout_ms : 0));
        return FSM_NOTE_APPLIED;
    case FSM_UPGRADING:
        if (step < 0) {
            fail(t, p, fsm_reason_from_step(step), now);
            return FSM_NOTE_APPLIED;
        }
        if (step <= t->progress)
            return FSM_NOTE_DUPLICATE;
        t->progress = step;
        return FSM_NOTE_APPLIED;
    case FSM_TO_RETRY:
    case FSM_TO_PUSH:
        return note_not_waiting(t);
    default:
        return FSM_NOTE_FINISHED;
    }
}

static fsm_note on_version(fsm_task *t, const fsm_params *p, const fsm_event *ev, int64_t now)
{
    if (!ev->version)
        return FSM_NOTE_INVALID;
    if (fsm_state_is_final(t->state))
        return FSM_NOTE_FINISHED;
    if (!p->firmware_version || strcmp(ev->version, p->firmware_version) != 0)
        return FSM_NOTE_VERSION_OTHER;
    t->progress = 100;
    finish(t, FSM_SUCCEEDED, FSM_REASON_NONE, now);
    if (p->confirm_ms > 0)
        set_deadline(t, FSM_DL_CONFIRM, now + p->confirm_ms);
    return FSM_NOTE_APPLIED;
}

/* A succeeded task still in its confirmation (CONFIRM armed): another version rolls it
 * back, the deadline's end makes it final; anything else changes nothing. */
static fsm_note on_confirming(fsm_task *t, const fsm_params *p, const fsm_event *ev, int64_t now)
{
    if (ev->kind == FSM_EV_VERSION && ev->version && p->firmware_version &&
        strcmp(ev->version, p->firmware_version) != 0) {
        finish(t, FSM_FAILED, FSM_REASON_ROLLED_BACK, now);
        return FSM_NOTE_APPLIED;
    }
    if (ev->kind == FSM_EV_CONFIRM_DUE && now >= t->deadline_ms) {
        set_deadline(t, FSM_DL_NONE, 0);
        return FSM_NOTE_APPLIED;
    }
    return FSM_NOTE_FINISHED;
}

/* A timer: valid only in `state` with the matching armed deadline that has passed. */
static int timer_fits(const fsm_task *t, fsm_state state, fsm_deadline kind, int64_t now)
{
    return t->state == state && t->deadline_kind == kind && now >= t->deadline_ms;
}

void fsm_apply(const fsm_task *in, const fsm_params *p, const fsm_event *ev, int64_t now_ms,
               fsm_result *out)
{
    fsm_task t = *in;
    fsm_note note;

    if (t.state == FSM_SUCCEEDED && t.deadline_kind == FSM_DL_CONFIRM) {
        note = on_confirming(&t, p, ev, now_ms);
    } else if (fsm_state_is_final(t.state)) {
        note = FSM_NOTE_FINISHED;
    } else {
        switch (ev->kind) {
        case FSM_EV_PUSH_SENT:
            note = on_push_sent(&t, p, ev, now_ms);
            break;
        case FSM_EV_ACK:
            note = on_ack(&t, ev);
            break;
        case FSM_EV_ACK_TIMEOUT:
            note = FSM_NOTE_TIMER_STALE;
            if (timer_fits(&t, FSM_PUSHED, FSM_DL_ACK, now_ms)) {
                fail(&t, p, FSM_REASON_PUSH_TIMEOUT, now_ms);
                note = FSM_NOTE_APPLIED;
            }
            break;
        case FSM_EV_PROGRESS:
            note = on_progress(&t, p, ev, now_ms);
            break;
        case FSM_EV_VERSION:
            note = on_version(&t, p, ev, now_ms);
            break;
        case FSM_EV_UPGRADE_TIMEOUT:
            note = FSM_NOTE_TIMER_STALE;
            if (timer_fits(&t, FSM_UPGRADING, FSM_DL_UPGRADE, now_ms)) {
                fail(&t, p, FSM_REASON_UPGRADE_TIMEOUT, now_ms);
                note = FSM_NOTE_APPLIED;
            }
            break;
        case FSM_EV_RETRY_DUE:
            note = FSM_NOTE_TIMER_STALE;
            if (timer_fits(&t, FSM_TO_RETRY, FSM_DL_RETRY, now_ms)) {
                t.state = FSM_TO_PUSH;
                set_deadline(&t, FSM_DL_NONE, 0);
                note = FSM_NOTE_APPLIED;
            }
            break;
        case FSM_EV_TERMINATE:
            finish(&t, FSM_FAILED, FSM_REASON_TERMINATED, now_ms);
            note = FSM_NOTE_APPLIED;
            break;
        default:
            note = FSM_NOTE_INVALID;
            break;
        }
    }

    if (note != FSM_NOTE_APPLIED)
        t = *in; /* ignored events change nothing, even partially */
    out->rearm = note == FSM_NOTE_APPLIED &&
                 (t.deadline_kind != in->deadline_kind || t.deadline_ms != in->deadline_ms);
    out->finished = note == FSM_NOTE_APPLIED && fsm_state_is_final(t.state) &&
                    !fsm_state_is_final(in->state);
    out->rolled_back = note == FSM_NOTE_APPLIED && in->state == FSM_SUCCEEDED &&
                       t.state == FSM_FAILED;
    out->changed = note == FSM_NOTE_APPLIED;
    out->note = note;
    out->task = t;
}
