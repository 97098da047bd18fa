/*
 * store_ddi: what the hawkBit DDI device API (http/routes_ddi.c, docs/ddi.md) reads and
 * writes in the store besides the engine's tasks: one read per poll (the device, its
 * newest task and that batch's state, whether it sent its attributes, the last cancel it
 * acknowledged) and the small writes of configData and cancel feedback. Task states only
 * change in the engine (engine_ddi); nothing here touches them.
 *
 * Expected load: one indexed read per poll (the hot path: up to tens of thousands a
 * second), one write per configData or cancel feedback.
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

#endif
