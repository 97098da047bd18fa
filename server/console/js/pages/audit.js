// Audit log (审计日志, admin): GET /api/v1/audit newest first, one row per change, sign-in
// and refused attempt: time, actor, source address, action, object, result, and a batch's
// parameters. Filters by action and actor; "more" follows the server's cursor. Another role
// sees the server's refusal.

import { t, fmtTime } from '../i18n.js';
import { get } from '../api.js';
import { el, clear, table, errorBox, badge } from '../ui.js';

export function renderAudit(main, ctx) {
  const action = ctx.query.action || '';
  const actor = ctx.query.actor || '';
  ctx.setTitle(t('auditTitle'));
  const list = el('div', el('p.muted', t('loading')));
  const actionIn = el('input', { id: 'audit-action', type: 'search', value: action, placeholder: 'batch.create', spellcheck: false });
  const actorIn = el('input', { id: 'audit-actor', type: 'search', value: actor, spellcheck: false });
  const filter = el('form.toolbar', {
    on: {
      submit: (e) => {
        e.preventDefault();
        const u = new URLSearchParams();
        if (actionIn.value.trim()) u.set('action', actionIn.value.trim());
        if (actorIn.value.trim()) u.set('actor', actorIn.value.trim());
        ctx.navigate(`#/audit${u.toString() ? `?${u}` : ''}`);
      },
    },
  },
  el('label', { for: 'audit-action' }, t('auditAction')), actionIn,
  el('label', { for: 'audit-actor' }, t('auditActor')), actorIn,
  el('button.btn.small', { type: 'submit' }, t('auditFilter')));
  main.append(el('div.page-head', el('h1', t('auditTitle'))), filter, list);

  const rows = [];
  const columns = [
    { label: t('auditTime'), cell: (a) => fmtTime(a.time) },
    { label: t('auditActor'), cell: (a) => a.actor },
    { label: t('auditSource'), cell: (a) => el('code', a.source) },
    { label: t('auditAction'), cell: (a) => el('code', a.action) },
    { label: t('auditObject'), cell: (a) => el('code', a.object) },
    { label: t('auditResult'), cell: (a) => badge(a.result === 'ok' ? t('auditOk') : a.result, a.result === 'ok' ? 'ok' : 'warn') },
    { label: t('auditDetail'), cell: (a) => (a.detail ? el('code.detail', JSON.stringify(a.detail)) : '') },
  ];
  const load = async (cursor) => {
    try {
      const res = await get('/audit', { action, actor, cursor, limit: 50 });
      if (!ctx.alive()) return;
      rows.push(...(res.items || []));
      const more = res.nextCursor
        ? el('div.form-actions', el('button.btn.small', { type: 'button', id: 'audit-more', on: { click: () => load(res.nextCursor) } }, t('auditMore')))
        : null;
      clear(list).append(rows.length
        ? table(columns, rows, { caption: t('auditTitle'), rowAttrs: (a) => ({ 'data-audit-id': a.id }) })
        : el('p.muted', t('auditEmpty')));
      if (more) list.append(more);
    } catch (e) {
      if (ctx.alive()) clear(list).append(errorBox(e));
    }
  };
  load('');
}
