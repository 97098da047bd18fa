// Products: list and create. A product's row links to its devices.

import { t, fmtTime } from '../i18n.js';
import { get, post } from '../api.js';
import { el, clear, table, pager, openDialog, field, setFieldError, errorBox, errorText, toast } from '../ui.js';

export function renderProducts(main, ctx) {
  ctx.setTitle(t('productsTitle'));
  const page = Number(ctx.query.page) || 1;
  const list = el('div', el('p.muted', t('loading')));
  main.append(
    el('div.page-head',
      el('h1', t('productsTitle')),
      el('div.page-actions', el('button.btn.primary', { type: 'button', id: 'add-product', on: { click: () => addProduct(ctx) } }, t('addProduct')))),
    el('p.muted', t('productsHelp')),
    list);

  (async () => {
    try {
      const res = await get('/products', { page, pageSize: 20 });
      if (!ctx.alive()) return;
      clear(list).append(
        table([
          { label: t('productName'), cell: (p) => el('a', { href: `#/products/${encodeURIComponent(p.productKey)}` }, p.productName || p.productKey) },
          { label: t('productKey'), cell: (p) => el('code', p.productKey) },
          { label: t('description'), cell: (p) => p.description || '' },
          { label: t('deviceCount'), cls: 'num', cell: (p) => (p.deviceCount ?? '—') },
          { label: t('firmwareCount'), cls: 'num', cell: (p) => (p.firmwareCount ?? '—') },
          { label: t('createdTime'), cell: (p) => fmtTime(p.createdTime) },
          { label: t('actions'), cls: 'actions', cell: (p) => el('a.btn.small', { href: `#/products/${encodeURIComponent(p.productKey)}` }, t('viewDevices')) },
        ], res.items || [], { caption: t('productsTitle') }),
        pager(res, (p) => ctx.navigate(`#/products?page=${p}`)));
    } catch (e) {
      if (ctx.alive()) clear(list).append(errorBox(e));
    }
  })();
}

function addProduct(ctx) {
  openDialog({ title: t('addProduct') }, (close) => {
    const name = el('input', { name: 'productName', required: true, maxLength: 64, autocomplete: 'off' });
    const desc = el('textarea', { name: 'description', rows: 3, maxLength: 200 });
    const fName = field({ label: t('productName'), input: name, required: true });
    const fDesc = field({ label: t('description'), input: desc });
    const submit = el('button.btn.primary', { type: 'submit' }, t('create'));
    return el('form', {
      novalidate: true,
      on: {
        submit: async (e) => {
          e.preventDefault();
          setFieldError(fName, ''); setFieldError(fDesc, '');
          if (!name.value.trim()) { setFieldError(fName, t('required')); name.focus(); return; }
          submit.disabled = true;
          try {
            const p = await post('/products', { productName: name.value.trim(), description: desc.value });
            toast(t('productCreated', { pk: p.productKey }), 'success');
            close(p);
            ctx.navigate('#/products');
          } catch (err) {
            const target = err.field === 'description' ? fDesc : fName;
            setFieldError(target, errorText(err));
          } finally {
            submit.disabled = false;
          }
        },
      },
    }, fName, fDesc,
    el('div.dialog-actions',
      el('button.btn', { type: 'button', on: { click: () => close() } }, t('cancel')),
      submit));
  });
}
