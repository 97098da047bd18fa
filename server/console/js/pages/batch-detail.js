// Batch detail: the batch's header fields, a bar of devices by upgrade state (`counts`), and the
// device table (state, progress, retries done/max, failure reason) with a state filter and
// paging. While the batch is in_progress it refreshes itself every 2 seconds.

import { t, fmtTime, fmtNum } from '../i18n.js';
import { get } from '../api.js';
import { el, clear, pager, errorBox, badge, table } from '../ui.js';
import { stateBadge, terminateBatch, pauseResume, RUNNING_STATES } from './batches.js';

export const UPGRADE_STATES = ['to_push', 'pushed', 'to_upgrade', 'upgrading', 'to_retry', 'succeeded', 'failed'];
const POLL_MS = 2000;
const PAGE_SIZE = 20;

const stateKind = { succeeded: 'ok', failed: 'bad', upgrading: 'info', to_retry: 'warn' };
const reasonText = (r) => (r ? t(`fr_${r}`) : '');

function countsBar(counts, total) {
  const sum = UPGRADE_STATES.reduce((a, s) => a + (counts[s] || 0), 0) || total || 0;
  const bar = el('div.state-bar', { role: 'img', 'aria-label': UPGRADE_STATES.map((s) => `${t(`us_${s}`)} ${counts[s] || 0}`).join(', ') });
  for (const s of UPGRADE_STATES) {
    const n = counts[s] || 0;
    if (!n || !sum) continue;
    bar.append(el(`span.seg.s-${s}`, { style: { width: `${(n * 100) / sum}%` }, title: `${t(`us_${s}`)}: ${n}` }));
  }
  const legend = el('ul.legend', UPGRADE_STATES.map((s) => el('li', { 'data-state': s },
    el(`span.swatch.s-${s}`, { 'aria-hidden': 'true' }), `${t(`us_${s}`)} `, el('strong', fmtNum(counts[s] || 0)))));
  return el('section.counts', { 'aria-label': t('byState') }, el('h2', t('byState')), bar, legend);
}

function progressCell(d) {
  const p = Math.max(0, Math.min(100, Number(d.progress) || 0));
  return el('div.progress-cell',
    el('progress', { max: 100, value: p, 'aria-label': `${t('progress')} ${d.identifier}` }),
    el('span.pct', `${p}%`));
}

export function renderBatchDetail(main, ctx) {
  const id = ctx.batchId;
  let page = Number(ctx.query.page) || 1;
  let filter = ctx.query.upgradeState || '';
  let timer = null;
  ctx.onLeave(() => clearTimeout(timer));
  ctx.setTitle(`${t('batchDetailTitle')} ${id}`);

  const headBox = el('div', el('p.muted', t('loading')));
  const devBox = el('div');
  const status = el('p.refresh-note.muted', { 'aria-live': 'off' });
  const termBtn = el('button.btn.danger', { type: 'button', id: 'terminate-batch', hidden: true,
    on: { click: async () => { if (await terminateBatch(id)) refresh(); } } }, t('terminate'));
  const pauseBtn = el('button.btn', { type: 'button', id: 'pause-batch', hidden: true,
    on: { click: async () => { await pauseResume(id, 'pause'); refresh(); } } }, t('pause'));
  const resumeBtn = el('button.btn.primary', { type: 'button', id: 'resume-batch', hidden: true,
    on: { click: async () => { await pauseResume(id, 'resume'); refresh(); } } }, t('resume'));
  const stateSel = el('select', { id: 'device-state-filter', on: { change: (e) => { filter = e.target.value; page = 1; refresh(); } } },
    el('option', { value: '' }, t('allStates')),
    UPGRADE_STATES.map((s) => el('option', { value: s, selected: s === filter }, t(`us_${s}`))));
  const backLink = el('a', { href: '#/batches' }, `‹ ${t('batchesTitle')}`);

  main.append(
    el('p.crumbs', backLink),
    el('div.page-head', el('h1', `${t('batchDetailTitle')} `, el('code', id)), el('div.page-actions', pauseBtn, resumeBtn, termBtn)),
    status, headBox,
    el('section.devices',
      el('div.toolbar', el('h2', t('deviceList')), el('label', { for: 'device-state-filter' }, t('filterState')), stateSel),
      devBox));

  // the batch's target (filter, from-versions, continuous), when it has one
  function targetItem(b, item) {
    const parts = [];
    const tags = Object.entries(b.filter?.tags || {}).map(([k, v]) => `${k}=${v}`);
    if (tags.length) parts.push(`${t('filterTags')}: ${tags.join(', ')}`);
    if ((b.filter?.groups || []).length) parts.push(`${t('filterGroups')}: ${b.filter.groups.join(', ')}`);
    if ((b.fromVersions || []).length) parts.push(`${t('fromVersions')}: ${b.fromVersions.join(', ')}`);
    if (b.continuous) parts.push(t('continuous'));
    return parts.length ? item(t('targetTitle'), parts.join(' · '), 'target') : null;
  }

  // why a paused or aborted batch stopped: the operator, a brake (with its figures) or a phase
  function pauseText(w) {
    if (!w) return '';
    if (w.by === 'operator') return t('pausedByOperator', { who: w.actor || '-', time: fmtTime(w.time) });
    if (w.by === 'phase') return t('pausedByPhase', { phase: w.phase, s: fmtNum(w.succeeded), n: fmtNum(w.devices), p: w.minSuccessPercent });
    if (w.by === 'rule') return t('pausedByRule', { rule: w.rule, reason: w.reason === 'any' ? t('brakeAny') : t(`fr_${w.reason}`), f: fmtNum(w.failed), n: fmtNum(w.finished), pct: w.failedPercent, th: w.thresholdPercent });
    return JSON.stringify(w);
  }

  function phasesTable(b) {
    if (!Array.isArray(b.phases)) return null;
    return el('section.phases', { 'aria-label': t('phases') },
      el('h2', t('phases'), b.currentPhase ? el('span.muted', ` · ${t('currentPhase', { n: b.currentPhase })}`) : null),
      table([
        { label: t('phase'), cls: 'num', cell: (p) => String(p.phase) },
        { label: t('devices'), cls: 'num', cell: (p) => fmtNum(p.devices) },
        { label: t('succeededShort'), cls: 'num', cell: (p) => fmtNum(p.succeeded) },
        { label: t('failedShort'), cls: 'num', cell: (p) => fmtNum(p.failed) },
        { label: t('state'), cell: (p) => badge(t(`ps_${p.state}`), { done: 'ok', running: 'info', soaking: 'info' }[p.state] || 'muted') },
      ], b.phases, { caption: t('phases'), rowAttrs: (p) => ({ 'data-phase': p.phase, 'data-state': p.state }) }));
  }

  function header(b) {
    backLink.href = `#/batches?firmwareId=${encodeURIComponent(b.firmwareId)}`;
    const item = (label, value, key) => el('div', { 'data-key': key }, el('dt', label), el('dd', value));
    const policy = b.policy === 'silent' ? t('policySilent') : t('policyStandard');
    return el('div',
      el('dl.facts',
        item(t('batchId'), el('code', b.batchId), 'batchId'),
        item(t('firmwareNameShort'), b.firmwareName || '', 'firmwareName'),
        item(t('firmwareVersion'), el('code', b.firmwareVersion || ''), 'firmwareVersion'),
        item(t('md5'), el('code.md5', b.md5 || ''), 'md5'),
        item(t('upgradeProduct'), b.productName || b.productKey || '', 'productName'),
        item(t('validity'), `${t('daysN', { n: b.validityDays })}${b.expiresTime ? ` (${t('expiresAt', { time: fmtTime(b.expiresTime) })})` : ''}`, 'validity'),
        item(t('startTime'), fmtTime(b.startTime), 'startTime'),
        item(t('endTime'), fmtTime(b.endTime), 'endTime'),
        item(t('state'), stateBadge(b.state), 'state'),
        item(t('policy'), policy, 'policy'),
        item(t('timeout'), `${b.timeoutMinutes} ${t('minutes')}`, 'timeout'),
        item(t('retryTimes'), b.retryTimes ? `${b.retryTimes} · ${t('retryInterval')} ${b.retryIntervalMinutes} ${t('minutes')}` : '0', 'retry'),
        b.maxPushPerMinute ? item(t('pushRate'), t('perMinute', { n: fmtNum(b.maxPushPerMinute) }), 'pushRate') : null,
        b.startAt ? item(t('startAt'), fmtTime(b.startAt), 'startAt') : null,
        (b.rollout?.abort || []).length ? item(t('brakeRules'), el('ul.plain', b.rollout.abort.map((r) => el('li', t('brakeRuleText', {
          reason: r.reason === 'any' ? t('brakeAny') : t(`fr_${r.reason}`), th: r.thresholdPercent, n: fmtNum(r.minFinished ?? 1),
          action: r.action === 'abort' ? t('brakeAbort') : t('brakePause'),
        })))), 'abort') : null,
        (b.windows || []).length ? item(t('windowTitle'), el('ul.plain', b.windows.map((w) => el('li', `${w.start} +${w.durationMinutes} ${t('minutes')} (${w.timeZone})`))), 'windows') : null,
        b.confirmMinutes ? item(t('confirmMinutes'), `${b.confirmMinutes} ${t('minutes')}`, 'confirmMinutes') : null,
        b.pauseReason ? item(t('pauseReason'), pauseText(b.pauseReason), 'pauseReason') : null,
        targetItem(b, item)),
      phasesTable(b),
      el('section.device-info', { 'aria-label': t('deviceInfo') },
        el('h2', t('deviceInfo')),
        el('dl.facts.big',
          item(t('totalShort'), el('strong', fmtNum(b.total)), 'total'),
          item(t('succeededShort'), el('strong.ok-text', fmtNum(b.succeeded)), 'succeeded'),
          item(t('failedShort'), el('strong.bad-text', fmtNum(b.failed)), 'failed'))),
      countsBar(b.counts || {}, b.total));
  }

  function devices(res) {
    return [
      table([
        { label: t('deviceName'), cell: (d) => d.deviceName || '' },
        { label: t('identifier'), cell: (d) => el('code', d.identifier) },
        { label: t('onlineState'), cell: (d) => (d.online ? badge(t('online'), 'ok') : badge(t('offline'), 'muted')) },
        { label: t('finishTime'), cell: (d) => fmtTime(d.finishTime) },
        { label: t('currentVersion'), cell: (d) => d.currentVersion || '—' },
        { label: t('upgradeState'), cell: (d) => badge(t(`us_${d.upgradeState}`), stateKind[d.upgradeState] || 'muted') },
        { label: t('progress'), cell: progressCell },
        { label: t('retries'), cls: 'num', cell: (d) => `${d.retried ?? 0}/${d.retryTimes ?? 0}` },
        { label: t('remark'), cell: (d) => reasonText(d.failReason) },
      ], res.items || [], { caption: t('devices'), rowAttrs: (d) => ({ 'data-identifier': d.identifier, 'data-state': d.upgradeState }) }),
      pager(res, (p) => { page = p; refresh(); }),
    ];
  }

  let first = true;
  async function refresh() {
    clearTimeout(timer);
    try {
      const [b, res] = await Promise.all([
        get(`/batches/${encodeURIComponent(id)}`),
        get(`/batches/${encodeURIComponent(id)}/devices`, { page, pageSize: PAGE_SIZE, upgradeState: filter }),
      ]);
      if (!ctx.alive()) return;
      // keep focus where it was when the device table is rebuilt (keyboard users on the pager)
      const focused = document.activeElement;
      const focusKey = focused && devBox.contains(focused) ? focused.textContent : null;
      clear(headBox).append(header(b));
      clear(devBox).append(...devices(res));
      if (focusKey) [...devBox.querySelectorAll('button')].find((x) => x.textContent === focusKey && !x.disabled)?.focus();
      termBtn.hidden = !RUNNING_STATES.includes(b.state);
      pauseBtn.hidden = b.state !== 'in_progress';
      resumeBtn.hidden = b.state !== 'paused';
      const running = RUNNING_STATES.includes(b.state);
      status.textContent = `${running ? t('autoRefresh') : t('batchTerminatedNote')} · ${t('lastUpdated', { time: fmtTime(new Date().toISOString()) })}`;
      main.dataset.batchState = b.state;
      if (running) timer = setTimeout(refresh, POLL_MS);
    } catch (e) {
      if (!ctx.alive()) return;
      if (first) clear(headBox).append(errorBox(e));
      else timer = setTimeout(refresh, POLL_MS * 2); // transient error while polling: try again
    }
    first = false;
  }
  refresh();
}
