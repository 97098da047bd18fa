/*
 * Unit tests of server/core/fsm: every state x every event (as a table), then the
 * scenarios docs/batches.md names: retries and their counting, late and duplicate
 * messages, stale timers, version reports, termination, names and counters.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/fsm.h"

#define T0 1700000000000LL
#define ACK_MS 10000
#define TIMEOUT_MS 600000
#define INTERVAL_MS 60000

static const fsm_params P2 = {ACK_MS, TIMEOUT_MS, INTERVAL_MS, 2, "2.0", 0};

/* ---- fixtures: one task per state, with a realistic history ---- */

enum {
    F_TO_PUSH,
    F_TO_PUSH_AGAIN,
    F_PUSHED,
    F_TO_UPGRADE,
    F_UPGRADING,
    F_TO_RETRY,
    F_SUCCEEDED,
    F_FAILED,
    F_COUNT
};

static fsm_task fixture(int f)
{
    fsm_task t;
    fsm_task_init(&t);
    if (f == F_TO_PUSH)
        return t;
    t.attempt = 1;
    memcpy(t.push_msg_id, "m1", 3);
    t.pushed_ms = T0;
    switch (f) {
    case F_TO_PUSH_AGAIN: /* after a failure and its retry interval */
        t.state = FSM_TO_PUSH;
        t.reason = FSM_REASON_DOWNLOAD_FAILED;
        t.progress = 20;
        break;
    case F_PUSHED:
        t.state = FSM_PUSHED;
        t.deadline_kind = FSM_DL_ACK;
        t.deadline_ms = T0 + ACK_MS;
        break;
    case F_TO_UPGRADE:
        t.state = FSM_TO_UPGRADE;
        break;
    case F_UPGRADING:
        t.state = FSM_UPGRADING;
        t.progress = 40;
        t.started_ms = T0 + 1000;
        t.deadline_kind = FSM_DL_UPGRADE;
        t.deadline_ms = T0 + 1000 + TIMEOUT_MS;
        break;
    case F_TO_RETRY:
        t.state = FSM_TO_RETRY;
        t.reason = FSM_REASON_PUSH_TIMEOUT;
        t.deadline_kind = FSM_DL_RETRY;
        t.deadline_ms = T0 + ACK_MS + INTERVAL_MS;
        break;
    case F_SUCCEEDED:
        t.state = FSM_SUCCEEDED;
        t.progress = 100;
        t.finished_ms = T0 + 5000;
        break;
    case F_FAILED:
        t.state = FSM_FAILED;
        t.reason = FSM_REASON_FLASH_FAILED;
        t.retried = 2;
        t.attempt = 3;
        t.finished_ms = T0 + 5000;
        break;
    }
    return t;
}

/* ---- events ---- */

enum {
    E_PUSH,
    E_PUSH_BAD,
    E_ACK,
    E_ACK_500,
    E_ACK_OTHER,
    E_ACKTO,
    E_ACKTO_EARLY,
    E_PROG50,
    E_PROG30,
    E_PROG_FAIL,
    E_PROG0,
    E_VER_TARGET,
    E_VER_OTHER,
    E_UPTO,
    E_UPTO_EARLY,
    E_RETRY,
    E_RETRY_EARLY,
    E_TERM,
    E_COUNT
};

static fsm_event event(int e)
{
    fsm_event ev;
    memset(&ev, 0, sizeof ev);
    switch (e) {
    case E_PUSH:
        ev.kind = FSM_EV_PUSH_SENT;
        ev.msg_id = "m2";
        break;
    case E_PUSH_BAD:
        ev.kind = FSM_EV_PUSH_SENT;
        ev.msg_id = "";
        break;
    case E_ACK:
        ev.kind = FSM_EV_ACK;
        ev.msg_id = "m1";
        ev.code = 200;
        break;
    case E_ACK_500:
        ev.kind = FSM_EV_ACK;
        ev.msg_id = "m1";
        ev.code = 500;
        break;
    case E_ACK_OTHER:
        ev.kind = FSM_EV_ACK;
        ev.msg_id = "zz";
        ev.code = 200;
        break;
    case E_ACKTO:
    case E_ACKTO_EARLY:
        ev.kind = FSM_EV_ACK_TIMEOUT;
        break;
    case E_PROG50:
        ev.kind = FSM_EV_PROGRESS;
        ev.step = 50;
        break;
    case E_PROG30:
        ev.kind = FSM_EV_PROGRESS;
        ev.step = 30;
        break;
    case E_PROG_FAIL:
        ev.kind = FSM_EV_PROGRESS;
        ev.step = -2;
        break;
    case E_PROG0:
        ev.kind = FSM_EV_PROGRESS;
        ev.step = 0;
        break;
    case E_VER_TARGET:
        ev.kind = FSM_EV_VERSION;
        ev.version = "2.0";
        break;
    case E_VER_OTHER:
        ev.kind = FSM_EV_VERSION;
        ev.version = "1.0";
        break;
    case E_UPTO:
    case E_UPTO_EARLY:
        ev.kind = FSM_EV_UPGRADE_TIMEOUT;
        break;
    case E_RETRY:
    case E_RETRY_EARLY:
        ev.kind = FSM_EV_RETRY_DUE;
        break;
    case E_TERM:
        ev.kind = FSM_EV_TERMINATE;
        break;
    }
    return ev;
}

static int is_early(int e)
{
    return e == E_ACKTO_EARLY || e == E_UPTO_EARLY || e == E_RETRY_EARLY;
}

/* "now" for an event: the armed deadline (or one ms before it for the early variants);
 * tasks without a deadline get a time long after everything. */
static int64_t now_for(const fsm_task *t, int e)
{
    if (t->deadline_kind == FSM_DL_NONE)
        return T0 + 100000000LL;
    return is_early(e) ? t->deadline_ms - 1 : t->deadline_ms;
}

/* ---- the expected outcome of every (fixture, event) ---- */

typedef struct {
    fsm_state state;
    fsm_note note;
} outcome;

#define A(s)                                                                                       \
    {                                                                                              \
        s, FSM_NOTE_APPLIED                                                                        \
    }
#define N(n)                                                                                       \
    {                                                                                              \
        (fsm_state) - 1, n                                                                         \
    }
#define DUP FSM_NOTE_DUPLICATE
#define LATE FSM_NOTE_LATE
#define STALE FSM_NOTE_STALE_MSGID
#define REF FSM_NOTE_REFUSED
#define FIN FSM_NOTE_FINISHED
#define UNS FSM_NOTE_UNSOLICITED
#define VO FSM_NOTE_VERSION_OTHER
#define TS FSM_NOTE_TIMER_STALE
#define INV FSM_NOTE_INVALID

/* rows: fixtures; columns: events in the order of the E_ enum */
static const outcome table[F_COUNT][E_COUNT] = {
    /* to_push (never pushed) */
    {A(FSM_PUSHED), N(INV), N(UNS), N(UNS), N(UNS), N(TS), N(TS), N(UNS), N(UNS), N(UNS), N(INV),
     A(FSM_SUCCEEDED), N(VO), N(TS), N(TS), N(TS), N(TS), A(FSM_FAILED)},
    /* to_push after a retry became due */
    {A(FSM_PUSHED), N(INV), N(LATE), N(LATE), N(STALE), N(TS), N(TS), N(LATE), N(LATE), N(LATE),
     N(INV), A(FSM_SUCCEEDED), N(VO), N(TS), N(TS), N(TS), N(TS), A(FSM_FAILED)},
    /* pushed */
    {N(INV), N(INV), A(FSM_TO_UPGRADE), N(REF), N(STALE), A(FSM_TO_RETRY), N(TS), A(FSM_UPGRADING),
     A(FSM_UPGRADING), A(FSM_TO_RETRY), N(INV), A(FSM_SUCCEEDED), N(VO), N(TS), N(TS), N(TS), N(TS),
     A(FSM_FAILED)},
    /* to_upgrade */
    {N(INV), N(INV), N(DUP), N(DUP), N(STALE), N(TS), N(TS), A(FSM_UPGRADING), A(FSM_UPGRADING),
     A(FSM_TO_RETRY), N(INV), A(FSM_SUCCEEDED), N(VO), N(TS), N(TS), N(TS), N(TS), A(FSM_FAILED)},
    /* upgrading (progress 40) */
    {N(INV), N(INV), N(DUP), N(DUP), N(STALE), N(TS), N(TS), A(FSM_UPGRADING), N(DUP),
     A(FSM_TO_RETRY), N(INV), A(FSM_SUCCEEDED), N(VO), A(FSM_TO_RETRY), N(TS), N(TS), N(TS),
     A(FSM_FAILED)},
    /* to_retry */
    {N(INV), N(INV), N(LATE), N(LATE), N(STALE), N(TS), N(TS), N(LATE), N(LATE), N(LATE), N(INV),
     A(FSM_SUCCEEDED), N(VO), N(TS), N(TS), A(FSM_TO_PUSH), N(TS), A(FSM_FAILED)},
    /* succeeded */
    {N(FIN), N(FIN), N(FIN), N(FIN), N(FIN), N(FIN), N(FIN), N(FIN), N(FIN), N(FIN), N(FIN), N(FIN),
     N(FIN), N(FIN), N(FIN), N(FIN), N(FIN), N(FIN)},
    /* failed */
    {N(FIN), N(FIN), N(FIN), N(FIN), N(FIN), N(FIN), N(FIN), N(FIN), N(FIN), N(FIN), N(FIN), N(FIN),
     N(FIN), N(FIN), N(FIN), N(FIN), N(FIN), N(FIN)},
};

static int same_task(const fsm_task *a, const fsm_task *b)
{
    return a->state == b->state && a->reason == b->reason && a->progress == b->progress &&
           a->retried == b->retried && a->attempt == b->attempt &&
           strcmp(a->push_msg_id, b->push_msg_id) == 0 && a->pushed_ms == b->pushed_ms &&
           a->started_ms == b->started_ms && a->finished_ms == b->finished_ms &&
           a->deadline_kind == b->deadline_kind && a->deadline_ms == b->deadline_ms;
}

/* Invariants every applied transition keeps. */
static void check_invariants(const fsm_task *t, const fsm_params *p)
{
    assert_true(t->progress >= 0 && t->progress <= 100);
    assert_true(t->retried >= 0 && t->retried <= p->retry_times);
    assert_true(t->attempt == 0 || t->retried == t->attempt - 1);
    switch (t->state) {
    case FSM_PUSHED:
        assert_int_equal(t->deadline_kind, FSM_DL_ACK);
        break;
    case FSM_UPGRADING:
        assert_int_equal(t->deadline_kind, FSM_DL_UPGRADE);
        break;
    case FSM_TO_RETRY:
        assert_int_equal(t->deadline_kind, FSM_DL_RETRY);
        assert_int_not_equal(t->reason, FSM_REASON_NONE);
        break;
    case FSM_SUCCEEDED:
        assert_int_equal(t->reason, FSM_REASON_NONE);
        assert_int_equal(t->progress, 100);
        assert_int_equal(t->deadline_kind, FSM_DL_NONE);
        assert_true(t->finished_ms > 0);
        break;
    case FSM_FAILED:
        assert_int_not_equal(t->reason, FSM_REASON_NONE);
        assert_int_equal(t->deadline_kind, FSM_DL_NONE);
        assert_true(t->finished_ms > 0);
        break;
    default:
        assert_int_equal(t->deadline_kind, FSM_DL_NONE);
        break;
    }
    if (t->deadline_kind == FSM_DL_NONE)
        assert_true(t->deadline_ms == 0);
}

static void test_every_state_every_event(void **state)
{
    (void)state;
    int applied = 0, ignored = 0;
    for (int f = 0; f < F_COUNT; f++) {
        for (int e = 0; e < E_COUNT; e++) {
            fsm_task in = fixture(f);
            fsm_event ev = event(e);
            int64_t now = now_for(&in, e);
            fsm_result r;
            memset(&r, 0xAB, sizeof r);
            fsm_apply(&in, &P2, &ev, now, &r);
            const outcome *want = &table[f][e];
            if (r.note != want->note)
                print_error("fixture %d event %d: note %s, want %s\n", f, e, fsm_note_name(r.note),
                            fsm_note_name(want->note));
            assert_int_equal(r.note, want->note);
            if (want->note == FSM_NOTE_APPLIED) {
                applied++;
                assert_int_equal(r.changed, 1);
                assert_int_equal(r.task.state, want->state);
                assert_int_equal(r.finished, fsm_state_is_final(want->state));
                check_invariants(&r.task, &P2);
            } else {
                ignored++;
                assert_int_equal(r.changed, 0);
                assert_int_equal(r.finished, 0);
                assert_int_equal(r.rearm, 0);
                assert_true(same_task(&r.task, &in));
            }
        }
    }
    assert_int_equal(applied + ignored, F_COUNT * E_COUNT);
}

/* The reason and deadline of each applied transition of the table. */
static void test_table_details(void **state)
{
    (void)state;
    fsm_result r;
    fsm_task t = fixture(F_PUSHED);
    fsm_event ev = event(E_ACKTO);
    fsm_apply(&t, &P2, &ev, T0 + ACK_MS, &r);
    assert_int_equal(r.task.reason, FSM_REASON_PUSH_TIMEOUT);
    assert_int_equal(r.task.deadline_kind, FSM_DL_RETRY);
    assert_true(r.task.deadline_ms == T0 + ACK_MS + INTERVAL_MS);
    assert_int_equal(r.rearm, 1);
    assert_int_equal(r.task.retried, 0); /* counted when the retry push is sent */

    t = fixture(F_UPGRADING);
    ev = event(E_UPTO);
    int64_t now = t.deadline_ms + 5; /* a timer that fires late still applies */
    fsm_apply(&t, &P2, &ev, now, &r);
    assert_int_equal(r.task.state, FSM_TO_RETRY);
    assert_int_equal(r.task.reason, FSM_REASON_UPGRADE_TIMEOUT);
    assert_true(r.task.deadline_ms == now + INTERVAL_MS);
    assert_int_equal(r.task.progress, 40); /* progress where it failed is kept */

    t = fixture(F_TO_RETRY);
    ev = event(E_RETRY);
    fsm_apply(&t, &P2, &ev, t.deadline_ms, &r);
    assert_int_equal(r.task.state, FSM_TO_PUSH);
    assert_int_equal(r.task.reason, FSM_REASON_PUSH_TIMEOUT); /* last failure kept */
    assert_int_equal(r.task.deadline_kind, FSM_DL_NONE);
    assert_int_equal(r.rearm, 1);

    t = fixture(F_TO_PUSH_AGAIN);
    ev = event(E_PUSH);
    fsm_apply(&t, &P2, &ev, T0 + 99000, &r);
    assert_int_equal(r.task.attempt, 2);
    assert_int_equal(r.task.retried, 1);
    assert_int_equal(r.task.progress, 0);
    assert_string_equal(r.task.push_msg_id, "m2");
    assert_true(r.task.pushed_ms == T0 + 99000);
    assert_true(r.task.deadline_ms == T0 + 99000 + ACK_MS);
    assert_int_equal(r.task.reason, FSM_REASON_DOWNLOAD_FAILED);

    for (int f = F_TO_PUSH; f <= F_TO_RETRY; f++) {
        t = fixture(f);
        ev = event(E_TERM);
        fsm_apply(&t, &P2, &ev, T0 + 7, &r);
        assert_int_equal(r.task.state, FSM_FAILED);
        assert_int_equal(r.task.reason, FSM_REASON_TERMINATED);
        assert_true(r.task.finished_ms == T0 + 7);
        assert_int_equal(r.finished, 1);

        t = fixture(f);
        ev = event(E_VER_TARGET);
        fsm_apply(&t, &P2, &ev, T0 + 8, &r);
        assert_int_equal(r.task.state, FSM_SUCCEEDED);
        assert_int_equal(r.task.reason, FSM_REASON_NONE);
        assert_int_equal(r.task.progress, 100);
        assert_true(r.task.finished_ms == T0 + 8);
        assert_int_equal(r.finished, 1);
    }
}

/* With no retry left every failure is final, with its reason. */
static void test_failures_without_retries(void **state)
{
    (void)state;
    const fsm_params p0 = {ACK_MS, TIMEOUT_MS, 0, 0, "2.0", 0};
    struct {
        int f, e;
        fsm_reason reason;
    } cases[] = {
        {F_PUSHED, E_ACKTO, FSM_REASON_PUSH_TIMEOUT},
        {F_PUSHED, E_PROG_FAIL, FSM_REASON_DOWNLOAD_FAILED},
        {F_TO_UPGRADE, E_PROG_FAIL, FSM_REASON_DOWNLOAD_FAILED},
        {F_UPGRADING, E_PROG_FAIL, FSM_REASON_DOWNLOAD_FAILED},
        {F_UPGRADING, E_UPTO, FSM_REASON_UPGRADE_TIMEOUT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fsm_task t = fixture(cases[i].f);
        fsm_event ev = event(cases[i].e);
        fsm_result r;
        fsm_apply(&t, &p0, &ev, now_for(&t, cases[i].e), &r);
        assert_int_equal(r.note, FSM_NOTE_APPLIED);
        assert_int_equal(r.task.state, FSM_FAILED);
        assert_int_equal(r.task.reason, cases[i].reason);
        assert_int_equal(r.finished, 1);
        check_invariants(&r.task, &p0);
    }
}

static void test_step_reasons(void **state)
{
    (void)state;
    const fsm_reason want[] = {FSM_REASON_UNKNOWN, FSM_REASON_DOWNLOAD_FAILED,
                               FSM_REASON_VERIFY_FAILED, FSM_REASON_FLASH_FAILED};
    for (int s = -1; s >= -4; s--) {
        assert_int_equal(fsm_reason_from_step(s), want[-s - 1]);
        fsm_task t = fixture(F_UPGRADING);
        fsm_event ev = {.kind = FSM_EV_PROGRESS, .step = s};
        fsm_result r;
        fsm_apply(&t, &P2, &ev, T0 + 2000, &r);
        assert_int_equal(r.task.state, FSM_TO_RETRY);
        assert_int_equal(r.task.reason, want[-s - 1]);
    }
    assert_int_equal(fsm_reason_from_step(0), FSM_REASON_NONE);
    assert_int_equal(fsm_reason_from_step(-5), FSM_REASON_NONE);
    assert_int_equal(fsm_reason_from_step(50), FSM_REASON_NONE);
    /* out-of-range steps are invalid in every state that would take progress */
    const int bad[] = {0, -5, 101, -100, 1000};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fsm_task t = fixture(F_UPGRADING);
        fsm_event ev = {.kind = FSM_EV_PROGRESS, .step = bad[i]};
        fsm_result r;
        fsm_apply(&t, &P2, &ev, T0 + 2000, &r);
        assert_int_equal(r.note, FSM_NOTE_INVALID);
    }
}

/* Helpers for scenarios: apply and insist on the outcome. */
static fsm_result step(fsm_task *t, const fsm_params *p, fsm_event ev, int64_t now, fsm_note want)
{
    fsm_result r;
    fsm_apply(t, p, &ev, now, &r);
    if (r.note != want)
        print_error("event %s in %s: note %s, want %s\n", fsm_event_name(ev.kind),
                    fsm_state_name(t->state), fsm_note_name(r.note), fsm_note_name(want));
    assert_int_equal(r.note, want);
    check_invariants(&r.task, p);
    *t = r.task;
    return r;
}

static fsm_event push(const char *id)
{
    return (fsm_event){.kind = FSM_EV_PUSH_SENT, .msg_id = id};
}
static fsm_event ack(const char *id, int code)
{
    return (fsm_event){.kind = FSM_EV_ACK, .msg_id = id, .code = code};
}
static fsm_event prog(int s)
{
    return (fsm_event){.kind = FSM_EV_PROGRESS, .step = s};
}
static fsm_event ver(const char *v)
{
    return (fsm_event){.kind = FSM_EV_VERSION, .version = v};
}
static fsm_event tev(fsm_event_kind k)
{
    return (fsm_event){.kind = k};
}

static void test_happy_path(void **state)
{
    (void)state;
    fsm_task t;
    fsm_task_init(&t);
    fsm_result r = step(&t, &P2, push("a1"), T0, FSM_NOTE_APPLIED);
    assert_int_equal(r.rearm, 1);
    assert_int_equal(t.deadline_kind, FSM_DL_ACK);
    assert_true(t.deadline_ms == T0 + ACK_MS);
    r = step(&t, &P2, ack("a1", 200), T0 + 300, FSM_NOTE_APPLIED);
    assert_int_equal(t.state, FSM_TO_UPGRADE);
    assert_int_equal(r.rearm, 1);
    assert_int_equal(t.deadline_kind, FSM_DL_NONE);
    step(&t, &P2, ack("a1", 200), T0 + 400, FSM_NOTE_DUPLICATE);
    r = step(&t, &P2, prog(1), T0 + 1000, FSM_NOTE_APPLIED);
    assert_int_equal(t.state, FSM_UPGRADING);
    assert_true(t.started_ms == T0 + 1000);
    assert_true(t.deadline_ms == T0 + 1000 + TIMEOUT_MS);
    r = step(&t, &P2, prog(50), T0 + 5000, FSM_NOTE_APPLIED);
    assert_int_equal(r.rearm, 0); /* later progress does not move the upgrade deadline */
    assert_true(t.deadline_ms == T0 + 1000 + TIMEOUT_MS);
    step(&t, &P2, prog(50), T0 + 5001, FSM_NOTE_DUPLICATE);
    step(&t, &P2, prog(100), T0 + 9000, FSM_NOTE_APPLIED);
    assert_int_equal(t.state, FSM_UPGRADING); /* 100 alone does not succeed */
    assert_int_equal(t.progress, 100);
    step(&t, &P2, ver("1.0"), T0 + 9500, FSM_NOTE_VERSION_OTHER); /* the old one, at reboot */
    r = step(&t, &P2, ver("2.0"), T0 + 10000, FSM_NOTE_APPLIED);
    assert_int_equal(t.state, FSM_SUCCEEDED);
    assert_int_equal(r.finished, 1);
    assert_true(t.finished_ms == T0 + 10000);
    assert_int_equal(t.retried, 0);
    /* everything afterwards is ignored */
    step(&t, &P2, ver("2.0"), T0 + 20000, FSM_NOTE_FINISHED);
    step(&t, &P2, prog(-1), T0 + 20000, FSM_NOTE_FINISHED);
    step(&t, &P2, tev(FSM_EV_TERMINATE), T0 + 20000, FSM_NOTE_FINISHED);
    step(&t, &P2, tev(FSM_EV_UPGRADE_TIMEOUT), T0 + 1000 + TIMEOUT_MS, FSM_NOTE_FINISHED);
}

/* retryTimes 2: three pushes at most; retried shows retry pushes sent. */
static void test_retries_counted_on_push(void **state)
{
    (void)state;
    fsm_task t;
    fsm_task_init(&t);
    int64_t now = T0;
    step(&t, &P2, push("p1"), now, FSM_NOTE_APPLIED);
    now += ACK_MS;
    step(&t, &P2, tev(FSM_EV_ACK_TIMEOUT), now, FSM_NOTE_APPLIED);
    assert_int_equal(t.state, FSM_TO_RETRY);
    assert_int_equal(t.retried, 0);
    step(&t, &P2, ack("p1", 200), now + 1, FSM_NOTE_LATE); /* ack after the timeout */
    step(&t, &P2, tev(FSM_EV_RETRY_DUE), now + INTERVAL_MS - 1, FSM_NOTE_TIMER_STALE);
    now += INTERVAL_MS;
    step(&t, &P2, tev(FSM_EV_RETRY_DUE), now, FSM_NOTE_APPLIED);
    assert_int_equal(t.state, FSM_TO_PUSH);
    assert_int_equal(t.retried, 0);
    step(&t, &P2, ack("p1", 200), now + 1, FSM_NOTE_LATE);
    step(&t, &P2, prog(10), now + 1, FSM_NOTE_LATE);
    now += 5000; /* the device was offline a while */
    step(&t, &P2, push("p2"), now, FSM_NOTE_APPLIED);
    assert_int_equal(t.retried, 1);
    assert_int_equal(t.attempt, 2);
    step(&t, &P2, ack("p1", 200), now + 10, FSM_NOTE_STALE_MSGID); /* the first push's ack */
    step(&t, &P2, ack("p2", 200), now + 20, FSM_NOTE_APPLIED);
    step(&t, &P2, prog(5), now + 30, FSM_NOTE_APPLIED);
    step(&t, &P2, prog(-3), now + 40, FSM_NOTE_APPLIED);
    assert_int_equal(t.state, FSM_TO_RETRY);
    assert_int_equal(t.reason, FSM_REASON_VERIFY_FAILED);
    assert_int_equal(t.retried, 1);
    now += 40 + INTERVAL_MS;
    step(&t, &P2, tev(FSM_EV_RETRY_DUE), now, FSM_NOTE_APPLIED);
    step(&t, &P2, push("p3"), now, FSM_NOTE_APPLIED);
    assert_int_equal(t.retried, 2);
    assert_int_equal(t.attempt, 3);
    /* a progress report in pushed implies the ack */
    step(&t, &P2, prog(20), now + 100, FSM_NOTE_APPLIED);
    assert_int_equal(t.state, FSM_UPGRADING);
    assert_true(t.deadline_ms == now + 100 + TIMEOUT_MS);
    step(&t, &P2, ack("p3", 200), now + 200, FSM_NOTE_DUPLICATE); /* the late ack */
    fsm_result r = step(&t, &P2, prog(-4), now + 300, FSM_NOTE_APPLIED);
    assert_int_equal(t.state, FSM_FAILED);
    assert_int_equal(t.reason, FSM_REASON_FLASH_FAILED);
    assert_int_equal(t.retried, 2); /* shows 2/2 */
    assert_int_equal(r.finished, 1);
    step(&t, &P2, ver("2.0"), now + 400, FSM_NOTE_FINISHED); /* failed stays failed */
}

/* A timer left in the heap from an earlier attempt must not fire on a later one. */
static void test_stale_timers(void **state)
{
    (void)state;
    const fsm_params p = {ACK_MS, 1000, 10, 3, "2.0", 0};
    fsm_task t;
    fsm_task_init(&t);
    step(&t, &p, push("x1"), T0, FSM_NOTE_APPLIED);
    step(&t, &p, prog(10), T0 + 100, FSM_NOTE_APPLIED); /* upgrade deadline T0+1100 */
    step(&t, &p, tev(FSM_EV_ACK_TIMEOUT), T0 + ACK_MS, FSM_NOTE_TIMER_STALE);
    step(&t, &p, prog(-2), T0 + 200, FSM_NOTE_APPLIED);
    step(&t, &p, tev(FSM_EV_UPGRADE_TIMEOUT), T0 + 1100, FSM_NOTE_TIMER_STALE);
    step(&t, &p, tev(FSM_EV_RETRY_DUE), T0 + 210, FSM_NOTE_APPLIED);
    step(&t, &p, push("x2"), T0 + 300, FSM_NOTE_APPLIED);
    step(&t, &p, prog(10), T0 + 400, FSM_NOTE_APPLIED); /* upgrade deadline T0+1400 */
    /* the first attempt's upgrade timer fires at T0+1100: too early for this attempt */
    step(&t, &p, tev(FSM_EV_UPGRADE_TIMEOUT), T0 + 1100, FSM_NOTE_TIMER_STALE);
    step(&t, &p, tev(FSM_EV_UPGRADE_TIMEOUT), T0 + 1400, FSM_NOTE_APPLIED);
    assert_int_equal(t.reason, FSM_REASON_UPGRADE_TIMEOUT);
    /* the first attempt's ack timer (T0+10000) fires while to_retry: stale */
    step(&t, &p, tev(FSM_EV_ACK_TIMEOUT), T0 + ACK_MS, FSM_NOTE_TIMER_STALE);
}

/* A server restart: timers that passed while it was down fire late and still apply. */
static void test_overdue_timers_after_restart(void **state)
{
    (void)state;
    fsm_task t = fixture(F_PUSHED);
    fsm_result r;
    fsm_event ev = tev(FSM_EV_ACK_TIMEOUT);
    fsm_apply(&t, &P2, &ev, T0 + 3600000, &r);
    assert_int_equal(r.task.state, FSM_TO_RETRY);
    assert_true(r.task.deadline_ms == T0 + 3600000 + INTERVAL_MS);
}

static void test_version_succeeds_from_every_unfinished_state(void **state)
{
    (void)state;
    for (int f = F_TO_PUSH; f <= F_TO_RETRY; f++) {
        fsm_task t = fixture(f);
        fsm_result r = step(&t, &P2, ver("2.0"), T0 + 50, FSM_NOTE_APPLIED);
        assert_int_equal(r.finished, 1);
        assert_int_equal(r.rearm, fixture(f).deadline_kind != FSM_DL_NONE);
        t = fixture(f);
        step(&t, &P2, ver("2.0.1"), T0 + 50, FSM_NOTE_VERSION_OTHER);
        step(&t, &P2, ver("2.0 "), T0 + 50, FSM_NOTE_VERSION_OTHER);
        step(&t, &P2, ver(""), T0 + 50, FSM_NOTE_VERSION_OTHER);
    }
    fsm_task t = fixture(F_PUSHED);
    fsm_event ev = {.kind = FSM_EV_VERSION, .version = NULL};
    fsm_result r;
    fsm_apply(&t, &P2, &ev, T0, &r);
    assert_int_equal(r.note, FSM_NOTE_INVALID);
    const fsm_params nover = {ACK_MS, TIMEOUT_MS, INTERVAL_MS, 2, NULL, 0};
    step(&t, &nover, ver("2.0"), T0, FSM_NOTE_VERSION_OTHER);
}

static void test_ack_details(void **state)
{
    (void)state;
    fsm_task t = fixture(F_PUSHED);
    step(&t, &P2, ack("m1", 404), T0 + 1, FSM_NOTE_REFUSED);
    step(&t, &P2, ack("M1", 200), T0 + 1, FSM_NOTE_STALE_MSGID); /* case matters */
    step(&t, &P2, ack("m1x", 200), T0 + 1, FSM_NOTE_STALE_MSGID);
    step(&t, &P2, ack("", 200), T0 + 1, FSM_NOTE_STALE_MSGID);
    fsm_event ev = {.kind = FSM_EV_ACK, .msg_id = NULL, .code = 200};
    fsm_result r;
    fsm_apply(&t, &P2, &ev, T0, &r);
    assert_int_equal(r.note, FSM_NOTE_INVALID);
    step(&t, &P2, ack("m1", 200), T0 + ACK_MS - 1, FSM_NOTE_APPLIED); /* just in time */
    /* an ack racing its timeout: whichever is applied first wins */
    t = fixture(F_PUSHED);
    step(&t, &P2, tev(FSM_EV_ACK_TIMEOUT), T0 + ACK_MS, FSM_NOTE_APPLIED);
    step(&t, &P2, ack("m1", 200), T0 + ACK_MS, FSM_NOTE_LATE);
}

static void test_push_details(void **state)
{
    (void)state;
    char id64[65], id65[66];
    memset(id64, 'a', 64);
    id64[64] = '\0';
    memset(id65, 'b', 65);
    id65[65] = '\0';
    fsm_task t;
    fsm_task_init(&t);
    step(&t, &P2, push(id65), T0, FSM_NOTE_INVALID);
    fsm_event ev = {.kind = FSM_EV_PUSH_SENT, .msg_id = NULL};
    fsm_result r;
    fsm_apply(&t, &P2, &ev, T0, &r);
    assert_int_equal(r.note, FSM_NOTE_INVALID);
    step(&t, &P2, push(id64), T0, FSM_NOTE_APPLIED);
    assert_string_equal(t.push_msg_id, id64);
    step(&t, &P2, ack(id64, 200), T0 + 1, FSM_NOTE_APPLIED);
    /* ack timeout: 0 means the default 10 s; a time scale shortens it */
    const fsm_params p0 = {0, TIMEOUT_MS, INTERVAL_MS, 0, "2.0", 0};
    fsm_task_init(&t);
    step(&t, &p0, push("q"), T0, FSM_NOTE_APPLIED);
    assert_true(t.deadline_ms == T0 + FSM_ACK_TIMEOUT_DEFAULT_MS);
    const fsm_params scaled = {100, 6000, 600, 0, "2.0", 0};
    fsm_task_init(&t);
    step(&t, &scaled, push("q"), T0, FSM_NOTE_APPLIED);
    assert_true(t.deadline_ms == T0 + 100);
}

static void test_unknown_event_kind(void **state)
{
    (void)state;
    fsm_task t = fixture(F_PUSHED);
    fsm_event ev = {.kind = (fsm_event_kind)99};
    fsm_result r;
    fsm_apply(&t, &P2, &ev, T0, &r);
    assert_int_equal(r.note, FSM_NOTE_INVALID);
    assert_int_equal(r.changed, 0);
}

static void test_in_place(void **state)
{
    (void)state;
    fsm_result r;
    fsm_task_init(&r.task);
    fsm_event ev = push("inplace");
    fsm_apply(&r.task, &P2, &ev, T0, &r);
    assert_int_equal(r.task.state, FSM_PUSHED);
    assert_int_equal(r.rearm, 1);
    assert_string_equal(r.task.push_msg_id, "inplace");
}

/* confirmMinutes: a success waits for its confirmation; another version meanwhile rolls it
 * back (succeeded -> failed, rolled_back); the deadline makes it final. */
static void test_confirmation(void **state)
{
    (void)state;
    const fsm_params pc = {ACK_MS, TIMEOUT_MS, INTERVAL_MS, 0, "2.0", 60000};
    fsm_task t;
    fsm_result r;
    fsm_task_init(&t);
    t.state = FSM_UPGRADING;
    fsm_event v = {.kind = FSM_EV_VERSION, .version = "2.0"};
    fsm_apply(&t, &pc, &v, 1000, &r);
    assert_int_equal(r.task.state, FSM_SUCCEEDED);
    assert_int_equal(r.task.deadline_kind, FSM_DL_CONFIRM);
    assert_true(r.task.deadline_ms == 61000);
    assert_int_equal(r.finished, 1);
    assert_int_equal(r.rearm, 1);
    fsm_task ok = r.task;
    /* the same version again, progress, a confirm not due yet: nothing */
    fsm_apply(&ok, &pc, &v, 2000, &r);
    assert_int_equal(r.changed, 0);
    fsm_event due = {.kind = FSM_EV_CONFIRM_DUE};
    fsm_apply(&ok, &pc, &due, 60999, &r);
    assert_int_equal(r.changed, 0);
    /* another version inside the window: rolled back */
    fsm_event old = {.kind = FSM_EV_VERSION, .version = "1.0"};
    fsm_apply(&ok, &pc, &old, 30000, &r);
    assert_int_equal(r.changed, 1);
    assert_int_equal(r.rolled_back, 1);
    assert_int_equal(r.finished, 0);
    assert_int_equal(r.task.state, FSM_FAILED);
    assert_int_equal(r.task.reason, FSM_REASON_ROLLED_BACK);
    assert_int_equal(r.task.deadline_kind, FSM_DL_NONE);
    /* confirmed: final, and a later other version changes nothing */
    fsm_apply(&ok, &pc, &due, 61000, &r);
    assert_int_equal(r.changed, 1);
    assert_int_equal(r.finished, 0);
    assert_int_equal(r.task.state, FSM_SUCCEEDED);
    assert_int_equal(r.task.deadline_kind, FSM_DL_NONE);
    fsm_task fin = r.task;
    fsm_apply(&fin, &pc, &old, 62000, &r);
    assert_int_equal(r.changed, 0);
    assert_int_equal(r.note, FSM_NOTE_FINISHED);
    /* without confirmMinutes a success is final at once */
    fsm_apply(&t, &P2, &v, 1000, &r);
    assert_int_equal(r.task.deadline_kind, FSM_DL_NONE);
    fsm_task now_final = r.task;
    fsm_apply(&now_final, &P2, &old, 2000, &r);
    assert_int_equal(r.changed, 0);
}

static void test_names(void **state)
{
    (void)state;
    const char *states[] = {"to_push",  "pushed",    "to_upgrade", "upgrading",
                            "to_retry", "succeeded", "failed"};
    for (int i = 0; i < FSM_STATE_COUNT; i++) {
        fsm_state s;
        assert_string_equal(fsm_state_name((fsm_state)i), states[i]);
        assert_int_equal(fsm_state_from_name(states[i], &s), 0);
        assert_int_equal(s, i);
    }
    const char *reasons[] = {"none",         "push_timeout",    "download_failed", "verify_failed",
                             "flash_failed", "upgrade_timeout", "terminated",      "unknown",
                             "rolled_back"};
    _Static_assert(sizeof reasons / sizeof reasons[0] == FSM_REASON_COUNT, "every reason");
    for (int i = 0; i < FSM_REASON_COUNT; i++) {
        fsm_reason x;
        assert_string_equal(fsm_reason_name((fsm_reason)i), reasons[i]);
        assert_int_equal(fsm_reason_from_name(reasons[i], &x), 0);
        assert_int_equal(x, i);
    }
    fsm_state s;
    fsm_reason x;
    assert_int_equal(fsm_state_from_name("Pushed", &s), -1);
    assert_int_equal(fsm_state_from_name("", &s), -1);
    assert_int_equal(fsm_state_from_name(NULL, &s), -1);
    assert_int_equal(fsm_reason_from_name("timeout", &x), -1);
    assert_int_equal(fsm_reason_from_name(NULL, &x), -1);
    assert_string_equal(fsm_state_name((fsm_state)42), "?");
    assert_string_equal(fsm_reason_name((fsm_reason)-1), "?");
    for (int i = 0; i < FSM_EV_COUNT; i++)
        assert_string_not_equal(fsm_event_name((fsm_event_kind)i), "?");
    for (int i = 0; i < FSM_NOTE_COUNT; i++)
        assert_string_not_equal(fsm_note_name((fsm_note)i), "?");
    assert_string_equal(fsm_event_name(FSM_EV_COUNT), "?");
    assert_string_equal(fsm_note_name(FSM_NOTE_COUNT), "?");
    assert_string_equal(fsm_deadline_name(FSM_DL_RETRY), "retry");
    assert_string_equal(fsm_deadline_name((fsm_deadline)9), "?");
    assert_int_equal(fsm_state_is_final(FSM_SUCCEEDED), 1);
    assert_int_equal(fsm_state_is_final(FSM_FAILED), 1);
    assert_int_equal(fsm_state_is_final(FSM_TO_RETRY), 0);
    const char *batch_states[] = {"in_progress", "completed", "terminated",
                                  "scheduled",   "paused",    "aborted"};
    _Static_assert(sizeof batch_states / sizeof batch_states[0] == FSM_BATCH_STATE_COUNT,
                   "every batch state");
    for (int i = 0; i < FSM_BATCH_STATE_COUNT; i++) {
        fsm_batch_state b;
        assert_string_equal(fsm_batch_state_name((fsm_batch_state)i), batch_states[i]);
        assert_int_equal(fsm_batch_state_from_name(batch_states[i], &b), 0);
        assert_int_equal(b, i);
        assert_int_equal(fsm_batch_state_is_running(b), b == FSM_BATCH_IN_PROGRESS ||
                                                            b == FSM_BATCH_SCHEDULED ||
                                                            b == FSM_BATCH_PAUSED);
        assert_int_equal(fsm_batch_state_is_pushing(b), b == FSM_BATCH_IN_PROGRESS);
    }
    fsm_batch_state b;
    assert_int_equal(fsm_batch_state_from_name("running", &b), -1);
    assert_int_equal(fsm_batch_state_from_name(NULL, &b), -1);
    const char *deadlines[] = {"none", "ack", "upgrade", "retry", "confirm"};
    for (int i = 0; i < FSM_DL_COUNT; i++)
        assert_int_equal(fsm_deadline_from_name(deadlines[i]), i);
    assert_int_equal(fsm_deadline_from_name("later"), FSM_DL_NONE);
    assert_int_equal(fsm_deadline_from_name(NULL), FSM_DL_NONE);
}

/* Counters kept by transition equal counting the tasks, over a random walk of a batch. */
static void test_counts_by_transition(void **state)
{
    (void)state;
    int d[FSM_STATE_COUNT] = {0};
    fsm_counts_delta(FSM_PUSHED, FSM_PUSHED, d);
    for (int i = 0; i < FSM_STATE_COUNT; i++)
        assert_int_equal(d[i], 0);
    fsm_counts_delta(FSM_UPGRADING, FSM_SUCCEEDED, d);
    assert_int_equal(d[FSM_UPGRADING], -1);
    assert_int_equal(d[FSM_SUCCEEDED], 1);
    fsm_counts_delta((fsm_state)77, FSM_SUCCEEDED, d); /* ignored */
    assert_int_equal(d[FSM_SUCCEEDED], 1);

    enum { N = 64 };
    fsm_task tasks[N];
    int64_t counts[FSM_STATE_COUNT] = {0};
    for (int i = 0; i < N; i++)
        fsm_task_init(&tasks[i]);
    counts[FSM_TO_PUSH] = N;
    unsigned seed = 12345;
    int64_t now = T0;
    char id[16];
    for (int round = 0; round < 20000; round++) {
        seed = seed * 1103515245u + 12345u;
        int i = (int)((seed >> 8) % N);
        int e = (int)((seed >> 16) % E_COUNT);
        fsm_event ev = event(e);
        if (e == E_PUSH) {
            id[0] = 'p';
            id[1] = (char)('a' + round % 26);
            id[2] = '\0';
            ev.msg_id = id;
        }
        if (e == E_ACK || e == E_ACK_500)
            ev.msg_id = tasks[i].push_msg_id;
        now += (seed >> 20) % 5000;
        int64_t at = is_early(e) ? now : (tasks[i].deadline_ms > now ? tasks[i].deadline_ms : now);
        if (e == E_TERM && (seed & 0x700000u) != 0)
            continue; /* terminate rarely */
        fsm_result r;
        fsm_apply(&tasks[i], &P2, &ev, at, &r);
        if (r.changed) {
            int delta[FSM_STATE_COUNT] = {0};
            fsm_counts_delta(tasks[i].state, r.task.state, delta);
            for (int s = 0; s < FSM_STATE_COUNT; s++)
                counts[s] += delta[s];
            check_invariants(&r.task, &P2);
        }
        tasks[i] = r.task;
    }
    int64_t recount[FSM_STATE_COUNT] = {0};
    for (int i = 0; i < N; i++)
        recount[tasks[i].state]++;
    for (int s = 0; s < FSM_STATE_COUNT; s++)
        assert_true(recount[s] == counts[s]);
    int64_t all[FSM_STATE_COUNT] = {0};
    all[FSM_SUCCEEDED] = 3;
    all[FSM_FAILED] = 2;
    assert_int_equal(fsm_batch_complete(all, 5), 1);
    all[FSM_FAILED] = 1;
    all[FSM_TO_RETRY] = 1;
    assert_int_equal(fsm_batch_complete(all, 5), 0);
    int64_t none[FSM_STATE_COUNT] = {0};
    assert_int_equal(fsm_batch_complete(none, 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_state_every_event),
        cmocka_unit_test(test_table_details),
        cmocka_unit_test(test_failures_without_retries),
        cmocka_unit_test(test_step_reasons),
        cmocka_unit_test(test_happy_path),
        cmocka_unit_test(test_retries_counted_on_push),
        cmocka_unit_test(test_stale_timers),
        cmocka_unit_test(test_overdue_timers_after_restart),
        cmocka_unit_test(test_version_succeeds_from_every_unfinished_state),
        cmocka_unit_test(test_ack_details),
        cmocka_unit_test(test_push_details),
        cmocka_unit_test(test_unknown_event_kind),
        cmocka_unit_test(test_in_place),
        cmocka_unit_test(test_confirmation),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_counts_by_transition),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
