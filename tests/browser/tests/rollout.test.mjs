// Phases, brakes and time in the console (docs/console.md) against the real otad and broker:
// the batch dialog's rollout section (a canary device, the phases after it, a maintenance
// window), a phase not yet allowed refused in the page, the batch detail with its phases,
// pause with the reason shown and resume.

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

async function waitFor(what, fn) {
  const end = Date.now() + T;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const hhmm = (d) => `${String(d.getUTCHours()).padStart(2, '0')}:${String(d.getUTCMinutes()).padStart(2, '0')}`;

test('a phased batch with a window, paused and resumed in the console', { timeout: STEP_MS }, async (t) => {
  if (env.mock) { t.skip('phases are the real server\'s'); return; }
  try {
    const p = await api(env, 'POST', '/products', { productName: '分阶段产品' });
    const pk = p.body.productKey;
    for (const id of ['d1', 'd2', 'd3']) {
      const r = await api(env, 'POST', `/products/${pk}/devices`, { identifier: id, deviceName: id });
      const d = new Device({ port: env.mqttPort, productKey: pk, identifier: id, secret: r.body.deviceSecret, version: '1.0.0' });
      await d.connect();
      devices.push(d);
    }
    await waitFor('three activated devices', async () =>
      (await api(env, 'GET', `/products/${pk}/devices?online=true`)).body.total === 3);
    const form = new FormData();
    form.set('firmwareName', '分阶段固件');
    form.set('productKey', pk);
    form.set('firmwareVersion', '2.0.0');
    form.set('file', new Blob([crypto.randomBytes(3000)]), 'phase_fw.bin');
    const up = await fetch(`${env.baseUrl}/api/v1/firmwares`, { method: 'POST', headers: { Authorization: `Bearer ${env.token}` }, body: form });
    assert.equal(up.status, 201);

    await page.goto(`${env.baseUrl}/`);
    await page.getByLabel('管理员令牌').fill(env.token);
    await page.getByRole('button', { name: '使用令牌登录', exact: true }).click();
    await page.getByRole('heading', { name: '固件升级', level: 1 }).waitFor();

    await page.goto(`${env.baseUrl}/#/firmwares`);
    await page.locator('tbody tr', { hasText: '分阶段固件' }).getByRole('button', { name: '批量升级' }).click();
    await dialog().getByText('高级设置').click();
    const ro = dialog().locator('#batch-rollout');
    await ro.getByLabel('金丝雀设备').fill('d1');
    await ro.getByLabel('发布阶段').fill('100% x');
    await dialog().getByRole('button', { name: '创建批次' }).click();
    await ro.getByText('无法识别的阶段：x').waitFor();
    await ro.getByLabel('发布阶段').fill('100%');
    await ro.getByLabel('观察时间（分钟）').fill('30');
    // a window open now, in UTC
    await ro.getByLabel('维护窗口开始').fill(hhmm(new Date(Date.now() - 60000)));
    await ro.getByLabel('窗口时长（分钟）').fill('30');
    await ro.getByLabel('时区').fill('UTC');
    await shot(page, 'rollout-01-dialog');
    await dialog().getByRole('button', { name: '创建批次' }).click();
    await page.waitForURL(/#\/batches\/[^/?]+$/, { timeout: T });
    const batchId = decodeURIComponent(page.url().split('#/batches/')[1]);
    const bj = (await api(env, 'GET', `/batches/${batchId}`)).body;
    assert.deepEqual(bj.rollout.phases[0].identifiers, ['d1']);
    assert.equal(bj.rollout.phases[1].percent, 100);
    assert.equal(bj.rollout.phases[0].soakMinutes, 30);
    assert.equal(bj.windows[0].timeZone, 'UTC');
    assert.equal(bj.windows[0].durationMinutes, 30);

    // the detail: two phases, the second waiting for the canary
    const rows = page.locator('section.phases tbody tr');
    await waitFor('two phase rows', async () => (await rows.count()) === 2);
    assert.equal(await page.locator('section.phases tbody tr[data-phase="2"]').getAttribute('data-state'), 'waiting');
    assert.equal((await page.locator('section.phases tbody tr[data-phase="2"] td').nth(1).textContent()).trim(), '2');

    // pause: the reason is shown; resume
    await page.getByRole('button', { name: '暂停', exact: true }).click();
    await page.locator('.toast', { hasText: '批次已暂停。' }).waitFor();
    await page.locator('dl.facts div[data-key=pauseReason]', { hasText: '手动暂停' }).waitFor({ timeout: T });
    assert.equal((await api(env, 'GET', `/batches/${batchId}`)).body.state, 'paused');
    await shot(page, 'rollout-02-paused');
    await page.getByRole('button', { name: '继续', exact: true }).click();
    await page.locator('.toast', { hasText: '批次已继续。' }).waitFor();
    await waitFor('in progress again', async () => (await api(env, 'GET', `/batches/${batchId}`)).body.state === 'in_progress');
    await page.getByRole('button', { name: '暂停', exact: true }).waitFor({ timeout: T });

    // English
    await page.evaluate(() => localStorage.setItem('ota.lang', 'en'));
    await page.reload();
    await page.locator('section.phases h2', { hasText: 'Phases' }).waitFor({ timeout: T });
    await page.getByRole('button', { name: 'Pause', exact: true }).waitFor();
  } catch (e) {
    failed = true;
    await shot(page, 'rollout-failed').catch(() => {});
    throw e;
  }
});
