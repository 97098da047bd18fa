// Firmware list (固件升级首页): name, product, version, size, MD5, signed state and key, created; filter by product;
// actions 批量升级 (batch upgrade dialog), 批次查看 (batch list), 删除 (409 firmware_in_use shown plainly).

import { t, fmtTime, fmtSize } from '../i18n.js';
import { get, del } from '../api.js';
import { el, clear, table, pager, errorBox, errorText, toast, confirmDialog, openDialog, badge } from '../ui.js';
import { openAddFirmware } from './firmware-add.js';
import { openBatchCreate } from './batch-create.js';

/** All products (for names and pickers); up to 1000, which the API allows in one page. */
export async function loadProducts() {
  const res = await get('/products', { page: 1, pageSize: 1000 });
  return res.items || [];
}

export function renderFirmwares(main, ctx) {
  ctx.setTitle(t('firmwaresTitle'));
  const page = Number(ctx.query.page) || 1;
  const pk = ctx.query.productKey || '';
  const go = (p, k) => ctx.navigate(`#/firmwares?page=${p}${k ? `&productKey=${encodeURIComponent(k)}` : ''}`);
  const list = el('div', el('p.muted', t('loading')));
  const filter = el('select', { id: 'product-filter', on: { change: (e) => go(1, e.target.value) } },
    el('option', { value: '' }, t('allProducts')));
  let products = [];
  const addBtn = el('button.btn.primary', {
    type: 'button', id: 'add-firmware',
    on: { click: () => openAddFirmware(products, pk, () => go(1, pk)) },
  }, t('addFirmware'));
  main.append(
    el('div.page-head', el('h1', t('firmwaresTitle')), el('div.page-actions', addBtn)),
    el('p.muted', t('firmwaresHelp')),
    el('div.toolbar', el('label', { for: 'product-filter' }, t('product')), filter),
    list);

  (async () => {
    try {
      products = await loadProducts();
      if (!ctx.alive()) return;
      for (const p of products) {
        filter.append(el('option', { value: p.productKey, selected: p.productKey === pk }, `${p.productName} (${p.productKey})`));
      }
      const names = Object.fromEntries(products.map((p) => [p.productKey, p.productName]));
      const res = await get('/firmwares', { page, pageSize: 20, productKey: pk });
      if (!ctx.alive()) return;
      const rows = res.items || [];
      clear(list);
      if (products.length === 0) list.append(el('div.alert.info', t('noProductsYet'), ' ', el('a', { href: '#/products' }, t('navProducts'))));
      list.append(
        table([
          { label: t('firmwareName'), cell: (f) => [el('div.strong', f.firmwareName), el('div.sub.muted', `${t('firmwareId')} ${f.firmwareId}`)] },
          { label: t('product'), cell: (f) => names[f.productKey] || f.productKey },
          { label: t('firmwareVersion'), cell: (f) => el('code', f.firmwareVersion) },
          { label: t('firmwareSize'), cls: 'num', cell: (f) => el('span', { title: `${f.firmwareSize} B` }, fmtSize(f.firmwareSize)) },
          { label: t('md5'), cell: (f) => el('code.md5', f.md5 || '') },
          { label: t('signedCol'), cell: (f) => (f.signed ? badge(`✓ ${f.keyId}`, 'ok') : badge(t('unsigned'), 'muted')) },
          { label: t('createdTime'), cell: (f) => fmtTime(f.createdTime) },
          {
            label: t('actions'),
            cls: 'actions',
            cell: (f) => el('div.row-actions',
              el('button.link', { type: 'button', 'data-action': 'upgrade', on: { click: () => openBatchCreate(f, ctx) } }, t('batchUpgrade')),
              el('a.link', { href: `#/batches?firmwareId=${encodeURIComponent(f.firmwareId)}`, 'data-action': 'batches' }, t('viewBatches')),
              el('button.link.danger', { type: 'button', 'data-action': 'delete', on: { click: () => deleteFirmware(f, () => go(page, pk)) } }, t('delete'))),
          },
        ], rows, { caption: t('firmwaresTitle'), rowAttrs: (f) => ({ 'data-firmware-id': f.firmwareId, 'data-name': f.firmwareName }) }),
        pager(res, (p) => go(p, pk)));
    } catch (e) {
      if (ctx.alive()) clear(list).append(errorBox(e));
    }
  })();
}

async function deleteFirmware(f, refresh) {
  const ok = await confirmDialog(t('deleteFirmwareTitle'),
    t('deleteFirmwareConfirm', { name: f.firmwareName, version: f.firmwareVersion }), t('delete'), true);
  if (!ok) return;
  try {
    await del(`/firmwares/${encodeURIComponent(f.firmwareId)}`);
    toast(t('firmwareDeleted'), 'success');
    refresh();
  } catch (e) {
    if (e.status === 409 && e.code === 'firmware_in_use') {
      await confirmInfo(t('deleteFirmwareTitle'), t('firmwareInUse'));
    } else {
      toast(errorText(e), 'error');
    }
  }
}

// A plain message the user must acknowledge (the refusal is not a passing toast).
function confirmInfo(title, message) {
  return openDialog({ title }, (close) => [
    el('div.alert.error', { role: 'alert', id: 'delete-refused' }, message),
    el('div.dialog-actions', el('button.btn.primary', { type: 'button', autofocus: true, on: { click: () => close() } }, t('ok'))),
  ]);
}
