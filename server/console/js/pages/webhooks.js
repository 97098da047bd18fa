// Webhooks (Webhook 通知, admin): the webhooks that tell other systems about batches,
// upgrades and firmware (docs/webhooks.md). The list shows each one's URL, events, grouping
// of device events, state and backlog; a webhook is added in a dialog (URL, secret, events
// as checkboxes or every event, grouping), enabled or disabled, pinged (a test delivery)
// and deleted after a confirmation. #/webhooks/{id} is one webhook's delivery log: every
// attempt with the receiver's status code (or why none came), newest first, "more" by
// the server's cursor. Another role sees the server's refusal.

import { t, fmtTime, fmtNum } from '../i18n.js';
import { get, post, del, request } from '../api.js';
import { el, clear, table, openDialog, dialogForm, field, setFieldError, errorBox, errorText, toast, confirmDialog, badge } from '../ui.js';

/* the subscribable events, server/core/webhook.h's HOOK_EVENTS (ping is not one) */
const EVENTS = ['batch.created', 'batch.completed', 'batch.terminated', 'batch.paused', 'batch.resumed',
  'batch.aborted', 'batch.phase.started', 'device.upgrade.succeeded', 'device.upgrade.failed',
  'firmware.created', 'firmware.deleted'];

const enc = encodeURIComponent;

async function ping(h) {
  try {
    const r = await post(`/webhooks/${enc(h.id)}/ping`, {});
    toast(t('hookPinged', { id: r.deliveryId }), 'success');
  } catch (e) {
    toast(errorText(e), 'error');
  }
}

export function renderWebhooks(main, ctx) {
  ctx.setTitle(t('hooksTitle'));
  const list = el('div', el('p.muted', t('loading')));
  const reload = () => ctx.navigate('#/webhooks');
  main.append(
    el('div.page-head', el('h1', t('hooksTitle')),
      el('div.page-actions',
        el('button.btn.primary', { type: 'button', id: 'add-webhook', on: { click: () => addWebhook(reload) } }, t('addHook')))),
    el('p.muted', t('hooksHelp')), list);

  (async () => {
    try {
      const res = await get('/webhooks');
      if (!ctx.alive()) return;
      clear(list).append(table([
        { label: t('hookUrl'), cell: (h) => el('code', h.url) },
        { label: t('hookEvents'), cell: (h) => (h.events.includes('*') ? t('hookAllEvents') : h.events.join(', ')) },
        { label: t('hookGrouping'), cell: (h) => (h.groupMaxEvents === 1 ? t('hookAlone') : t('hookGroupShort', { n: h.groupMaxEvents, s: h.groupSeconds })) },
        { label: t('state'), cell: (h) => (h.enabled ? badge(t('hookEnabled'), 'ok') : badge(t('hookDisabled'), 'warn')) },
        { label: t('hookBacklog'), cell: (h) => fmtNum(h.backlog || 0) },
        { label: t('createdTime'), cell: (h) => fmtTime(h.createdTime) },
        {
          label: t('actions'), cls: 'actions',
          cell: (h) => [
            el('a.link', { href: `#/webhooks/${enc(h.id)}`, 'data-action': 'log' }, t('hookLog')),
            el('button.link', { type: 'button', 'data-action': 'ping', on: { click: () => ping(h) } }, t('hookPing')),
            el('button.link', { type: 'button', 'data-action': h.enabled ? 'disable' : 'enable', on: { click: async () => {
              try { await request('PATCH', `/webhooks/${enc(h.id)}`, { json: { enabled: !h.enabled } }); } catch (e) { toast(errorText(e), 'error'); }
              reload();
            } } }, h.enabled ? t('disable') : t('enable')),
            el('button.link.danger', { type: 'button', 'data-action': 'delete', on: { click: async () => {
              if (!(await confirmDialog(t('hookDeleteTitle'), t('hookDeleteConfirm', { url: h.url }), t('delete'), true))) return;
              try { await del(`/webhooks/${enc(h.id)}`); toast(t('hookDeleted'), 'success'); } catch (e) { toast(errorText(e), 'error'); }
              reload();
            } } }, t('delete')),
          ],
        },
      ], res.items || [], { caption: t('hooksTitle'), empty: t('noHooks'), rowAttrs: (h) => ({ 'data-webhook-id': h.id }) }));
    } catch (e) {
      if (ctx.alive()) clear(list).append(errorBox(e));
    }
  })();
}

function addWebhook(reload) {
  openDialog({ title: t('addHook'), wide: true }, (close) => {
    const url = el('input', { name: 'url', type: 'url', required: true, maxLength: 2047, autocomplete: 'off', placeholder: 'https://' });
    const secret = el('input', { name: 'secret', type: 'password', required: true, minLength: 16, maxLength: 256, autocomplete: 'new-password' });
    const all = el('input', { type: 'checkbox', name: 'allEvents', id: 'hook-all-events' });
    const boxes = EVENTS.map((ev) => el('input', { type: 'checkbox', name: 'event', value: ev, id: `hook-ev-${ev.replace(/\./g, '-')}` }));
    const maxEv = el('input', { name: 'groupMaxEvents', type: 'number', min: 1, max: 1000, value: 500 });
    const secs = el('input', { name: 'groupSeconds', type: 'number', min: 0, max: 3600, value: 10 });
    all.addEventListener('change', () => { for (const b of boxes) b.disabled = all.checked; });
    for (const c of [all, ...boxes]) c.addEventListener('change', () => setEvErr(''));
    const fUrl = field({ label: t('hookUrl'), input: url, required: true });
    const fSecret = field({ label: t('hookSecret'), input: secret, required: true, help: t('hookSecretHelp') });
    const evErr = el('div.field-error', { id: 'hook-events-err', 'aria-live': 'polite' });
    const fEvents = el('fieldset.field', { 'data-field': 'events', 'aria-describedby': 'hook-events-err' },
      el('legend', t('hookEvents'), el('span.req', { 'aria-hidden': 'true' }, ' *')),
      el('div.group-choices', el('span.choice', all, el('label', { for: all.id }, t('hookAllEvents')))),
      el('div.group-choices', boxes.map((b) => el('span.choice', b, el('label', { for: b.id }, b.value)))),
      evErr);
    const fMax = field({ label: t('hookGroupMax'), input: maxEv, help: t('hookGroupMaxHelp') });
    const fSecs = field({ label: t('hookGroupSeconds'), input: secs, help: t('hookGroupSecondsHelp') });
    const byField = { url: fUrl, secret: fSecret, groupMaxEvents: fMax, groupSeconds: fSecs };
    const setEvErr = (text) => { evErr.textContent = text || ''; fEvents.classList.toggle('invalid', !!text); };
    return dialogForm(close, t('create'), async () => {
      for (const f of Object.values(byField)) setFieldError(f, '');
      setEvErr('');
      const events = all.checked ? ['*'] : boxes.filter((b) => b.checked).map((b) => b.value);
      if (!url.value.trim()) { setFieldError(fUrl, t('required')); url.focus(); return; }
      if (secret.value.length < 16) { setFieldError(fSecret, t('hookSecretHelp')); secret.focus(); return; }
      if (!events.length) { setEvErr(t('hookEventsRequired')); all.focus(); return; }
      const body = { url: url.value.trim(), secret: secret.value, events };
      if (maxEv.value) body.groupMaxEvents = Number(maxEv.value);
      if (secs.value) body.groupSeconds = Number(secs.value);
      try {
        await post('/webhooks', body);
        toast(t('hookCreated'), 'success');
        close(true);
        reload();
      } catch (err) {
        if (err.field === 'events') setEvErr(errorText(err));
        else setFieldError(byField[err.field] || fUrl, errorText(err));
      }
    }, fUrl, fSecret, fEvents, fMax, fSecs);
  });
}

/* #/webhooks/{id}: the delivery log of one webhook */
export function renderWebhookLog(main, ctx) {
  const id = ctx.webhookId;
  ctx.setTitle(t('hookLogTitle'));
  const head = el('div.page-head', el('h1', t('hookLogTitle')));
  const info = el('div');
  const list = el('div', el('p.muted', t('loading')));
  main.append(el('p', el('a', { href: '#/webhooks' }, `‹ ${t('hooksTitle')}`)), head, info, list);

  (async () => {
    try {
      const h = await get(`/webhooks/${enc(id)}`);
      if (!ctx.alive()) return;
      head.append(el('div.page-actions',
        el('button.btn', { type: 'button', id: 'hook-ping', on: { click: async () => { await ping(h); ctx.navigate(`#/webhooks/${enc(id)}`); } } }, t('hookPing'))));
      info.append(el('p', el('code', h.url), ' ', h.enabled ? badge(t('hookEnabled'), 'ok') : badge(t('hookDisabled'), 'warn'),
        ' ', t('hookBacklogN', { n: fmtNum(h.backlog || 0) })));
    } catch (e) {
      if (ctx.alive()) clear(list).append(errorBox(e));
      return;
    }
    const rows = [];
    const columns = [
      { label: t('auditTime'), cell: (a) => fmtTime(a.time) },
      { label: t('hookDelivery'), cell: (a) => el('code', a.deliveryId) },
      { label: t('hookEvents'), cell: (a) => (a.eventCount > 1 ? t('hookEventsN', { n: a.eventCount, names: a.events.join(', ') }) : a.events.join(', ')) },
      { label: t('hookAttempt'), cell: (a) => String(a.attempt) },
      { label: t('hookStatus'), cell: (a) => (a.status == null ? (a.error || '—') : el('code', { 'data-status': a.status }, String(a.status))) },
      { label: t('hookDuration'), cell: (a) => `${fmtNum(a.durationMs)} ms` },
      { label: t('auditResult'), cell: (a) => badge(t(`hookResult_${a.result}`), a.result === 'delivered' ? 'ok' : a.result === 'dead' ? 'bad' : 'warn') },
    ];
    const load = async (cursor) => {
      try {
        const res = await get(`/webhooks/${enc(id)}/deliveries`, { cursor, limit: 50 });
        if (!ctx.alive()) return;
        rows.push(...(res.items || []));
        clear(list).append(table(columns, rows, { caption: t('hookLogTitle'), empty: t('hookNoDeliveries'), rowAttrs: (a) => ({ 'data-attempt-id': a.id }) }));
        if (res.nextCursor) {
          list.append(el('div.form-actions', el('button.btn.small', { type: 'button', id: 'hook-more', on: { click: () => load(res.nextCursor) } }, t('auditMore'))));
        }
      } catch (e) {
        if (ctx.alive()) clear(list).append(errorBox(e));
      }
    };
    load('');
  })();
}
