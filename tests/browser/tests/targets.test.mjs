// Tags, groups and a batch target in the console (docs/console.md) against the real otad and
// broker: a device's tags edited in its dialog (a bad one refused in the page), a group created
// and filled, the device list filtered by tag and by group, the batch dialog's target section
// with its live count of matching devices, a continuous filtered batch created there, and a
// device that gets the tag afterwards and connects joining it; the same section in English.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { startEnv, api } from '../lib/env.mjs';
import { launch, shot } from '../lib/browser.mjs';
import { Device } from '../lib/device.mjs';

const STEP_MS = 300000;
const T = 20000;
let env, b, page;
let failed = false;
const devices = [];

before(async () => {
  env = await startEnv();
  b = await launch();
  page = b.page;
}, { timeout: STEP_MS });

after(async () => {
  for (const d of devices) await d.close?.().catch(() => {});
  if (b) await b.close();
  if (env) {
    if (failed) console.error(env.logs());
    await env.stop({ keep: failed });
  }
}, { timeout: STEP_MS });

const dialog = () => page.locator('dialog[open]');

async function device(pk, id, connect) {
  const r = await api(env, 'POST', `/products/${pk}/devices`, { identifier: id, deviceName: id });
  assert.equal(r.status, 201);
  const d = new Device({ port: env.mqttPort, productKey: pk, identifier: id, secret: r.body.deviceSecret, version: '1.0.0' });
  if (connect) { await d.connect(); devices.push(d); }
  return d;
}

async function waitFor(what, fn) {
  const end = Date.now() + T;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('tags, groups and a continuous filtered batch in the console', { timeout: STEP_MS }, async (t) => {
  if (env.mock) { t.skip('targets are the real server\'s'); return; }
  try {
    const p = await api(env, 'POST', '/products', { productName: '标签产品' });
    const pk = p.body.productKey;
    for (const id of ['d1', 'd2', 'd3']) await device(pk, id, true);
    const late = await device(pk, 'd4', false);
    await waitFor('three activated devices', async () =>
      (await api(env, 'GET', `/products/${pk}/devices?online=true`)).body.total === 3);
    await api(env, 'PUT', `/products/${pk}/devices/d2/tags`, { tags: { hw: 'v2' } });
    const form = new FormData();
    form.set('firmwareName', '标签固件');
    form.set('productKey', pk);
    form.set('firmwareVersion', '2.0.0');
    form.set('file', new Blob([crypto.randomBytes(3000)]), 'tag_fw.bin');
    const up = await fetch(`${env.baseUrl}/api/v1/firmwares`, { method: 'POST', headers: { Authorization: `Bearer ${env.token}` }, body: form });
    assert.equal(up.status, 201);

    await page.goto(`${env.baseUrl}/`);
    await page.getByLabel('管理员令牌').fill(env.token);
    await page.getByRole('button', { name: '使用令牌登录', exact: true }).click();
    await page.getByRole('heading', { name: '固件升级', level: 1 }).waitFor();

    // a device's tags: refused in the page, then saved and shown
    await page.goto(`${env.baseUrl}/#/products/${pk}`);
    const d1 = page.locator('tbody tr[data-device=d1]');
    await d1.getByRole('button', { name: '编辑标签' }).click();
    await dialog().getByLabel('标签').fill('hw=v2\nsite north');
    await dialog().getByRole('button', { name: '保存' }).click();
    await dialog().getByText('“site”不是合法的 键=值。').waitFor();
    await dialog().getByLabel('标签').fill('hw=v2\nsite=north');
    await dialog().getByRole('button', { name: '保存' }).click();
    await page.locator('.toast', { hasText: '标签已保存。' }).waitFor();
    await d1.getByText('site=north').waitFor();
    assert.deepEqual((await api(env, 'GET', `/products/${pk}/devices/d1`)).body.tags, { hw: 'v2', site: 'north' });

    // a group, filled from its dialog
    await page.getByRole('button', { name: '创建分组' }).click();
    await dialog().getByLabel('分组名称').fill('lab one');
    await dialog().getByRole('button', { name: '创建' }).click();
    await dialog().getByText('分组名为 1~64 个字符').first().waitFor();
    await dialog().getByLabel('分组名称').fill('lab');
    await dialog().getByRole('button', { name: '创建' }).click();
    const lab = page.locator('#groups tbody tr[data-group=lab]');
    await lab.waitFor();
    await lab.getByRole('button', { name: '添加设备' }).click();
    await dialog().getByLabel('设备标识').fill('d2, d3');
    await dialog().getByRole('button', { name: '添加设备' }).click();
    await page.locator('.toast', { hasText: '2 台设备已更新。' }).waitFor();
    await waitFor('the group shows 2 devices', async () => (await lab.locator('td').nth(1).textContent()).trim() === '2');
    await shot(page, 'targets-01-tags-groups');

    // the device list by tag, then by group
    await page.locator('#tag-filter').fill('hw=v2');
    await page.getByRole('button', { name: '筛选', exact: true }).click();
    await waitFor('d1 and d2 listed by tag', async () => (await page.locator('tbody tr[data-device]').count()) === 2
      && (await page.locator('tbody tr[data-device=d3]').count()) === 0);
    await lab.getByRole('button', { name: '查看设备' }).click();
    await waitFor('d2 and d3 listed by group', async () => (await page.locator('tbody tr[data-device]').count()) === 2
      && (await page.locator('tbody tr[data-device=d1]').count()) === 0);

    // the batch dialog's target: a live count, then a continuous batch
    await page.goto(`${env.baseUrl}/#/firmwares`);
    await page.locator('tbody tr', { hasText: '标签固件' }).getByRole('button', { name: '批量升级' }).click();
    await dialog().getByText('高级设置').click();
    const target = dialog().locator('#batch-target');
    await target.getByLabel('设备标签').fill('hw=v2');
    await target.getByText('匹配设备 2 台，其中可升级 2 台').waitFor();
    await target.getByLabel('lab (2)').check();
    await target.getByText('匹配设备 1 台，其中可升级 1 台').waitFor();
    await target.getByLabel('lab (2)').uncheck();
    await target.getByLabel('待升级版本').fill('1.0.0, 1.0+b');
    await dialog().getByRole('button', { name: '创建批次' }).click();
    await target.getByText('“1.0+b”不是合法的固件版本。').waitFor();
    await target.getByLabel('待升级版本').fill('1.0.0');
    await target.getByText('匹配设备 2 台，其中可升级 2 台').waitFor();
    await target.getByLabel('持续升级').check();
    await shot(page, 'targets-02-batch-target');
    await dialog().getByRole('button', { name: '创建批次' }).click();
    await page.waitForURL(/#\/batches\/[^/?]+$/, { timeout: T });
    const batchId = decodeURIComponent(page.url().split('#/batches/')[1]);
    const bj = (await api(env, 'GET', `/batches/${batchId}`)).body;
    assert.equal(bj.scope, 'filter');
    assert.equal(bj.continuous, true);
    assert.deepEqual(bj.filter, { tags: { hw: 'v2' } });
    assert.deepEqual(bj.fromVersions, ['1.0.0']);
    assert.equal(bj.total, 2);
    const facts = await page.locator('dl.facts div[data-key=target]').textContent();
    for (const x of ['设备标签: hw=v2', '待升级版本: 1.0.0', '持续升级']) assert.ok(facts.includes(x), `${x} in ${facts}`);

    // a device tagged afterwards that connects for the first time joins it
    await api(env, 'PUT', `/products/${pk}/devices/d4/tags`, { tags: { hw: 'v2' } });
    await late.connect();
    devices.push(late);
    await page.locator('tbody tr[data-identifier=d4]').waitFor({ timeout: T });
    assert.equal((await api(env, 'GET', `/batches/${batchId}`)).body.total, 3);

    // English
    await page.getByRole('button', { name: 'Switch to English' }).click();
    await page.goto(`${env.baseUrl}/#/firmwares`);
    await page.locator('tbody tr', { hasText: '标签固件' }).getByRole('button', { name: 'Batch upgrade' }).click();
    await dialog().getByText('Advanced').click();
    await dialog().locator('#batch-target').getByRole('heading', { name: 'Target' }).waitFor();
    await dialog().locator('#batch-target').getByLabel('Device tags').fill('site=north');
    await dialog().locator('#batch-target').getByText('1 devices match, 0 of them can be upgraded').waitFor();
    await shot(page, 'targets-03-target-en');
  } catch (e) {
    failed = true;
    await shot(page, 'FAILED-targets').catch(() => {});
    throw e;
  }
});
