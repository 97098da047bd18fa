// A product's signing keys (签名密钥) and its requireSignature switch, shown on the product's
// page below its devices: list (active and retired), add a public key from its .pub file,
// retire one. docs/api.md "Signing keys"; private keys never come here (otactl key create).

import { t, fmtTime } from '../i18n.js';
import { get, post, del, request } from '../api.js';
import { el, clear, table, openDialog, field, setFieldError, errorBox, errorText, toast, confirmDialog, badge } from '../ui.js';

export function renderSigningKeys(box, pk, ctx) {
  const base = `/products/${encodeURIComponent(pk)}`;
  const list = el('div', el('p.muted', t('loading')));
  const req = el('input', { type: 'checkbox', id: 'require-signature' });
  const reqState = el('span.muted', { 'aria-live': 'polite' });
  const refresh = () => load();
  clear(box).append(
    el('div.page-head',
      el('h2', t('signingKeysTitle')),
      el('div.page-actions',
        el('button.btn', { type: 'button', id: 'add-signing-key', on: { click: () => addKey(base, refresh) } }, t('addSigningKey')))),
    el('p.muted', t('signingKeysHelp')),
    el('div.toolbar', req, el('label', { for: 'require-signature' }, t('requireSignature')), reqState),
    list);

  req.addEventListener('change', async () => {
    req.disabled = true;
    try {
      const p = await request('PATCH', base, { json: { requireSignature: req.checked } });
      req.checked = !!p.requireSignature;
    } catch (e) {
      req.checked = !req.checked;
      toast(errorText(e), 'error');
    } finally {
      req.disabled = false;
      reqState.textContent = t(req.checked ? 'requireSignatureOn' : 'requireSignatureOff');
    }
  });

  async function load() {
    try {
      const [prod, keys] = await Promise.all([get(base), get(`${base}/signing-keys`)]);
      if (!ctx.alive()) return;
      req.checked = !!prod.requireSignature;
      reqState.textContent = t(req.checked ? 'requireSignatureOn' : 'requireSignatureOff');
      const rows = keys.items || [];
      clear(list).append(rows.length
        ? table([
          { label: t('keyName'), cell: (k) => k.name },
          { label: t('keyId'), cell: (k) => el('code', k.keyId) },
          { label: t('createdTime'), cell: (k) => fmtTime(k.createdTime) },
          { label: t('keyStatus'), cell: (k) => (k.retired ? badge(t('keyRetired'), 'muted') : badge(t('keyActive'), 'ok')) },
          {
            label: t('actions'),
            cls: 'actions',
            cell: (k) => (k.retired ? '' : el('button.link.danger', {
              type: 'button', 'data-action': 'retire', on: { click: () => retireKey(base, k, refresh) },
            }, t('retireKey'))),
          },
        ], rows, { caption: t('signingKeysTitle'), rowAttrs: (k) => ({ 'data-key-id': k.keyId }) })
        : el('p.muted', t('noSigningKeys')));
    } catch (e) {
      if (ctx.alive()) clear(list).append(errorBox(e));
    }
  }
  load();
}

function addKey(base, refresh) {
  openDialog({ title: t('addSigningKey') }, (close) => {
    const name = el('input', { name: 'name', maxLength: 64, autocomplete: 'off' });
    const file = el('input', { type: 'file', name: 'publicKey', accept: '.pub,.pem' });
    const fName = field({ label: t('keyName'), input: name, required: true });
    const fKey = field({ label: t('publicKeyFile'), input: file, help: t('rulePublicKey'), required: true });
    const submit = el('button.btn.primary', { type: 'submit' }, t('create'));
    return el('form', {
      novalidate: true,
      on: {
        submit: async (e) => {
          e.preventDefault();
          setFieldError(fName, ''); setFieldError(fKey, '');
          if (!name.value.trim()) { setFieldError(fName, t('required')); name.focus(); return; }
          if (!file.files[0]) { setFieldError(fKey, t('required')); file.focus(); return; }
          submit.disabled = true;
          try {
            const pem = await file.files[0].text();
            const k = await post(`${base}/signing-keys`, { name: name.value.trim(), publicKey: pem });
            toast(t('keyAdded', { id: k.keyId }), 'success');
            close(k);
            refresh();
          } catch (err) {
            setFieldError(err.field === 'name' ? fName : fKey, errorText(err));
          } finally {
            submit.disabled = false;
          }
        },
      },
    }, fName, fKey,
    el('div.dialog-actions',
      el('button.btn', { type: 'button', on: { click: () => close() } }, t('cancel')),
      submit));
  });
}

async function retireKey(base, k, refresh) {
  const ok = await confirmDialog(t('retireKeyTitle'), t('retireKeyConfirm', { name: k.name, id: k.keyId }), t('retireKey'), true);
  if (!ok) return;
  try {
    await del(`${base}/signing-keys/${encodeURIComponent(k.keyId)}`);
    toast(t('keyRetiredDone'), 'success');
    refresh();
  } catch (e) {
    toast(errorText(e), 'error');
  }
}
