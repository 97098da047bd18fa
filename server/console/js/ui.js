// Small DOM helpers shared by the pages: element builder, modal dialogs (native <dialog>:
// focus stays inside, Esc closes), toasts, pager, confirmation, error text.

import { t, fmtNum, has } from './i18n.js';

/** el('button.primary#id', {attrs, on: {click}}, ...children) */
export function el(spec, props, ...children) {
  if (props == null || typeof props !== 'object' || props instanceof Node || Array.isArray(props)) {
    if (props !== undefined && props !== null) children.unshift(props);
    props = {};
  }
  const m = spec.match(/^([a-z0-9-]+)?((?:[.#][\w-]+)*)$/i);
  const node = document.createElement((m && m[1]) || 'div');
  if (m && m[2]) {
    for (const part of m[2].match(/[.#][\w-]+/g)) {
      if (part[0] === '.') node.classList.add(part.slice(1)); else node.id = part.slice(1);
    }
  }
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'on') for (const [ev, fn] of Object.entries(v)) node.addEventListener(ev, fn);
    else if (k === 'text') node.textContent = v;
    else if (k === 'class') node.className = v;
    else if (k === 'style' && typeof v === 'object') Object.assign(node.style, v);
    else if (k in node && !k.startsWith('aria') && !k.startsWith('data') && k !== 'list' && k !== 'for') node[k] = v;
    else node.setAttribute(k, v === true ? '' : v);
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(node) { while (node.firstChild) node.firstChild.remove(); return node; }

let seq = 0;
export const uid = (p = 'id') => `${p}-${++seq}`;

/* ---------- toasts (an aria-live region) ---------- */

export function toast(msg, kind = 'info') {
  const region = document.getElementById('toasts');
  const node = el(`div.toast.${kind}`, { role: kind === 'error' ? 'alert' : 'status' }, msg);
  region.append(node);
  setTimeout(() => node.remove(), kind === 'error' ? 9000 : 5000);
}

/* ---------- dialogs ---------- */

/**
 * Opens a modal dialog. build(close) returns the body nodes; close(value) closes it.
 * Returns a promise of the value passed to close (undefined on Esc / Cancel).
 * opts: {title, wide, onCancel: () => bool (false keeps it open)}
 */
export function openDialog(opts, build) {
  return new Promise((resolve) => {
    const titleId = uid('dlg-title');
    const dlg = el(`dialog.dialog${opts.wide ? '.wide' : ''}`, { 'aria-labelledby': titleId });
    const opener = document.activeElement;
    let done = false;
    const close = (value) => {
      if (done) return;
      done = true;
      dlg.close();
      dlg.remove();
      if (opener && opener.isConnected && typeof opener.focus === 'function') opener.focus();
      resolve(value);
    };
    dlg.addEventListener('cancel', (e) => {
      // Esc: let the page refuse (e.g. an upload is running and must be cancelled first)
      e.preventDefault();
      if (opts.onCancel && opts.onCancel() === false) return;
      close(undefined);
    });
    const head = el('header.dialog-head',
      el('h2', { id: titleId }, opts.title),
      el('button.icon-btn', { type: 'button', 'aria-label': t('close'), title: t('close'), on: { click: () => dlg.dispatchEvent(new Event('cancel', { cancelable: true })) } }, '×'));
    dlg.append(head, el('div.dialog-body', build(close)));
    document.body.append(dlg);
    dlg.showModal();
    const first = dlg.querySelector('[autofocus]') || dlg.querySelector('.dialog-body input:not([type=hidden]), .dialog-body select, .dialog-body textarea, .dialog-body button');
    if (first) first.focus();
  });
}

/**
 * A dialog's form: the fields, then 取消 / Cancel (close()) and a primary submit button
 * (submitLabel). onSubmit(event) runs the page's checks and the request; the button is
 * disabled until it settles, so a double click sends nothing twice.
 */
export function dialogForm(close, submitLabel, onSubmit, ...fields) {
  const submit = el('button.btn.primary', { type: 'submit' }, submitLabel);
  return el('form', {
    novalidate: true,
    on: {
      submit: async (e) => {
        e.preventDefault();
        submit.disabled = true;
        try { await onSubmit(e); } finally { submit.disabled = false; }
      },
    },
  }, fields,
  el('div.dialog-actions', el('button.btn', { type: 'button', on: { click: () => close() } }, t('cancel')), submit));
}

/** Confirmation dialog; resolves true / false. */
export function confirmDialog(title, message, confirmLabel, danger = false) {
  return openDialog({ title }, (close) => [
    el('p', message),
    el('div.dialog-actions',
      el('button.btn', { type: 'button', on: { click: () => close(false) } }, t('cancel')),
      el(`button.btn.${danger ? 'danger' : 'primary'}`, { type: 'button', autofocus: true, on: { click: () => close(true) } }, confirmLabel || t('confirm'))),
  ]).then((v) => v === true);
}

/* ---------- errors ---------- */

/**
 * Text for an API error: the console's own words for the refusals it knows (by code and field,
 * so they read in the chosen language), else the server's message.
 */
export function errorText(e) {
  if (!e) return '';
  if (e.status === 0 && e.code === 'network') return t('networkError', { msg: e.message });
  const msg = e.message || e.code || '';
  if (e.code && e.field && has(`err_${e.code}_${e.field}`)) return t(`err_${e.code}_${e.field}`, { msg });
  if (e.code && has(`err_${e.code}`)) return t(`err_${e.code}`, { msg });
  if (e.field === 'identifiers' && e.status === 422) return t('err_ineligible', { msg });
  return msg || t('serverError', { status: e.status, msg: e.code });
}

export function errorBox(e) {
  return el('div.alert.error', { role: 'alert' }, errorText(e));
}

/* ---------- pager ---------- */

/** pager({page, pageSize, total}, onPage(page)) */
export function pager(info, onPage) {
  const pages = Math.max(1, Math.ceil((info.total || 0) / (info.pageSize || 20)));
  const page = info.page || 1;
  return el('nav.pager', { 'aria-label': 'pagination' },
    el('button.btn.small', { type: 'button', disabled: page <= 1, on: { click: () => onPage(page - 1) } }, `‹ ${t('prevPage')}`),
    el('span.pager-info', t('pageInfo', { page, pages, total: fmtNum(info.total || 0) })),
    el('button.btn.small', { type: 'button', disabled: page >= pages, on: { click: () => onPage(page + 1) } }, `${t('nextPage')} ›`));
}

/* ---------- tables ---------- */

/**
 * table(columns, rows, {caption, empty}) where a column is {label, cell: row => node|text, cls}.
 * Wrapped in a horizontally scrolling box; at phone width each row shows as a card (CSS).
 */
export function table(columns, rows, opts = {}) {
  const thead = el('thead', el('tr', columns.map((c) => el('th', { scope: 'col', class: c.cls || '' }, c.label))));
  const body = rows.length
    ? rows.map((r) => el('tr', opts.rowAttrs ? opts.rowAttrs(r) : {}, columns.map((c) => el('td', { class: c.cls || '', 'data-label': c.label }, c.cell(r)))))
    : [el('tr', el('td.empty', { colSpan: columns.length }, opts.empty || t('empty')))];
  return el('div.table-wrap', { tabIndex: 0, role: 'region', 'aria-label': opts.caption || '' },
    el('table.cards', opts.caption ? el('caption.sr-only', opts.caption) : null, thead, el('tbody', body)));
}

/* ---------- form fields ---------- */

/**
 * field({label, input, help, id}) -> wrapper with <label for>, the input, help text and an error slot.
 * The error slot is referenced by aria-describedby; setFieldError(wrapper, text) fills it.
 */
export function field({ label, input, help, required }) {
  const id = input.id || (input.id = uid('f'));
  const helpId = `${id}-help`, errId = `${id}-err`;
  input.setAttribute('aria-describedby', `${help ? helpId + ' ' : ''}${errId}`);
  const wrap = el('div.field',
    el('label', { for: id }, label, required ? el('span.req', { 'aria-hidden': 'true' }, ' *') : null),
    input,
    help ? el('div.help', { id: helpId }, help) : null,
    el('div.field-error', { id: errId, 'aria-live': 'polite' }));
  wrap.dataset.field = input.name || '';
  return wrap;
}

export function setFieldError(wrap, text) {
  if (!wrap) return;
  const slot = wrap.querySelector('.field-error');
  slot.textContent = text || '';
  const input = wrap.querySelector('input, select, textarea');
  if (input) {
    if (text) input.setAttribute('aria-invalid', 'true'); else input.removeAttribute('aria-invalid');
  }
  wrap.classList.toggle('invalid', !!text);
}

export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const ta = el('textarea', { style: { position: 'fixed', opacity: '0' } }, text);
    document.body.append(ta);
    ta.select();
    let ok = false;
    try { ok = document.execCommand('copy'); } catch { ok = false; }
    ta.remove();
    return ok;
  }
}

export function badge(text, kind) { return el(`span.badge.${kind}`, text); }
