// The attributes a hawkBit DDI device sent (docs/ddi.md) in the console (docs/console.md),
// against the real otad and broker: a device registered, its configData put with its
// TargetToken as SWUpdate does, then the device list's "属性" dialog shows them, a device
// that sent none says so; the same dialog in English.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startEnv, api } from '../lib/env.mjs';
import { launch, shot } from '../lib/browser.mjs';

const STEP_MS = 300000;
let env, b, page;
let failed = false;

before(async () => {
  env = await startEnv();
  b = await launch();
  page = b.page;
}, { timeout: STEP_MS });

after(async () => {
  if (b) await b.close();
  if (env) {
    if (failed) console.error(env.logs());
    await env.stop({ keep: failed });
  }
}, { timeout: STEP_MS });

const dialog = () => page.locator('dialog[open]');

test('a DDI device\'s attributes in the device list', { timeout: STEP_MS }, async (t) => {
  if (env.mock) { t.skip('DDI is the real server\'s'); return; }
  try {
    const p = await api(env, 'POST', '/products', { productName: 'DDI产品' });
    const pk = p.body.productKey;
    const d = await api(env, 'POST', `/products/${pk}/devices`, { identifier: 'sw-1', deviceName: 'gateway' });
    assert.equal(d.status, 201);
    await api(env, 'POST', `/products/${pk}/devices`, { identifier: 'sw-2', deviceName: 'quiet' });
    // configData as SWUpdate sends it
    const put = await fetch(`${env.baseUrl}/${pk}/controller/v1/sw-1/configData`, {
      method: 'PUT',
      headers: { Authorization: `TargetToken ${d.body.deviceSecret}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ id: '', time: '20261202T134752', status: { result: { finished: 'success' }, execution: 'closed', details: [''] }, data: { hw: 'board 1.0', serial: 'A-17' } }),
    });
    assert.equal(put.status, 200);

    await page.goto(`${env.baseUrl}/`);
    await page.getByLabel('管理员令牌').fill(env.token);
    await page.getByRole('button', { name: '使用令牌登录', exact: true }).click();
    await page.getByRole('heading', { name: '固件升级', level: 1 }).waitFor();
    await page.goto(`${env.baseUrl}/#/products/${pk}`);
    await page.locator('tbody tr[data-device=sw-1]').getByRole('button', { name: '属性' }).click();
    await dialog().getByText('sw-1 的属性').waitFor();
    await dialog().getByRole('cell', { name: 'board 1.0' }).waitFor();
    await dialog().getByRole('cell', { name: 'A-17' }).waitFor();
    await dialog().getByText('上报时间').waitFor();
    await shot(page, 'ddi-01-attributes');
    await dialog().getByRole('button', { name: '关闭' }).click();
    await page.locator('tbody tr[data-device=sw-2]').getByRole('button', { name: '属性' }).click();
    await dialog().getByText('该设备尚未上报属性').waitFor();
    await dialog().getByRole('button', { name: '关闭' }).click();

    // the same in English
    await page.getByRole('button', { name: 'Switch to English' }).click();
    await page.locator('tbody tr[data-device=sw-1]').getByRole('button', { name: 'Attributes' }).click();
    await dialog().getByText('Attributes of sw-1').waitFor();
    await dialog().getByRole('cell', { name: 'board 1.0' }).waitFor();
    await shot(page, 'ddi-02-attributes-en');
  } catch (e) {
    failed = true;
    await shot(page, 'ddi-failed').catch(() => {});
    throw e;
  }
});
