// Phases, brakes and time in the console (docs/console.md) against the real otad and broker:
// the batch dialog's rollout section (a canary device, the phases after it, a maintenance
// window), a phase not yet allowed refused in the page, the batch detail with its phases,
// pause with the reason shown and resume; a batch with two brakes and two windows added as rows,
// shown in its detail as the API has them.

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

// a firmware 2.0.0 of product pk, through the API
async function uploadFirmware(pk, name, file) {
  const form = new FormData();
  form.set('firmwareName', name);
  form.set('productKey', pk);
  form.set('firmwareVersion', '2.0.0');
  form.set('file', new Blob([crypto.randomBytes(3000)]), file);
  const up = await fetch(`${env.baseUrl}/api/v1/firmwares`, { method: 'POST', headers: { Authorization: `Bearer ${env.token}` }, body: form });
  assert.equal(up.status, 201);
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
    await uploadFirmware(pk, '分阶段固件', 'phase_fw.bin');

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

test('two brakes and two windows as rows of the dialog, in the detail and the API', { timeout: STEP_MS }, async (t) => {
  if (env.mock) { t.skip('phases are the real server\'s'); return; }
  try {
    const p = await api(env, 'POST', '/products', { productName: '多规则产品' });
    const pk = p.body.productKey;
    const r = await api(env, 'POST', `/products/${pk}/devices`, { identifier: 'm1', deviceName: 'm1' });
    const d = new Device({ port: env.mqttPort, productKey: pk, identifier: 'm1', secret: r.body.deviceSecret, version: '1.0.0' });
    await d.connect();
    devices.push(d);
    await waitFor('an activated device', async () =>
      (await api(env, 'GET', `/products/${pk}/devices?online=true`)).body.total === 1);
    await uploadFirmware(pk, '多规则固件', 'rules_fw.bin');

    // the test before ends in English
    await page.evaluate(() => localStorage.setItem('ota.lang', 'zh'));
    await page.goto(`${env.baseUrl}/#/firmwares`);
    await page.reload();
    await page.locator('tbody tr', { hasText: '多规则固件' }).getByRole('button', { name: '批量升级' }).click();
    await dialog().getByText('高级设置').click();
    const ro = dialog().locator('#batch-rollout');
    const brake = (n) => ro.locator(`.brake-row[data-row="${n}"]`);
    const win = (n) => ro.locator(`.window-row[data-row="${n}"]`);
    // one row of each at first, nothing to remove
    assert.equal(await ro.locator('.brake-row').count(), 1);
    assert.equal(await brake(1).getByRole('button', { name: '移除此规则' }).isHidden(), true);
    // three brake rows, the middle one removed: two are left, renumbered
    await ro.getByRole('button', { name: '+ 添加刹车规则' }).click();
    await ro.getByRole('button', { name: '+ 添加刹车规则' }).click();
    assert.equal(await ro.locator('.brake-row').count(), 3);
    await brake(2).getByLabel('失败比例阈值（%）').fill('99');
    await brake(2).getByRole('button', { name: '移除此规则' }).click();
    assert.equal(await ro.locator('.brake-row').count(), 2);
    await brake(1).getByLabel('失败原因').selectOption('flash_failed');
    await brake(1).getByLabel('失败比例阈值（%）').fill('20');
    await brake(1).getByLabel('最少完成设备数').fill('5');
    await brake(2).getByLabel('失败原因').selectOption('any');
    await brake(2).getByLabel('失败比例阈值（%）').fill('50');
    await brake(2).getByLabel('动作').selectOption('abort');
    // a second brake without its threshold is refused in the page first
    await brake(2).getByLabel('失败比例阈值（%）').fill('');
    await dialog().getByRole('button', { name: '创建批次' }).click();
    await brake(2).locator('.field-error', { hasText: /\S/ }).waitFor();
    await brake(2).getByLabel('失败比例阈值（%）').fill('50');

    await ro.getByRole('button', { name: '+ 添加维护窗口' }).click();
    assert.equal(await ro.locator('.window-row').count(), 2);
    await win(1).getByLabel('维护窗口开始').fill('02:00');
    await win(1).getByLabel('窗口时长（分钟）').fill('60');
    await win(1).getByLabel('时区').fill('Asia/Shanghai');
    await win(2).getByLabel('维护窗口开始').fill('14:30');
    await win(2).getByLabel('窗口时长（分钟）').fill('90');
    await win(2).getByLabel('时区').fill('UTC');
    await shot(page, 'rollout-03-rows');
    await dialog().getByRole('button', { name: '创建批次' }).click();
    await page.waitForURL(/#\/batches\/[^/?]+$/, { timeout: T });
    const batchId = decodeURIComponent(page.url().split('#/batches/')[1]);

    // the API has both rules and both windows, in the order of the rows
    const bj = (await api(env, 'GET', `/batches/${batchId}`)).body;
    assert.equal(bj.rollout.abort.length, 2);
    assert.deepEqual([bj.rollout.abort[0].reason, bj.rollout.abort[0].thresholdPercent, bj.rollout.abort[0].minFinished, bj.rollout.abort[0].action],
      ['flash_failed', 20, 5, 'pause']);
    assert.deepEqual([bj.rollout.abort[1].reason, bj.rollout.abort[1].thresholdPercent, bj.rollout.abort[1].action], ['any', 50, 'abort']);
    assert.deepEqual(bj.windows.map((w) => [w.start, w.durationMinutes, w.timeZone]),
      [['02:00', 60, 'Asia/Shanghai'], ['14:30', 90, 'UTC']]);

    // the detail shows what the API has, one line each
    const rules = page.locator('dl.facts div[data-key=abort] li');
    await waitFor('two brake lines', async () => (await rules.count()) === 2);
    const rt = await rules.allTextContents();
    assert.match(rt[0], /固件烧录失败/);
    assert.match(rt[0], /20%/);
    assert.match(rt[0], /5/);
    assert.match(rt[0], /暂停/);
    assert.match(rt[1], /任意失败/);
    assert.match(rt[1], /50%/);
    assert.match(rt[1], /中止/);
    const wl = await page.locator('dl.facts div[data-key=windows] li').allTextContents();
    assert.equal(wl.length, 2);
    assert.match(wl[0], /02:00 \+60 .*Asia\/Shanghai/);
    assert.match(wl[1], /14:30 \+90 .*UTC/);
    await shot(page, 'rollout-04-rules-detail');
  } catch (e) {
    failed = true;
    await shot(page, 'rollout-failed').catch(() => {});
    throw e;
  }
});
