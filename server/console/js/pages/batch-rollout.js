// The batch create dialog's rollout section (发布节奏 / Rollout), a part of its advanced
// settings next to the target: phases (shares or counts, with named canary devices first),
// one brake (abort rule), the confirmation window, a scheduled start and a daily maintenance
// window (docs/batches.md, "Phases, brakes and time"). rolloutSection() returns the node, what
// it adds to the create-batch body, and where the server's errors about its fields go.

import { t } from '../i18n.js';
import { el, field, setFieldError } from '../ui.js';

const REASONS = ['any', 'push_timeout', 'download_failed', 'verify_failed', 'flash_failed', 'upgrade_timeout', 'unknown', 'rolled_back'];

export function rolloutSection() {
  const input = (name, attrs = {}) => el('input', { name, autocomplete: 'off', spellcheck: false, ...attrs });
  const canary = input('canary', { placeholder: 'lab-1, lab-2' });
  const phases = input('phases', { placeholder: '10%, 40%, 50%' });
  const soak = input('soakMinutes', { type: 'number', min: 0, max: 10080, inputmode: 'numeric' });
  const success = input('minSuccessPercent', { type: 'number', min: 0, max: 100, inputmode: 'numeric' });
  const reason = el('select', { name: 'brakeReason' }, el('option', { value: '' }, t('brakeNone')),
    REASONS.map((r) => el('option', { value: r }, r === 'any' ? t('brakeAny') : t(`fr_${r}`))));
  const threshold = input('thresholdPercent', { type: 'number', min: 1, max: 100, inputmode: 'numeric' });
  const minFinished = input('minFinished', { type: 'number', min: 1, inputmode: 'numeric' });
  const action = el('select', { name: 'brakeAction' },
    el('option', { value: 'pause' }, t('brakePause')), el('option', { value: 'abort' }, t('brakeAbort')));
  const confirm = input('confirmMinutes', { type: 'number', min: 0, max: 10080, inputmode: 'numeric' });
  const startAt = input('startAt', { type: 'datetime-local' });
  const winStart = input('windowStart', { type: 'time' });
  const winMinutes = input('windowMinutes', { type: 'number', min: 1, max: 1440, inputmode: 'numeric' });
  const zone = input('timeZone', { value: Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC' });

  const f = {
    canary: field({ label: t('canaryDevices'), input: canary, help: t('canaryHelp') }),
    phases: field({ label: t('phases'), input: phases, help: t('phasesHelp') }),
    soak: field({ label: t('soakMinutes'), input: soak }),
    success: field({ label: t('minSuccessPercent'), input: success }),
    reason: field({ label: t('brakeReason'), input: reason }),
    threshold: field({ label: t('thresholdPercent'), input: threshold }),
    minFinished: field({ label: t('minFinished'), input: minFinished }),
    action: field({ label: t('brakeAction'), input: action }),
    confirm: field({ label: t('confirmMinutes'), input: confirm, help: t('confirmHelp') }),
    startAt: field({ label: t('startAt'), input: startAt, help: t('startAtHelp') }),
    winStart: field({ label: t('windowStart'), input: winStart }),
    winMinutes: field({ label: t('windowMinutes'), input: winMinutes }),
    zone: field({ label: t('timeZone'), input: zone }),
  };
  const root = el('section.rollout', { id: 'batch-rollout' },
    el('h3', t('rolloutTitle')), el('p.muted', t('rolloutHelp')),
    el('div.grid2', f.canary, f.phases), el('div.grid2', f.soak, f.success),
    el('h4', t('brakeTitle')), el('div.grid2', f.reason, f.threshold), el('div.grid2', f.minFinished, f.action),
    el('h4', t('timeTitle')), el('div.grid2', f.startAt, f.confirm),
    el('div.grid2', f.winStart, f.winMinutes), f.zone);

  const ids = (s) => s.split(/[,\s]+/).map((x) => x.trim()).filter(Boolean);
  const num = (x) => (String(x.value).trim() === '' ? null : Number(x.value));
  // the server's field names and the inputs that show them
  const serverFields = [
    ['rollout.phases[0].identifiers', f.canary], ['rollout.phases', f.phases], ['soakMinutes', f.soak],
    ['minSuccessPercent', f.success], ['reason', f.reason], ['thresholdPercent', f.threshold],
    ['minFinished', f.minFinished], ['action', f.action], ['rollout.abort', f.reason],
    ['confirmMinutes', f.confirm], ['startAt', f.startAt], ['.start', f.winStart],
    ['.durationMinutes', f.winMinutes], ['.timeZone', f.zone], ['windows', f.winStart], ['rollout', f.phases],
  ];

  return {
    root,
    // Adds rollout, confirmMinutes, startAt and windows to body; returns {field: text} of what
    // is wrong here (shown at the fields), {} when fine.
    apply(body) {
      const errs = {};
      for (const x of Object.values(f)) setFieldError(x, '');
      const list = [];
      const can = ids(canary.value);
      const common = {};
      if (num(soak) !== null) common.soakMinutes = num(soak);
      if (num(success) !== null) common.minSuccessPercent = num(success);
      if (can.length) list.push({ identifiers: can, ...common });
      for (const p of ids(phases.value)) {
        const m = /^(\d+)(%?)$/.exec(p);
        if (!m) { errs.phases = t('errPhases', { item: p }); break; }
        list.push(m[2] ? { percent: Number(m[1]), ...common } : { count: Number(m[1]), ...common });
      }
      if (can.length && list.length === 1 && !errs.phases) errs.phases = t('errCanaryAlone');
      const rollout = {};
      if (list.length) rollout.phases = list;
      if (reason.value) {
        if (num(threshold) === null) errs.threshold = t('errRequired');
        rollout.abort = [{ reason: reason.value, thresholdPercent: num(threshold), action: action.value }];
        if (num(minFinished) !== null) rollout.abort[0].minFinished = num(minFinished);
      }
      if (winStart.value || num(winMinutes) !== null) {
        if (!winStart.value) errs.winStart = t('errRequired');
        if (num(winMinutes) === null) errs.winMinutes = t('errRequired');
      }
      if (errs.phases) setFieldError(f.phases, errs.phases);
      if (errs.threshold) setFieldError(f.threshold, errs.threshold);
      if (errs.winStart) setFieldError(f.winStart, errs.winStart);
      if (errs.winMinutes) setFieldError(f.winMinutes, errs.winMinutes);
      if (Object.keys(errs).length) return errs;
      if (rollout.phases || rollout.abort) body.rollout = rollout;
      if (num(confirm)) body.confirmMinutes = num(confirm);
      if (startAt.value) body.startAt = new Date(startAt.value).toISOString();
      if (winStart.value) body.windows = [{ start: winStart.value, durationMinutes: num(winMinutes), timeZone: zone.value.trim() }];
      return errs;
    },
    // The server's refusal naming one of this section's fields: shown there (true), or not ours.
    showError(name, text) {
      if (!/^(rollout|startAt|windows|confirmMinutes)/.test(name || '')) return false;
      const hit = serverFields.find(([k]) => name === k || name.endsWith(k) || name.includes(`${k}`));
      setFieldError(hit ? hit[1] : f.phases, text);
      return true;
    },
    focus() { root.querySelector('input')?.focus(); },
  };
}
