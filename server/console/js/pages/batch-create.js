// Batch upgrade dialog (批量升级): scope all / directed with a searchable, paged picker of the
// firmware's eligible devices; validity, policy, timeout, retries and interval (shown only when
// retries > 0). Rules checked here; the server's refusal shown at the field it names.
//
// The picker sends `q` (identifier or name contains) to eligible-devices. If the server ignores
// `q` (rows come back that do not match), the picker falls back to filtering in the page.

import { t, fmtNum } from '../i18n.js';
import { get, post } from '../api.js';
import { el, clear, openDialog, field, setFieldError, errorText, errorBox, toast, pager, uid } from '../ui.js';
import * as V from '../validate.js';
import { targetSection } from './batch-target.js';
import { rolloutSection } from './batch-rollout.js';

const PICKER_PAGE = 10;

function radioGroup(name, legend, options, value, help) {
  const helpId = uid('rg-help');
  return el('fieldset.field.radios', { 'data-field': name, 'aria-describedby': help ? helpId : null },
    el('legend', legend),
    options.map((o) => {
      const id = uid('r');
      return el('div.radio',
        el('input', { type: 'radio', name, id, value: o.value, checked: o.value === value }),
        el('label', { for: id }, el('span.strong', o.label), o.help ? el('span.muted', ` — ${o.help}`) : null));
    }),
    help ? el('div.help', { id: helpId }, help) : null,
    el('div.field-error', { 'aria-live': 'polite' }));
}

const matches = (d, q) => {
  const s = q.toLowerCase();
  return (d.identifier || '').toLowerCase().includes(s) || (d.deviceName || '').toLowerCase().includes(s);
};

function devicePicker(fw, selected, onChange) {
  const root = el('div.picker', { 'data-field': 'identifiers' });
  const search = el('input', { type: 'search', id: uid('pick-q'), placeholder: t('searchDevices'), 'aria-label': t('searchDevices'), autocomplete: 'off' });
  const count = el('span.selected-count', { 'aria-live': 'polite' });
  const clearBtn = el('button.btn.small', { type: 'button', on: { click: () => { selected.clear(); refreshCount(); load(page); } } }, t('clearSelection'));
  const listBox = el('div.picker-list');
  const err = el('div.field-error', { 'aria-live': 'polite' });
  let page = 1, q = '', timer = null, localAll = null; // localAll: every eligible device, when filtering here
  root.append(el('p.note', t('eligibleNote')), el('div.toolbar', search, count, clearBtn), listBox, err);

  const refreshCount = () => { count.textContent = t('selectedCount', { n: fmtNum(selected.size) }); onChange(); };

  async function fetchAllEligible() {
    const all = [];
    for (let p = 1; p <= 50; p++) {
      const r = await get(`/firmwares/${encodeURIComponent(fw.firmwareId)}/eligible-devices`, { page: p, pageSize: 1000 });
      all.push(...(r.items || []));
      if (all.length >= (r.total || 0) || !(r.items || []).length) break;
    }
    return all;
  }

  async function load(p) {
    page = p;
    clear(listBox).append(el('p.muted', t('loading')));
    try {
      let res;
      if (q && localAll) {
        const hits = localAll.filter((d) => matches(d, q));
        res = { items: hits.slice((p - 1) * PICKER_PAGE, p * PICKER_PAGE), total: hits.length, page: p, pageSize: PICKER_PAGE };
      } else {
        res = await get(`/firmwares/${encodeURIComponent(fw.firmwareId)}/eligible-devices`, { page: p, pageSize: PICKER_PAGE, q });
        if (q && (res.items || []).some((d) => !matches(d, q))) { // server without `q`
          localAll = await fetchAllEligible();
          return load(p);
        }
      }
      render(res);
    } catch (e) {
      clear(listBox).append(errorBox(e));
    }
  }

  function render(res) {
    const items = res.items || [];
    clear(listBox);
    if (!items.length) { listBox.append(el('p.muted.empty-note', t('noEligible'))); return; }
    const pageAll = el('input', {
      type: 'checkbox', 'aria-label': t('selectPage'),
      checked: items.every((d) => selected.has(d.identifier)),
      on: {
        change: (e) => {
          for (const d of items) { if (e.target.checked) selected.add(d.identifier); else selected.delete(d.identifier); }
          listBox.querySelectorAll('tbody input[type=checkbox]').forEach((c) => { c.checked = e.target.checked; });
          refreshCount();
        },
      },
    });
    const rows = items.map((d) => {
      const cb = el('input', {
        type: 'checkbox', value: d.identifier, checked: selected.has(d.identifier), 'aria-label': t('selectDevice', { id: d.identifier }),
        on: { change: (e) => { if (e.target.checked) selected.add(d.identifier); else selected.delete(d.identifier); refreshCount(); } },
      });
      return el('tr', el('td.check', cb), el('td', el('code', d.identifier)), el('td', d.deviceName || ''),
        el('td', d.online ? t('online') : t('offline')), el('td', d.firmwareVersion || '—'));
    });
    listBox.append(
      el('div.table-wrap', el('table.compact',
        el('thead', el('tr', el('th.check', { scope: 'col' }, pageAll), el('th', { scope: 'col' }, t('identifier')),
          el('th', { scope: 'col' }, t('deviceName')), el('th', { scope: 'col' }, t('onlineState')), el('th', { scope: 'col' }, t('currentVersion')))),
        el('tbody', rows))),
      pager(res, (n) => load(n)));
  }

  search.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => { q = search.value.trim(); load(1); }, 250);
  });
  search.addEventListener('keydown', (e) => { if (e.key === 'Enter') { e.preventDefault(); clearTimeout(timer); q = search.value.trim(); load(1); } });
  refreshCount();
  load(1);
  return {
    root,
    setError: (text) => { err.textContent = text || ''; root.classList.toggle('invalid', !!text); },
    focus: () => search.focus(),
  };
}

export function openBatchCreate(fw, ctx) {
  return openDialog({ title: t('batchUpgradeTitle'), wide: true }, (close) => {
    const selected = new Set();
    const scope = radioGroup('scope', t('scope'), [
      { value: 'all', label: t('scopeAll'), help: t('scopeAllHelp') },
      { value: 'directed', label: t('scopeDirected'), help: t('scopeDirectedHelp') },
    ], 'all');
    const allInfo = el('p.muted.all-info', { 'aria-live': 'polite' });
    let picker = null;
    const pickerSlot = el('div.picker-slot', { hidden: true });

    const validity = el('select', { name: 'validityDays' }, [1, 2, 3, 4, 5, 6, 7].map((n) => el('option', { value: n, selected: n === 7 }, t('daysN', { n }))));
    const policy = radioGroup('policy', t('policy'), [
      { value: 'standard', label: t('policyStandard'), help: t('policyStandardHelp') },
      { value: 'silent', label: t('policySilent'), help: t('policySilentHelp') },
    ], 'standard');
    const timeout = el('input', { type: 'number', name: 'timeoutMinutes', min: 1, max: 1440, step: 1, value: 60, inputMode: 'numeric' });
    const retries = el('select', { name: 'retryTimes' }, [0, 1, 2, 3, 4, 5].map((n) => el('option', { value: n }, String(n))));
    const interval = el('input', { type: 'number', name: 'retryIntervalMinutes', min: 1, max: 4320, step: 1, value: 10, inputMode: 'numeric' });
    const rate = el('input', { type: 'number', name: 'maxPushPerMinute', min: 1, max: 1000000, step: 1, inputMode: 'numeric' });

    const fields = {
      validityDays: field({ label: t('validity'), input: validity, help: t('validityHelp'), required: true }),
      timeoutMinutes: field({ label: `${t('timeout')} (${t('minutes')})`, input: timeout, help: t('timeoutHelp'), required: true }),
      retryTimes: field({ label: t('retryTimes'), input: retries, help: t('retryTimesHelp') }),
      retryIntervalMinutes: field({ label: `${t('retryInterval')} (${t('minutes')})`, input: interval, help: t('retryIntervalHelp'), required: true }),
      maxPushPerMinute: field({ label: t('pushRate'), input: rate, help: t('pushRateHelp') }),
      scope, policy,
    };
    fields.retryIntervalMinutes.hidden = true;
    // a shown error goes away as soon as the value is right
    const recheck = () => {
      const errs = V.batchForm({ scope: 'all', validityDays: validity.value, timeoutMinutes: timeout.value, retryTimes: retries.value, retryIntervalMinutes: interval.value, maxPushPerMinute: rate.value });
      for (const k of ['validityDays', 'timeoutMinutes', 'retryTimes', 'retryIntervalMinutes', 'maxPushPerMinute']) {
        if (fields[k].classList.contains('invalid') && !errs[k]) setFieldError(fields[k], '');
      }
    };
    for (const i of [validity, timeout, retries, interval, rate]) i.addEventListener('input', recheck);
    retries.addEventListener('change', () => { fields.retryIntervalMinutes.hidden = Number(retries.value) === 0; });

    const scopeValue = () => scope.querySelector('input:checked').value;
    scope.addEventListener('change', () => {
      const directed = scopeValue() === 'directed';
      pickerSlot.hidden = !directed;
      allInfo.hidden = directed;
      if (directed && !picker) {
        picker = devicePicker(fw, selected, () => picker?.setError(''));
        pickerSlot.append(picker.root);
      }
    });
    get(`/firmwares/${encodeURIComponent(fw.firmwareId)}/eligible-devices`, { page: 1, pageSize: 1 })
      .then((r) => { allInfo.textContent = `${t('total')}: ${fmtNum(r.total ?? 0)}`; if (!r.total) allInfo.textContent += ` — ${t('noEligible')}`; })
      .catch(() => {});

    // the advanced settings: one part after another (pace, target), each its own module's
    const target = targetSection(fw);
    const rollout = rolloutSection();
    const advanced = el('details.advanced', el('summary', t('advanced')), fields.maxPushPerMinute, target.root, rollout.root);
    const formError = el('div.alert.error', { role: 'alert', hidden: true });
    const submit = el('button.btn.primary', { type: 'submit' }, t('createBatch'));
    const form = el('form.batch-form', {
      novalidate: true,
      on: {
        submit: async (e) => {
          e.preventDefault();
          formError.hidden = true;
          const body = {
            scope: scopeValue(),
            validityDays: validity.value,
            policy: policy.querySelector('input:checked').value,
            timeoutMinutes: timeout.value,
            retryTimes: retries.value,
            retryIntervalMinutes: interval.value,
            maxPushPerMinute: rate.value,
          };
          if (body.scope === 'directed') body.identifiers = [...selected];
          const errs = V.batchForm(body);
          for (const k of ['validityDays', 'timeoutMinutes', 'retryTimes', 'retryIntervalMinutes', 'maxPushPerMinute']) setFieldError(fields[k], errs[k] ? t(errs[k]) : '');
          picker?.setError(errs.identifiers ? t(errs.identifiers) : '');
          if (Object.keys(errs).length) {
            if (errs.identifiers) picker.focus();
            else {
              if (errs.maxPushPerMinute) advanced.open = true;
              fields[Object.keys(errs)[0]].querySelector('input, select').focus();
            }
            return;
          }
          const payload = {
            scope: body.scope,
            validityDays: Number(body.validityDays),
            policy: body.policy,
            timeoutMinutes: Number(body.timeoutMinutes),
            retryTimes: Number(body.retryTimes),
          };
          if (payload.retryTimes > 0) payload.retryIntervalMinutes = Number(body.retryIntervalMinutes);
          if (String(body.maxPushPerMinute).trim() !== '') payload.maxPushPerMinute = Number(body.maxPushPerMinute);
          if (body.scope === 'directed') payload.identifiers = body.identifiers;
          const targetErrs = target.apply(payload);
          if (Object.keys(targetErrs).length) {
            advanced.open = true;
            target.focus(Object.keys(targetErrs)[0]);
            return;
          }
          if (Object.keys(rollout.apply(payload)).length) {
            advanced.open = true;
            rollout.focus();
            return;
          }
          submit.disabled = true;
          try {
            const b = await post(`/firmwares/${encodeURIComponent(fw.firmwareId)}/batches`, payload);
            toast(t('batchCreated', { id: b.batchId, total: fmtNum(b.total ?? 0) }), 'success');
            close(b);
            ctx.navigate(`#/batches/${encodeURIComponent(b.batchId)}`);
          } catch (err) {
            const f = err.field;
            if (f === 'identifiers' && picker) picker.setError(errorText(err));
            else if (f && target.showError(f, errorText(err))) advanced.open = true;
            else if (f && rollout.showError(f, errorText(err))) advanced.open = true;
            else if (f && fields[f] && !fields[f].hidden) {
              if (f === 'maxPushPerMinute') advanced.open = true;
              setFieldError(fields[f], errorText(err));
            }
            else { formError.textContent = errorText(err); formError.hidden = false; }
          } finally {
            submit.disabled = false;
          }
        },
      },
    },
    el('dl.summary',
      el('div', el('dt', t('firmwareName')), el('dd', fw.firmwareName)),
      el('div', el('dt', t('firmwareVersion')), el('dd', el('code', fw.firmwareVersion)))),
    scope, allInfo, pickerSlot,
    el('div.grid2', fields.validityDays, fields.timeoutMinutes),
    policy,
    el('div.grid2', fields.retryTimes, fields.retryIntervalMinutes),
    advanced,
    formError,
    el('div.dialog-actions', el('button.btn', { type: 'button', on: { click: () => close() } }, t('cancel')), submit));
    return form;
  });
}
