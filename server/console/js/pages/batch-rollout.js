// The batch create dialog's rollout section (发布节奏 / Rollout), a part of its advanced
// settings next to the target: phases (shares or counts, with named canary devices first),
// brakes (abort rules, as many rows as the server takes), the confirmation window, a scheduled
// start and daily maintenance windows (rows too) (docs/batches.md, "Phases, brakes and time"). rolloutSection() returns the node, what
// it adds to the create-batch body, and where the server's errors about its fields go.

import { t } from '../i18n.js';
import { el, field, setFieldError } from '../ui.js';

// the server's limits (docs/batches.md): abort rules per batch, windows per batch
const MAX_BRAKES = 10, MAX_WINDOWS = 7;
const REASONS = ['any', 'push_timeout', 'download_failed', 'verify_failed', 'flash_failed', 'upgrade_timeout', 'unknown', 'rolled_back'];

export function rolloutSection() {
  const input = (name, attrs = {}) => el('input', { name, autocomplete: 'off', spellcheck: false, ...attrs });
  const canary = input('canary', { placeholder: 'lab-1, lab-2' });
  const phases = input('phases', { placeholder: '10%, 40%, 50%' });
  const soak = input('soakMinutes', { type: 'number', min: 0, max: 10080, inputmode: 'numeric' });
  const success = input('minSuccessPercent', { type: 'number', min: 0, max: 100, inputmode: 'numeric' });
  const confirm = input('confirmMinutes', { type: 'number', min: 0, max: 10080, inputmode: 'numeric' });
  const startAt = input('startAt', { type: 'datetime-local' });
  const zoneHere = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';

  const f = {
    canary: field({ label: t('canaryDevices'), input: canary, help: t('canaryHelp') }),
    phases: field({ label: t('phases'), input: phases, help: t('phasesHelp') }),
    soak: field({ label: t('soakMinutes'), input: soak }),
    success: field({ label: t('minSuccessPercent'), input: success }),
    confirm: field({ label: t('confirmMinutes'), input: confirm, help: t('confirmHelp') }),
    startAt: field({ label: t('startAt'), input: startAt, help: t('startAtHelp') }),
  };

  // One brake row: its inputs (i), its fields (f) and its node. A row whose reason is "none"
  // adds nothing.
  function brakeRow() {
    const i = {
      reason: el('select', { name: 'brakeReason' }, el('option', { value: '' }, t('brakeNone')),
        REASONS.map((r) => el('option', { value: r }, r === 'any' ? t('brakeAny') : t(`fr_${r}`)))),
      threshold: input('thresholdPercent', { type: 'number', min: 1, max: 100, inputmode: 'numeric' }),
      minFinished: input('minFinished', { type: 'number', min: 1, inputmode: 'numeric' }),
      action: el('select', { name: 'brakeAction' },
        el('option', { value: 'pause' }, t('brakePause')), el('option', { value: 'abort' }, t('brakeAbort'))),
    };
    const rf = {
      reason: field({ label: t('brakeReason'), input: i.reason }),
      threshold: field({ label: t('thresholdPercent'), input: i.threshold }),
      minFinished: field({ label: t('minFinished'), input: i.minFinished }),
      action: field({ label: t('brakeAction'), input: i.action }),
    };
    return { i, f: rf, node: el('div.rollout-row.brake-row', el('div.grid2', rf.reason, rf.threshold), el('div.grid2', rf.minFinished, rf.action)) };
  }
  function windowRow() {
    const i = {
      start: input('windowStart', { type: 'time' }),
      minutes: input('windowMinutes', { type: 'number', min: 1, max: 1440, inputmode: 'numeric' }),
      zone: input('timeZone', { value: zoneHere }),
    };
    const rf = {
      start: field({ label: t('windowStart'), input: i.start }),
      minutes: field({ label: t('windowMinutes'), input: i.minutes }),
      zone: field({ label: t('timeZone'), input: i.zone }),
    };
    return { i, f: rf, node: el('div.rollout-row.window-row', el('div.grid2', rf.start, rf.minutes), rf.zone) };
  }

  // A list of rows with "+ add" under it and "remove" on each row while there is more than one.
  function rowList(make, max, addLabel, removeLabel, cls) {
    const rows = [];
    const box = el(`div.${cls}`);
    const add = el('button.btn.small.add-row', { type: 'button', on: { click: () => { push(); sync(); rows[rows.length - 1].node.querySelector('select, input')?.focus(); } } }, `+ ${addLabel}`);
    function sync() {
      add.hidden = rows.length >= max;
      rows.forEach((r, n) => {
        r.node.dataset.row = String(n + 1);
        r.remove.hidden = rows.length === 1;
      });
    }
    function push() {
      const r = make();
      r.remove = el('button.link.danger.remove-row', {
        type: 'button',
        on: { click: () => { rows.splice(rows.indexOf(r), 1); r.node.remove(); sync(); } },
      }, removeLabel);
      r.node.append(r.remove);
      rows.push(r);
      box.append(r.node);
    }
    push();
    sync();
    return { rows, node: el('div', box, add) };
  }
  const brakes = rowList(brakeRow, MAX_BRAKES, t('brakeAdd'), t('brakeRemove'), 'brake-rows');
  const wins = rowList(windowRow, MAX_WINDOWS, t('windowAdd'), t('windowRemove'), 'window-rows');

  const root = el('section.rollout', { id: 'batch-rollout' },
    el('h3', t('rolloutTitle')), el('p.muted', t('rolloutHelp')),
    el('div.grid2', f.canary, f.phases), el('div.grid2', f.soak, f.success),
    el('h4', t('brakeTitle')), brakes.node,
    el('h4', t('timeTitle')), el('div.grid2', f.startAt, f.confirm),
    el('h5', t('windowTitle')), wins.node);

  const ids = (s) => s.split(/[,\s]+/).map((x) => x.trim()).filter(Boolean);
  const num = (x) => (String(x.value).trim() === '' ? null : Number(x.value));
  // the server's field names and the inputs that show them; rollout.abort[N]... and
  // windows[N]... go to that row (the rows sent are the filled ones, in order)
  const serverFields = [
    ['rollout.phases[0].identifiers', f.canary], ['rollout.phases', f.phases], ['soakMinutes', f.soak],
    ['minSuccessPercent', f.success], ['confirmMinutes', f.confirm], ['startAt', f.startAt], ['rollout', f.phases],
  ];
  let sentBrakes = [], sentWins = [];
  const allFields = () => [...Object.values(f), ...brakes.rows.flatMap((r) => Object.values(r.f)), ...wins.rows.flatMap((r) => Object.values(r.f))];

  return {
    root,
    // Adds rollout, confirmMinutes, startAt and windows to body; returns {field: text} of what
    // is wrong here (shown at the fields), {} when fine.
    apply(body) {
      const errs = {};
      const mark = (key, wrap, text) => { errs[key] = text; setFieldError(wrap, text); };
      for (const x of allFields()) setFieldError(x, '');
      const list = [];
      const can = ids(canary.value);
      const common = {};
      if (num(soak) !== null) common.soakMinutes = num(soak);
      if (num(success) !== null) common.minSuccessPercent = num(success);
      if (can.length) list.push({ identifiers: can, ...common });
      for (const p of ids(phases.value)) {
        const m = /^(\d+)(%?)$/.exec(p);
        if (!m) { mark('phases', f.phases, t('errPhases', { item: p })); break; }
        list.push(m[2] ? { percent: Number(m[1]), ...common } : { count: Number(m[1]), ...common });
      }
      if (can.length && list.length === 1 && !errs.phases) mark('phases', f.phases, t('errCanaryAlone'));
      const rollout = {};
      if (list.length) rollout.phases = list;
      sentBrakes = brakes.rows.filter((r) => r.i.reason.value);
      sentBrakes.forEach((r, n) => {
        if (num(r.i.threshold) === null) mark(`threshold${n}`, r.f.threshold, t('errRequired'));
      });
      if (sentBrakes.length) {
        rollout.abort = sentBrakes.map((r) => {
          const rule = { reason: r.i.reason.value, thresholdPercent: num(r.i.threshold), action: r.i.action.value };
          if (num(r.i.minFinished) !== null) rule.minFinished = num(r.i.minFinished);
          return rule;
        });
      }
      sentWins = wins.rows.filter((r) => r.i.start.value || num(r.i.minutes) !== null);
      sentWins.forEach((r, n) => {
        if (!r.i.start.value) mark(`winStart${n}`, r.f.start, t('errRequired'));
        if (num(r.i.minutes) === null) mark(`winMinutes${n}`, r.f.minutes, t('errRequired'));
      });
      if (Object.keys(errs).length) return errs;
      if (rollout.phases || rollout.abort) body.rollout = rollout;
      if (num(confirm)) body.confirmMinutes = num(confirm);
      if (startAt.value) body.startAt = new Date(startAt.value).toISOString();
      if (sentWins.length) {
        body.windows = sentWins.map((r) => ({ start: r.i.start.value, durationMinutes: num(r.i.minutes), timeZone: r.i.zone.value.trim() }));
      }
      return errs;
    },
    // The server's refusal naming one of this section's fields: shown there (true), or not ours.
    showError(name, text) {
      if (!/^(rollout|startAt|windows|confirmMinutes)/.test(name || '')) return false;
      const row = /^(rollout\.abort|windows)\[(\d+)\](?:\.(\w+))?/.exec(name);
      if (row) {
        const r = (row[1] === 'windows' ? sentWins : sentBrakes)[Number(row[2])];
        const key = { thresholdPercent: 'threshold', durationMinutes: 'minutes', timeZone: 'zone' }[row[3]] || row[3];
        if (r) { setFieldError(r.f[key] || Object.values(r.f)[0], text); return true; }
      }
      if (name === 'windows') { setFieldError(wins.rows[0].f.start, text); return true; }
      if (name === 'rollout.abort') { setFieldError(brakes.rows[0].f.reason, text); return true; }
      const hit = serverFields.find(([k]) => name === k || name.endsWith(k) || name.includes(`${k}`));
      setFieldError(hit ? hit[1] : f.phases, text);
      return true;
    },
    focus() { root.querySelector('input')?.focus(); },
  };
}
