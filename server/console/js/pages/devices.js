// Devices of one product: list (online, tag and group filters, paging) with each device's tags
// and their editor, the attributes a hawkBit DDI device sent, register one device (its secret is shown once, with a copy button), bulk
// import from an NDJSON file; below them the product's groups (groups.js) and its signing
// keys and requireSignature (signing-keys.js).

import { t, fmtNum } from '../i18n.js';
import { get, post, request } from '../api.js';
import { el, clear, table, pager, openDialog, field, setFieldError, errorBox, errorText, toast, copyText, badge } from '../ui.js';
import { identifier as identRule, parseDeviceNdjson } from '../validate.js';
import { renderSigningKeys } from './signing-keys.js';
import { renderGroups, tagChips, editTags } from './groups.js';

export function renderDevices(main, ctx) {
  const pk = ctx.productKey;
  const page = Number(ctx.query.page) || 1;
  const online = ctx.query.online || '';
  const tagQ = ctx.query.tag || '', groupQ = ctx.query.group || '';
  const head = el('h1', t('devicesTitle', { name: pk }));
  const sub = el('p.muted', el('span', `${t('productKey')}: `), el('code', pk));
  const list = el('div', el('p.muted', t('loading')));
  const go = (p, o, tg = tagQ, gr = groupQ) => ctx.navigate(`#/products/${encodeURIComponent(pk)}?page=${p}${o ? `&online=${o}` : ''}`
    + `${tg ? `&tag=${encodeURIComponent(tg)}` : ''}${gr ? `&group=${encodeURIComponent(gr)}` : ''}`);
  const tagIn = el('input', { id: 'tag-filter', value: tagQ, placeholder: 'hw=v2', autocomplete: 'off', spellcheck: false });
  const groupIn = el('input', { id: 'group-filter', value: groupQ, autocomplete: 'off', spellcheck: false });
  const applyFilter = el('button.btn.small', { type: 'button', id: 'apply-filter', on: { click: () => go(1, online, tagIn.value.trim(), groupIn.value.trim()) } }, t('filterApply'));
  for (const i of [tagIn, groupIn]) i.addEventListener('keydown', (e) => { if (e.key === 'Enter') { e.preventDefault(); applyFilter.click(); } });
  const filter = el('select', { id: 'online-filter', on: { change: (e) => go(1, e.target.value) } },
    el('option', { value: '' }, t('all')),
    el('option', { value: 'true', selected: online === 'true' }, t('online')),
    el('option', { value: 'false', selected: online === 'false' }, t('offline')));
  ctx.setTitle(t('devicesTitle', { name: pk }));
  main.append(
    el('p.crumbs', el('a', { href: '#/products' }, `‹ ${t('productsTitle')}`)),
    el('div.page-head', head,
      el('div.page-actions',
        el('button.btn', { type: 'button', id: 'import-devices', on: { click: () => importDevices(pk, () => go(1, online)) } }, t('importDevices')),
        el('button.btn.primary', { type: 'button', id: 'register-device', on: { click: () => registerDevice(pk, () => go(1, online)) } }, t('registerDevice')))),
    sub,
    el('div.toolbar', el('label', { for: 'online-filter' }, t('filterOnline')), filter,
      el('label', { for: 'tag-filter' }, t('filterTag')), tagIn,
      el('label', { for: 'group-filter' }, t('filterGroup')), groupIn, applyFilter),
    list);
  const groupsBox = el('section#groups');
  const keysBox = el('section#signing-keys');
  main.append(groupsBox, keysBox);
  renderGroups(groupsBox, pk, ctx, (name) => go(1, online, '', name));
  renderSigningKeys(keysBox, pk, ctx);

  (async () => {
    try {
      const prod = await get(`/products/${encodeURIComponent(pk)}`).catch(() => null);
      if (prod && ctx.alive()) {
        head.textContent = t('devicesTitle', { name: prod.productName || pk });
        ctx.setTitle(head.textContent);
      }
      const res = await get(`/products/${encodeURIComponent(pk)}/devices`, { page, pageSize: 20, online, tag: tagQ, group: groupQ });
      if (!ctx.alive()) return;
      clear(list).append(
        table([
          { label: t('identifier'), cell: (d) => el('code', d.identifier) },
          { label: t('deviceName'), cell: (d) => d.deviceName || '' },
          { label: t('activated'), cell: (d) => (d.activated ? badge(t('activated'), 'ok') : badge(t('notActivated'), 'muted')) },
          { label: t('onlineState'), cell: (d) => (d.online ? badge(t('online'), 'ok') : badge(t('offline'), 'muted')) },
          { label: t('firmwareVersionCol'), cell: (d) => d.firmwareVersion || '—' },
          { label: t('tags'), cell: (d) => tagChips(d.tags) },
          {
            label: t('actions'),
            cls: 'actions',
            cell: (d) => [
              el('button.link', { type: 'button', 'data-action': 'tags', on: { click: () => editTags(pk, d, () => go(page, online)) } }, t('editTags')),
              el('button.link', { type: 'button', 'data-action': 'attributes', on: { click: () => showAttributes(pk, d) } }, t('viewAttributes')),
            ],
          },
        ], res.items || [], { caption: t('devices'), rowAttrs: (d) => ({ 'data-device': d.identifier }) }),
        pager(res, (p) => go(p, online)));
    } catch (e) {
      if (ctx.alive()) clear(list).append(errorBox(e));
    }
  })();
}

// What a hawkBit DDI device sent as configData (docs/ddi.md): read from the device's own
// GET, shown as a key/value table, or a line saying it sent none.
function showAttributes(pk, d) {
  openDialog({ title: t('attributesTitle', { id: d.identifier }) }, () => {
    const body = el('div', el('p.muted', t('loading')));
    (async () => {
      try {
        const full = await get(`/products/${encodeURIComponent(pk)}/devices/${encodeURIComponent(d.identifier)}`);
        const rows = Object.entries(full.attributes || {}).map(([k, v]) => ({ k, v }));
        clear(body).append(rows.length
          ? table([
            { label: t('attributeKey'), cell: (r) => el('code', r.k) },
            { label: t('attributeValue'), cell: (r) => r.v },
          ], rows, { caption: t('attributes') })
          : el('p.muted', t('noAttributes')));
        if (full.attributesTime) body.append(el('p.muted', `${t('attributesTime')}: ${new Date(full.attributesTime).toLocaleString()}`));
      } catch (e) {
        clear(body).append(errorBox(e));
      }
    })();
    return body;
  });
}

function registerDevice(pk, refresh) {
  let changed = false;
  // the list is refreshed once the dialog (and the secret in it) is closed
  openDialog({ title: t('registerDevice') }, (close) => {
    const body = el('div');
    const ident = el('input', { name: 'identifier', required: true, maxLength: 64, autocomplete: 'off', spellcheck: false });
    const name = el('input', { name: 'deviceName', maxLength: 64, autocomplete: 'off' });
    const fId = field({ label: t('identifier'), input: ident, help: t('identifierRule'), required: true });
    const fName = field({ label: t('deviceName'), input: name, help: t('deviceNameRule') });
    const submit = el('button.btn.primary', { type: 'submit' }, t('create'));
    const form = el('form', {
      novalidate: true,
      on: {
        submit: async (e) => {
          e.preventDefault();
          setFieldError(fId, ''); setFieldError(fName, '');
          const bad = identRule(ident.value.trim());
          if (bad) { setFieldError(fId, t(bad)); ident.focus(); return; }
          submit.disabled = true;
          try {
            const d = await post(`/products/${encodeURIComponent(pk)}/devices`, { identifier: ident.value.trim(), deviceName: name.value.trim() });
            changed = true;
            showSecret(body, pk, d, close);
          } catch (err) {
            setFieldError(err.field === 'deviceName' ? fName : fId, errorText(err));
          } finally {
            submit.disabled = false;
          }
        },
      },
    }, fId, fName,
    el('div.dialog-actions',
      el('button.btn', { type: 'button', on: { click: () => close() } }, t('cancel')),
      submit));
    body.append(form);
    return body;
  }).then(() => { if (changed) refresh(); });
}

function showSecret(body, pk, d, close) {
  const secret = el('input.mono', { id: 'device-secret', readOnly: true, value: d.deviceSecret || '' });
  const copyBtn = el('button.btn', {
    type: 'button', id: 'copy-secret',
    on: {
      click: async () => {
        const ok = await copyText(secret.value);
        if (!ok) { secret.select(); return; }
        copyBtn.textContent = t('copied');
        setTimeout(() => { copyBtn.textContent = t('copy'); }, 2000);
      },
    },
  }, t('copy'));
  const done = el('button.btn.primary', { type: 'button', on: { click: () => close(d) } }, t('ok'));
  clear(body).append(
    el('div.alert.success', { role: 'status' }, `${t('deviceRegistered')}: `, el('code', d.identifier)),
    el('p', t('secretOnce', { user: `${pk}.${d.identifier}` })),
    el('div.field', el('label', { for: 'device-secret' }, t('deviceSecret')), el('div.input-row', secret, copyBtn)),
    el('div.dialog-actions', done));
  secret.focus();
  secret.select();
}

function importDevices(pk, refresh) {
  openDialog({ title: t('importDevices') }, (close) => {
    let parsed = null;
    const file = el('input', { type: 'file', name: 'file', accept: '.ndjson,.jsonl,.json,.txt,application/x-ndjson' });
    const fFile = field({ label: t('importFile'), input: file, help: t('importHelp'), required: true });
    const info = el('p.muted', { 'aria-live': 'polite' });
    const submit = el('button.btn.primary', { type: 'submit' }, t('importDevices'));
    file.addEventListener('change', async () => {
      setFieldError(fFile, ''); info.textContent = ''; parsed = null;
      const f = file.files[0];
      if (!f) return;
      // Files up to 32 MB are checked line by line here; bigger ones (large fleets) go as they are
      // and the server's all-or-nothing answer names the problem.
      if (f.size <= 32 * 1024 * 1024) {
        const r = parseDeviceNdjson(await f.text());
        if (r.error) { setFieldError(fFile, t(r.error, { line: r.line })); return; }
        parsed = r.devices.length;
        info.textContent = t('importLines', { n: fmtNum(parsed) });
      } else {
        parsed = -1;
      }
    });
    return el('form', {
      novalidate: true,
      on: {
        submit: async (e) => {
          e.preventDefault();
          if (!file.files[0]) { setFieldError(fFile, t('required')); file.focus(); return; }
          if (!parsed) { file.focus(); return; }
          submit.disabled = true;
          info.textContent = t('importing');
          try {
            const res = await request('POST', `/products/${encodeURIComponent(pk)}/devices:import`, {
              body: file.files[0], headers: { 'Content-Type': 'application/x-ndjson' },
            });
            toast(t('importDone', { n: fmtNum(res?.created ?? parsed) }), 'success');
            close(res);
            refresh();
          } catch (err) {
            info.textContent = '';
            setFieldError(fFile, errorText(err));
          } finally {
            submit.disabled = false;
          }
        },
      },
    }, fFile, info,
    el('div.dialog-actions',
      el('button.btn', { type: 'button', on: { click: () => close() } }, t('cancel')),
      submit));
  });
}
