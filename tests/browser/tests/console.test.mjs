// The console's steps (docs/console.md) in a real browser (headless Debian chromium) against the
// real otad and mosquitto, with scripted MQTT devices: sign in, create a product and devices (one
// by one and by bulk import), add firmware (refused in the page, refused by the server, accepted
// with an upload progress bar), create a directed batch, watch it progress, see the in-use refusal,
// terminate, delete; then language, phone width, keyboard, sign out. The steps share one browser
// and one server and run in order; each saves a screenshot in tests/browser/out/.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { startEnv, api, OUT_DIR } from '../lib/env.mjs';
import { launch, shot } from '../lib/browser.mjs';
import { Device } from '../lib/device.mjs';

const T = 20000; // ms to wait for something to appear
// Each step and hook bounds itself (node:test `{ timeout }`, Node 18 and newer): a hung step
// fails instead of holding make test.
const STEP_MS = 600000;
let env, b, page;
const s = {}; // what the steps learn: productKey, secrets, firmwareId, batchId
const devices = {};
const files = fs.mkdtempSync(path.join(os.tmpdir(), 'ota-browser-files-'));
let failed = false;

before(async () => {
  env = await startEnv();
  b = await launch();
  page = b.page;
  await b.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: env.baseUrl });
}, { timeout: STEP_MS });

after(async () => {
  for (const d of Object.values(devices)) await d.close();
  if (b) await b.close();
  if (env) {
    if (failed) console.error(env.logs());
    await env.stop({ keep: failed });
  }
  fs.rmSync(files, { recursive: true, force: true });
}, { timeout: STEP_MS });

// marks the run failed (to keep logs) when a step throws
function step(name, fn) {
  test(name, { timeout: STEP_MS }, async (t) => {
    if (failed) { t.skip('an earlier step failed'); return; }
    try { await fn(t); } catch (e) {
      failed = true;
      await shot(page, `FAILED-${name.replace(/[^\w-]+/g, '_')}`).catch(() => {});
      throw e;
    }
  });
}

const dialog = () => page.locator('dialog[open]');
const nav = (name) => page.locator('#mainnav').getByRole('link', { name, exact: true });
const row = (text) => page.locator('tbody tr', { hasText: text });
const toast = (text) => page.locator('.toast', { hasText: text });

step('sign in with the admin token (a wrong one is refused)', async () => {
  await page.goto(`${env.baseUrl}/`);
  await page.getByRole('heading', { name: '登录控制台' }).waitFor();
  await page.getByLabel('管理员令牌').fill('not-the-token');
  await page.getByRole('button', { name: '使用令牌登录', exact: true }).click();
  await page.getByText('令牌无效，请检查后重试。').waitFor();
  await shot(page, '01-sign-in-refused');
  await page.getByLabel('管理员令牌').fill(env.token);
  await page.getByRole('button', { name: '使用令牌登录', exact: true }).click();
  await page.getByRole('heading', { name: '固件升级', level: 1 }).waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.getItem('ota.token')), env.token);
  assert.equal(await page.evaluate(() => localStorage.getItem('ota.token')), null, 'token only in sessionStorage');
  await shot(page, '02-firmware-empty');
});

step('create a product, register devices (secret shown once, copy), bulk import', async () => {
  await nav('产品与设备').click();
  await page.getByRole('button', { name: '创建产品' }).click();
  await dialog().getByLabel('产品名称').fill('智能灯');
  await dialog().getByLabel('描述').fill('客厅与卧室的灯');
  await dialog().getByRole('button', { name: '创建' }).click();
  await row('智能灯').waitFor();
  s.productKey = (await row('智能灯').locator('code').first().textContent()).trim();
  assert.ok(s.productKey);

  await row('智能灯').getByRole('link', { name: '设备管理' }).click();
  await page.getByRole('heading', { name: '设备管理：智能灯' }).waitFor();
  s.secrets = {};
  for (const [id, name] of [['lamp-a', '客厅灯'], ['lamp-b', '卧室灯'], ['lamp-c', '书房灯']]) {
    await page.getByRole('button', { name: '注册设备' }).click();
    await dialog().getByLabel('设备标识').fill(id);
    await dialog().getByLabel('设备名称').fill(name);
    await dialog().getByRole('button', { name: '创建' }).click();
    const secret = dialog().locator('#device-secret');
    await secret.waitFor();
    s.secrets[id] = await secret.inputValue();
    assert.match(s.secrets[id], /^[0-9a-f]{16,}$/);
    if (id === 'lamp-a') {
      await dialog().getByRole('button', { name: '复制' }).click();
      await dialog().getByRole('button', { name: '已复制' }).waitFor();
      assert.equal(await page.evaluate(() => navigator.clipboard.readText()), s.secrets[id]);
      await shot(page, '03-device-secret');
    }
    await dialog().getByRole('button', { name: '确定' }).click();
    await row(id).waitFor();
  }
  // a duplicate identifier is refused next to the field
  await page.getByRole('button', { name: '注册设备' }).click();
  await dialog().getByLabel('设备标识').fill('lamp-a');
  await dialog().getByRole('button', { name: '创建' }).click();
  await dialog().locator('.field.invalid').waitFor();
  await page.keyboard.press('Escape');
  await dialog().waitFor({ state: 'detached' });

  const nd = path.join(files, 'fleet.ndjson');
  fs.writeFileSync(nd, '{"identifier":"bulk-1","deviceName":"仓库灯1"}\n{"identifier":"bulk-2","deviceName":"仓库灯2"}\n');
  await page.getByRole('button', { name: '批量导入' }).click();
  await dialog().locator('input[type=file]').setInputFiles(nd);
  await dialog().getByText('文件中有 2 台设备。').waitFor();
  await dialog().getByRole('button', { name: '批量导入' }).click();
  await toast('已导入 2 台设备。').waitFor();
  await row('bulk-2').waitFor();
  assert.equal(await page.locator('tbody tr').count(), 5);
  assert.match(await row('bulk-1').textContent(), /未激活/);
  assert.match(await row('lamp-a').textContent(), /离线/);
  await shot(page, '04-devices');
});

step('devices connect and report their version: online and version columns', async () => {
  for (const id of ['lamp-a', 'lamp-b', 'lamp-c']) {
    if (env.mock) { // no broker: the stand-in's own switch
      await api(env, 'POST', `/__mock/devices/${s.productKey}/${id}/connect`, { firmwareVersion: '1.0.0' });
      continue;
    }
    devices[id] = new Device({ port: env.mqttPort, productKey: s.productKey, identifier: id, secret: s.secrets[id], version: '1.0.0' });
    await devices[id].connect();
  }
  const until = Date.now() + T;
  for (;;) {
    await page.reload();
    await row('lamp-c').waitFor();
    const texts = await Promise.all(['lamp-a', 'lamp-b', 'lamp-c'].map((id) => row(id).textContent()));
    if (texts.every((x) => x.includes('在线') && x.includes('1.0.0'))) break;
    if (Date.now() > until) assert.fail(`devices not shown online with 1.0.0: ${texts.join(' | ')}`);
    await page.waitForTimeout(500);
  }
  await page.locator('#online-filter').selectOption('true');
  await row('lamp-a').waitFor();
  await page.waitForFunction(() => document.querySelectorAll('tbody tr').length === 3);
  await shot(page, '05-devices-online');
});

step('add firmware: refused in the page, refused by the server, then uploaded with progress', async () => {
  await nav('固件升级').click();
  await page.getByRole('heading', { name: '固件升级', level: 1 }).waitFor();

  // keyboard: the dialog opens with Enter, takes focus, closes with Esc and gives focus back
  await page.getByRole('button', { name: '添加固件', exact: true }).focus();
  await page.keyboard.press('Enter');
  await dialog().waitFor();
  assert.equal(await page.evaluate(() => document.activeElement.name), 'firmwareName');
  await page.keyboard.press('Escape');
  await dialog().waitFor({ state: 'detached' });
  assert.equal(await page.evaluate(() => document.activeElement.id), 'add-firmware');

  const posts = [];
  page.on('request', (r) => { if (r.method() === 'POST' && r.url().endsWith('/api/v1/firmwares')) posts.push(r); });

  // the page's own checks: nothing is sent
  await page.getByRole('button', { name: '添加固件', exact: true }).click();
  const bad = path.join(files, 'lamp fw.exe');
  fs.writeFileSync(bad, 'x');
  await dialog().getByLabel('固件名称').fill('-bad name');
  await dialog().locator('input[name=file]').setInputFiles(bad);
  await dialog().getByLabel('固件版本').fill('v 2');
  await dialog().getByLabel('固件描述').fill('长'.repeat(101));
  await dialog().getByRole('button', { name: '添加固件', exact: true }).click();
  await dialog().getByText('固件名称只能包含中文、英文字母、数字及 _ - . ( )，不能有空格。').waitFor();
  await dialog().getByText('请选择产品。').waitFor();
  await dialog().getByText('固件格式只支持 bin、rom、zip、gz、tar、tar.gz、swu、raucb。').waitFor();
  await dialog().getByText('固件版本为 1~100 个字符，只支持英文字母、数字及 _ - .').waitFor();
  await dialog().getByText('固件描述不能超过 100 个字符。').waitFor();
  await shot(page, '06-firmware-rules');
  assert.equal(posts.length, 0, 'nothing sent while a rule is broken');

  // a valid one, uploaded slowly so the progress bar shows
  const big = path.join(files, 'lamp_fw-200.bin');
  const data = crypto.randomBytes(3 * 1024 * 1024);
  fs.writeFileSync(big, data);
  s.md5 = crypto.createHash('md5').update(data).digest('hex');
  await dialog().getByLabel('固件名称').fill('智能灯固件(v2)_2.0');
  await dialog().getByLabel('选择产品').selectOption(s.productKey);
  await dialog().locator('input[name=file]').setInputFiles(big);
  await dialog().getByLabel('固件版本').fill('2.0.0');
  await dialog().getByLabel('固件描述').fill('修复夜间模式');
  const cdp = await b.context.newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 1024 * 1024 });
  await dialog().getByRole('button', { name: '添加固件', exact: true }).click();
  await page.waitForFunction(() => { const p = document.querySelector('#upload-progress'); return p && p.value > 0 && p.value < 100; }, null, { timeout: T });
  await shot(page, '07-upload-progress');
  await dialog().waitFor({ state: 'detached', timeout: 60000 });
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
  await cdp.detach();
  assert.equal(posts.length, 1);
  const r = row('智能灯固件(v2)_2.0');
  await r.waitFor();
  const text = await r.textContent();
  assert.ok(text.includes(s.md5), 'MD5 of the file shown');
  assert.ok(text.includes('2.0.0') && text.includes('智能灯') && text.includes('3.00 MB'), text);
  s.firmwareId = await r.getAttribute('data-firmware-id');

  // the server refuses a second firmware with the same version in the product: shown at that field
  await page.getByRole('button', { name: '添加固件', exact: true }).click();
  const small = path.join(files, 'lamp_fw-200b.bin');
  fs.writeFileSync(small, crypto.randomBytes(1000));
  await dialog().getByLabel('固件名称').fill('智能灯固件_副本');
  await dialog().getByLabel('选择产品').selectOption(s.productKey);
  await dialog().locator('input[name=file]').setInputFiles(small);
  await dialog().getByLabel('固件版本').fill('2.0.0');
  await dialog().getByRole('button', { name: '添加固件', exact: true }).click();
  const versionField = dialog().locator('.field[data-field=firmwareVersion]');
  await versionField.locator('.field-error:not(:empty)').waitFor({ timeout: T });
  assert.equal(await versionField.getAttribute('class'), 'field invalid');
  await shot(page, '08-firmware-refused-by-server');
  await dialog().getByRole('button', { name: '取消' }).click();
  await dialog().waitFor({ state: 'detached' });
  assert.equal(await page.locator('tbody tr[data-firmware-id]').count(), 1, 'the refused firmware left no row');
});

step('create a directed batch with the device picker', async () => {
  await row('智能灯固件(v2)_2.0').getByRole('button', { name: '批量升级' }).click();
  await dialog().getByRole('heading', { name: '批量升级' }).waitFor();
  await dialog().getByText('智能灯固件(v2)_2.0').waitFor();
  await dialog().getByLabel('定向升级').check();
  const picker = dialog().locator('.picker');
  await picker.locator('tbody tr').nth(2).waitFor();
  assert.equal(await picker.locator('tbody tr').count(), 3, 'only activated devices are eligible');
  await picker.getByRole('searchbox').fill('lamp-b');
  await page.waitForFunction(() => {
    const rows = [...document.querySelectorAll('dialog .picker tbody tr')];
    return rows.length === 1 && rows[0].textContent.includes('lamp-b');
  }, null, { timeout: T });
  await picker.getByLabel('选择设备 lamp-b').check();
  await picker.getByRole('searchbox').fill('');
  await picker.getByLabel('选择设备 lamp-a').check();
  await picker.getByText('已选择 2 台设备').waitFor();
  await picker.getByLabel('选择本页全部').check();
  await picker.getByText('已选择 3 台设备').waitFor();

  await dialog().getByLabel('设备升级超时时间 (分钟)').fill('0');
  assert.equal(await dialog().getByLabel('重试间隔 (分钟)').isVisible(), false, 'interval hidden while retries = 0');
  await dialog().getByLabel('失败重试次数').selectOption('1');
  await dialog().getByLabel('重试间隔 (分钟)').fill('1');
  await dialog().getByRole('button', { name: '创建批次' }).click();
  await dialog().getByText('设备升级超时时间为 1~1440 分钟的整数。').waitFor();
  await dialog().getByLabel('设备升级超时时间 (分钟)').fill('30');
  await dialog().getByLabel('有效期').selectOption('3');
  await dialog().getByText('高级设置').click();
  await dialog().getByLabel('推送速率（台/分钟）').fill('600');
  await shot(page, '09-batch-dialog');
  await dialog().getByRole('button', { name: '创建批次' }).click();
  await page.waitForURL(/#\/batches\/[^/?]+$/, { timeout: T });
  s.batchId = decodeURIComponent(page.url().split('#/batches/')[1]);
  await page.getByRole('heading', { name: /批次详情/ }).waitFor();
  await page.locator('tbody tr[data-identifier]').nth(2).waitFor();
  assert.equal(await page.locator('tbody tr[data-identifier]').count(), 3);
  const facts = await page.locator('dl.facts').first().textContent();
  for (const x of ['智能灯固件(v2)_2.0', '2.0.0', s.md5, '智能灯', '3 天', '30 分钟', '标准升级', '600 台/分钟']) assert.ok(facts.includes(x), `${x} in ${facts}`);
});

step('watch the batch progress as the devices upgrade (page refreshes itself)', async () => {
  const stateOf = (id) => page.locator(`tbody tr[data-identifier="${id}"]`).getAttribute('data-state');
  const waitState = (id, st) => page.locator(`tbody tr[data-identifier="${id}"][data-state="${st}"]`).waitFor({ timeout: T });
  if (env.mock) {
    await page.locator('tbody tr[data-state="upgrading"]').first().waitFor({ timeout: T });
    await page.evaluate(() => document.querySelectorAll('.toast').forEach((x) => x.remove()));
    await shot(page, '10-batch-detail', { fullPage: true });
    return;
  }
  const a = devices['lamp-a'], bdev = devices['lamp-b'];
  const pa = await a.nextPush();
  assert.equal(pa.data.firmwareVersion, '2.0.0');
  assert.equal(pa.data.sign, s.md5);
  assert.equal(String(pa.data.batchId), s.batchId);
  await waitState('lamp-a', 'pushed').catch(() => {}); // may be too quick to see
  await a.ack(pa);
  await waitState('lamp-a', 'to_upgrade').catch(() => {});
  await a.progress(30, 'downloading');
  await waitState('lamp-a', 'upgrading');
  await page.locator('tbody tr[data-identifier="lamp-a"]', { hasText: '30%' }).waitFor({ timeout: T });

  const pb = await bdev.nextPush();
  await bdev.ack(pb);
  await bdev.progress(20, 'downloading');
  await waitState('lamp-b', 'upgrading');

  // lamp-c fails its download: waits for a retry (1 of 1), the reason shown
  const c = devices['lamp-c'];
  const pc = await c.nextPush();
  await c.ack(pc);
  await c.progress(10, 'downloading');
  await c.progress(-2, 'download failed');
  await waitState('lamp-c', 'to_retry');
  await page.locator('tbody tr[data-identifier="lamp-c"]', { hasText: '下载固件失败' }).waitFor({ timeout: T });

  await a.progress(100, 'flashed');
  await a.reportVersion('2.0.0');
  await waitState('lamp-a', 'succeeded');
  const ra = await page.locator('tbody tr[data-identifier="lamp-a"]').textContent();
  assert.ok(ra.includes('成功') && ra.includes('2.0.0') && ra.includes('0/1'), ra);
  await page.locator('[data-key=succeeded] dd', { hasText: '1' }).waitFor({ timeout: T });
  await page.locator('.legend li[data-state=succeeded]', { hasText: '1' }).waitFor();
  await page.locator('tbody tr[data-identifier="lamp-b"]', { hasText: '20%' }).waitFor({ timeout: T });
  assert.equal(await stateOf('lamp-b'), 'upgrading');
  assert.match(await page.locator('.refresh-note').textContent(), /每 2 秒自动刷新/);

  // filter by state
  await page.getByLabel('按升级状态筛选').selectOption('succeeded');
  await page.waitForFunction(() => document.querySelectorAll('tbody tr[data-identifier]').length === 1);
  await page.getByLabel('按升级状态筛选').selectOption('');
  await page.locator('tbody tr[data-identifier]').nth(2).waitFor();
  await page.evaluate(() => document.querySelectorAll('.toast').forEach((x) => x.remove()));
  await shot(page, '10-batch-detail', { fullPage: true });
});

step('deleting a firmware in use is refused plainly', async () => {
  await nav('固件升级').click();
  await row('智能灯固件(v2)_2.0').getByRole('button', { name: '删除' }).click();
  await dialog().getByText('确定删除固件“智能灯固件(v2)_2.0”').waitFor();
  await dialog().getByRole('button', { name: '删除' }).click();
  await dialog().getByText('无法删除：有正在进行的批量升级任务使用该固件。').waitFor({ timeout: T });
  await shot(page, '11-delete-refused');
  await dialog().getByRole('button', { name: '确定' }).click();
  await row('智能灯固件(v2)_2.0').waitFor();
});

step('terminate the batch from the batch list (with confirmation)', async () => {
  await row('智能灯固件(v2)_2.0').getByRole('link', { name: '批次查看' }).click();
  await page.getByRole('heading', { name: '批次查看：智能灯固件(v2)_2.0（2.0.0）' }).waitFor();
  const r = page.locator(`tbody tr[data-batch-id="${s.batchId}"]`);
  await r.waitFor();
  assert.match(await r.textContent(), /进行中/);
  // Esc on the confirmation changes nothing
  await r.getByRole('button', { name: '终止' }).click();
  await dialog().getByText(`确定终止批次 ${s.batchId} 吗？`).waitFor();
  await page.keyboard.press('Escape');
  await dialog().waitFor({ state: 'detached' });
  assert.match(await r.textContent(), /进行中/);
  await r.getByRole('button', { name: '终止' }).click();
  await dialog().getByRole('button', { name: '终止' }).click();
  await toast('批次已终止。').waitFor({ timeout: T });
  await page.locator(`tbody tr[data-batch-id="${s.batchId}"]`, { hasText: '已终止' }).waitFor({ timeout: T });
  const cells = await page.locator(`tbody tr[data-batch-id="${s.batchId}"] td`).allTextContents();
  if (!env.mock) assert.deepEqual(cells.slice(3, 6), ['3', '1', '2'], `total, succeeded, failed: ${cells}`);
  await shot(page, '12-batch-list-terminated');

  await page.locator(`tbody tr[data-batch-id="${s.batchId}"]`).getByRole('link', { name: '查看' }).click();
  await page.locator('[data-key=state]', { hasText: '已终止' }).waitFor({ timeout: T });
  if (!env.mock) {
    const rb = await page.locator('tbody tr[data-identifier="lamp-b"]').textContent();
    assert.ok(rb.includes('失败') && rb.includes('任务终止'), rb);
  }
  assert.equal(await page.getByRole('button', { name: '终止' }).isVisible(), false);
  assert.ok(!(await page.locator('[data-key=endTime] dd').textContent()).includes('—'), 'end time set');
  // times: the API's UTC shown in the browser's time zone (the context runs in Asia/Shanghai)
  const api1 = (await api(env, 'GET', `/batches/${encodeURIComponent(s.batchId)}`)).body;
  const local = new Intl.DateTimeFormat('zh-CN', { timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit',
    hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false }).format(new Date(api1.startTime));
  assert.equal((await page.locator('[data-key=startTime] dd').textContent()).trim(), local);
  await shot(page, '13-batch-detail-terminated', { fullPage: true });
});

step('English, remembered across reloads; phone width; back to Chinese', async () => {
  await page.getByRole('button', { name: 'Switch to English' }).click();
  await page.getByRole('heading', { name: /Batch detail/ }).waitFor();
  await page.goto(`${env.baseUrl}/#/batches/${encodeURIComponent(s.batchId)}`);
  await page.getByRole('heading', { name: /Batch detail/ }).waitFor();
  await page.locator('[data-key=state]', { hasText: 'Terminated' }).waitFor();
  assert.equal(await page.evaluate(() => localStorage.getItem('ota.lang')), 'en');
  assert.equal(await page.evaluate(() => document.documentElement.lang), 'en');
  await shot(page, '15-batch-detail-en', { fullPage: true });

  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${env.baseUrl}/#/firmwares`);
  await page.getByRole('heading', { name: 'Firmware', level: 1 }).waitFor();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, `page wider than a phone by ${overflow}px`);
  await page.getByRole('button', { name: 'Add firmware' }).click();
  const box = await dialog().boundingBox();
  assert.ok(box.width <= 390, 'dialog fits the phone');
  await shot(page, '16-phone-add-firmware');
  await page.keyboard.press('Escape');
  await page.goto(`${env.baseUrl}/#/batches/${encodeURIComponent(s.batchId)}`);
  await page.locator('[data-key=state]').waitFor();
  await shot(page, '17-phone-batch-detail', { fullPage: true });
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.getByRole('button', { name: '切换到中文' }).click();
  await page.getByRole('heading', { name: /批次详情/ }).waitFor();
  assert.equal(await page.evaluate(() => localStorage.getItem('ota.lang')), 'zh');
});

step('a batch for all eligible devices, terminated from its detail page', async () => {
  await nav('固件升级').click();
  await row('智能灯固件(v2)_2.0').getByRole('button', { name: '批量升级' }).click();
  await dialog().getByLabel('全部设备').waitFor();
  // lamp-a runs 2.0.0 already; lamp-b and lamp-c finished their task: two eligible
  if (!env.mock) await dialog().getByText('设备总数: 2').waitFor({ timeout: T });
  await dialog().getByRole('button', { name: '创建批次' }).click();
  await page.waitForURL(/#\/batches\/[^/?]+$/, { timeout: T });
  const id = decodeURIComponent(page.url().split('#/batches/')[1]);
  assert.notEqual(id, s.batchId);
  await page.locator('[data-key=state]', { hasText: '进行中' }).waitFor({ timeout: T });
  if (!env.mock) {
    await page.locator('tbody tr[data-identifier]').nth(1).waitFor();
    assert.deepEqual((await page.locator('tbody tr[data-identifier]').evaluateAll((rs) => rs.map((r) => r.dataset.identifier))).sort(), ['lamp-b', 'lamp-c']);
  }
  await page.locator('#terminate-batch').click();
  await dialog().getByRole('button', { name: '终止' }).click();
  await page.locator('[data-key=state]', { hasText: '已终止' }).waitFor({ timeout: T });
  await page.locator('#terminate-batch').waitFor({ state: 'hidden' });
});

step('delete the firmware once no batch uses it', async () => {
  await nav('固件升级').click();
  await row('智能灯固件(v2)_2.0').getByRole('button', { name: '删除' }).click();
  await dialog().getByRole('button', { name: '删除' }).click();
  await toast('固件已删除。').waitFor({ timeout: T });
  await row('智能灯固件(v2)_2.0').waitFor({ state: 'detached', timeout: T });
  const res = await api(env, 'GET', `/firmwares/${encodeURIComponent(s.firmwareId)}`);
  assert.equal(res.status, 404);
  await shot(page, '14-firmware-deleted');
});

step('sign out', async () => {
  await page.getByRole('button', { name: '退出' }).click();
  await page.getByRole('heading', { name: '登录控制台' }).waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.getItem('ota.token')), null);
  await shot(page, '18-signed-out');
  assert.deepEqual(b.errors, [], 'no script errors in the page');
});
