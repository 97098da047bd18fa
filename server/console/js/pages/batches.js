// Batch list (批次查看): id, start, end, total, succeeded, failed, state; actions terminate
// (with confirmation) and view. Filtered by firmware when reached from the firmware list.

import { t, fmtTime, fmtNum } from '../i18n.js';
import { get, post } from '../api.js';
import { el, clear, table, pager, errorBox, errorText, toast, confirmDialog, badge } from '../ui.js';

export const BATCH_STATES = ['in_progress', 'scheduled', 'paused', 'completed', 'terminated', 'aborted'];
export const RUNNING_STATES = ['in_progress', 'scheduled', 'paused'];
export const stateBadge = (s) => badge(t(`bs_${s}`), { in_progress: 'info', completed: 'ok', terminated: 'warn', paused: 'warn', aborted: 'bad' }[s] || 'muted');

// POST /batches/{id}/pause or /resume; a 409 means the state changed under us (refresh).
export async function pauseResume(batchId, action) {
  try {
    await post(`/batches/${encodeURIComponent(batchId)}/${action}`, {});
    toast(t(action === 'pause' ? 'pausedToast' : 'resumedToast'), 'success');
  } catch (e) {
    toast(e.status === 409 ? t('stateChanged') : errorText(e), 'error');
  }
}

export async function terminateBatch(batchId) {
  const ok = await confirmDialog(t('terminateTitle'), t('terminateConfirm', { id: batchId }), t('terminate'), true);
  if (!ok) return false;
  try {
    await post(`/batches/${encodeURIComponent(batchId)}/terminate`, {});
    toast(t('terminated'), 'success');
    return true;
  } catch (e) {
    toast(e.status === 409 ? t('notInProgress') : errorText(e), 'error');
    return true; // the state changed under us: refresh anyway
  }
}

export function renderBatches(main, ctx) {
  const page = Number(ctx.query.page) || 1;
  const fwId = ctx.query.firmwareId || '';
  const state = ctx.query.state || '';
  const go = (p, s) => {
    const u = new URLSearchParams();
    if (fwId) u.set('firmwareId', fwId);
    if (s) u.set('state', s);
    if (p > 1) u.set('page', p);
    ctx.navigate(`#/batches${u.toString() ? `?${u}` : ''}`);
  };
  const head = el('h1', t('batchesTitle'));
  ctx.setTitle(t('batchesTitle'));
  const list = el('div', el('p.muted', t('loading')));
  const filter = el('select', { id: 'state-filter', on: { change: (e) => go(1, e.target.value) } },
    el('option', { value: '' }, t('allStates')),
    BATCH_STATES.map((s) => el('option', { value: s, selected: s === state }, t(`bs_${s}`))));
  main.append(
    fwId ? el('p.crumbs', el('a', { href: '#/firmwares' }, `‹ ${t('firmwaresTitle')}`)) : null,
    el('div.page-head', head),
    el('div.toolbar', el('label', { for: 'state-filter' }, t('state')), filter,
      el('button.btn.small', { type: 'button', on: { click: () => go(page, state) } }, t('refresh'))),
    list);

  (async () => {
    try {
      if (fwId) {
        const fw = await get(`/firmwares/${encodeURIComponent(fwId)}`).catch(() => null);
        if (fw && ctx.alive()) {
          head.textContent = t('batchesOfFirmware', { name: fw.firmwareName, version: fw.firmwareVersion });
          ctx.setTitle(head.textContent);
        }
      }
      const res = await get('/batches', { page, pageSize: 20, firmwareId: fwId, state });
      if (!ctx.alive()) return;
      const detail = (b) => `#/batches/${encodeURIComponent(b.batchId)}`;
      clear(list).append(
        table([
          { label: t('batchId'), cell: (b) => el('a', { href: detail(b) }, el('code', b.batchId)) },
          { label: t('startTime'), cell: (b) => fmtTime(b.startTime) },
          { label: t('endTime'), cell: (b) => fmtTime(b.endTime) },
          { label: t('total'), cls: 'num', cell: (b) => fmtNum(b.total) },
          { label: t('succeeded'), cls: 'num', cell: (b) => fmtNum(b.succeeded) },
          { label: t('failed'), cls: 'num', cell: (b) => fmtNum(b.failed) },
          { label: t('state'), cell: (b) => stateBadge(b.state) },
          {
            label: t('actions'),
            cls: 'actions',
            cell: (b) => el('div.row-actions',
              RUNNING_STATES.includes(b.state)
                ? el('button.link.danger', { type: 'button', 'data-action': 'terminate', on: { click: async () => { if (await terminateBatch(b.batchId)) go(page, state); } } }, t('terminate'))
                : null,
              el('a.link', { href: detail(b), 'data-action': 'view' }, t('view'))),
          },
        ], res.items || [], { caption: t('batchesTitle'), rowAttrs: (b) => ({ 'data-batch-id': b.batchId }) }),
        pager(res, (p) => go(p, state)));
    } catch (e) {
      if (ctx.alive()) clear(list).append(errorBox(e));
    }
  })();
}
