/*
 * store_ddi: what the hawkBit DDI device API (http/routes_ddi.c, docs/ddi.md) reads and
 * writes in the store besides the engine's tasks: one read per poll (the device, its
 * newest task and that batch's state, whether it sent its attributes, the last cancel it
 * acknowledged, its presence and the failure reason its feedback named) and the small
 * writes of configData, cancel feedback and failure reasons, and the batched write of the
 * last polls. Task states only change in the engine (engine_ddi); nothing here touches them.
 *
 * Expected load: one indexed read per poll (the hot path: up to tens of thousands a
 * second), one write per configData, cancel feedback or feedback with error lines, and
 * one statement per 5,000 devices that polled every few seconds (http/routes_ddi.c).
 */
#ifndef OTAD_STORE_DDI_H
#define OTAD_STORE_DDI_H

#include "core/fsm.h"
#include "core/window.h"
#include "store/store.h"

typedef struct {
    int64_t device_id;
    int64_t batch_id;      /* the newest batch the device is in; 0 when none */
    int has_task;          /* batch_id != 0: the fields below are the task's */
    fsm_state state;
    int attempt;           /* pushes sent (core/ddi.h: the current action is batch + attempt) */
    fsm_reason reason;
    int batch_running;     /* the batch is in_progress */
    int has_attributes;    /* the device has sent configData */
    int64_t cancel_acked;  /* the last action whose cancel it acknowledged; 0 = none */
    char windows[WINDOW_TEXT_MAX]; /* the batch's maintenance windows (core/window.h); "" none */
    int online;            /* the device's presence as the store has it */
    int ddi;               /* it polls: its presence comes from polls (store_ddi_polls_put) */
    int64_t hint_action;   /* the action whose error lines named hint_step (0: none) */
    int hint_step;         /* core/ddi.h's failure step (-2, -3, -4) */
} store_ddi_target;

/* The poll's read. OTA_ENOTFOUND when no such device. */
ota_err store_ddi_target_get(store_t *s, const char *product_key, const char *identifier,
                             store_ddi_target *out);
/* Stores the device's attributes (a JSON object text, core/ddi.h bounds it). */
ota_err store_ddi_attributes_put(store_t *s, int64_t device_id, const char *json, int64_t now_ms);
/* The attributes into json (len bytes; "{}" fits), *ms when they came. OTA_ENOTFOUND when
 * the device never sent any (or does not exist). */
ota_err store_ddi_attributes_get(store_t *s, const char *product_key, const char *identifier,
                                 char *json, size_t len, int64_t *ms);
/* The device acknowledged the cancel of action_id. */
ota_err store_ddi_cancel_ack(store_t *s, int64_t device_id, int64_t action_id);
/* The failure reason (step, core/ddi.h) that action_id's error lines named so far, for its
 * close (which may reach another instance, or this one after a restart). */
ota_err store_ddi_hint_put(store_t *s, int64_t device_id, int64_t action_id, int step);
/* The last polls seen by this instance: devices ids[i] polled at ms[i], n of them, written
 * in a few statements (a newer poll another instance wrote is kept). The offline sweep
 * (store_engine_ddi_offline) reads them. */
ota_err store_ddi_polls_put(store_t *s, const int64_t *ids, const int64_t *ms, size_t n);

#endif
