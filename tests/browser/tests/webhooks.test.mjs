// The webhooks page (Webhook 通知, docs/console.md) against the real otad and two local
// receivers (one answers 200, one 500): a webhook added with its URL, secret, events and
// grouping; a ping that arrives signed and shows in its delivery log with status 200; a
// webhook whose receiver fails shows 500 and "failed, retried later"; disable and enable;
// delete after a confirmation; the same pages in English.

import { before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import { startEnv, api, freePort } from '../lib/env.mjs';
import { launch, shot } from '../lib/browser.mjs';
import { steps, STEP_MS } from '../lib/steps.mjs';

const SECRET = 'browser-test-secret-0123';
let env, b, page, receiver, port;
let firstId = ''; /* the first webhook's id */
const got = []; /* deliveries the receivers took: {path, headers, body} */

before(async () => {
  env = await startEnv();
  b = await launch();
  page = b.page;
  port = await freePort();
  receiver = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      got.push({ path: req.url, headers: req.headers, body: Buffer.concat(chunks) });
      res.writeHead(req.url === '/broken' ? 500 : 200).end();
    });
  });
  await new Promise((r) => receiver.listen(port, '127.0.0.1', r));
}, { timeout: STEP_MS });

after(async () => {
  if (b) await b.close();
  if (receiver) receiver.close();
  if (env) {
    if (S.failed) console.error(env.logs());
    await env.stop({ keep: S.failed });
  }
}, { timeout: STEP_MS });

const S = steps('webhooks', () => ({ env, page }), 'webhooks need the real otad');
const step = S.step;

const dialog = () => page.locator('dialog[open]');

async function until(what, fn, ms = 60000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

step('add a webhook: URL, secret, events, grouping (zh)', async () => {
  await page.goto(`${env.baseUrl}/`);
  await page.getByLabel('管理员令牌').fill(env.token);
  await page.getByRole('button', { name: '使用令牌登录', exact: true }).click();
  await page.getByRole('heading', { name: '固件升级', level: 1 }).waitFor();
  await page.locator('#mainnav').getByRole('link', { name: 'Webhook', exact: true }).click();
  await page.getByRole('heading', { name: 'Webhook 通知', level: 1 }).waitFor();
  await page.getByText('还没有 Webhook。').waitFor();
  await page.getByRole('button', { name: '添加 Webhook' }).click();
  // refused in the page: no event chosen
  await dialog().getByLabel('接收地址（URL）').fill(`http://127.0.0.1:${port}/hook`);
  await dialog().getByLabel('签名密钥').fill(SECRET);
  await dialog().getByRole('button', { name: '创建', exact: true }).click();
  await dialog().getByText('请至少选择一个事件。').waitFor();
  await dialog().getByLabel('batch.created').check();
  await dialog().getByLabel('device.upgrade.failed').check();
  await dialog().getByLabel('每次投递最多事件数').fill('100');
  await dialog().getByLabel('合并等待秒数').fill('5');
  await shot(page, 'webhooks-01-add');
  await dialog().getByRole('button', { name: '创建', exact: true }).click();
  const row = page.locator('tbody tr', { hasText: `http://127.0.0.1:${port}/hook` });
  await row.waitFor();
  await row.getByText('batch.created, device.upgrade.failed').waitFor();
  await row.getByText('最多 100 条 / 5 秒').waitFor();
  await row.getByText('已启用').waitFor();
  firstId = await row.getAttribute('data-webhook-id');
  const list = await api(env, 'GET', '/webhooks');
  assert.equal(list.body.items.length, 1);
  assert.deepEqual(list.body.items[0].events, ['batch.created', 'device.upgrade.failed']);
  assert.equal(list.body.items[0].groupMaxEvents, 100);
  assert.equal(list.body.items[0].groupSeconds, 5);
  assert.equal(JSON.stringify(list.body).includes(SECRET), false, 'the secret is never answered');
  await shot(page, 'webhooks-02-list');
});

step('ping: a signed test delivery, shown in the delivery log with status 200', async () => {
  const row = page.locator('tbody tr', { hasText: '/hook' });
  await row.getByRole('button', { name: '发送测试' }).click();
  await page.getByText(/测试投递 .* 已排队。/).waitFor();
  const d = await until('the ping at the receiver', () => got.find((g) => g.path === '/hook'));
  assert.equal(d.headers['x-ota-event'], 'ping');
  const want = crypto.createHmac('sha256', SECRET).update(d.body).digest('hex');
  assert.equal(d.headers['x-ota-signature'], `sha256=${want}`);
  await row.getByRole('link', { name: '投递记录' }).click();
  await page.getByRole('heading', { name: '投递记录', level: 1 }).waitFor();
  // the log is read when the page opens: reopen until the attempt is there
  assert.ok(page.url().endsWith(`#/webhooks/${encodeURIComponent(firstId)}`));
  await until('the attempt in the log', async () => {
    await page.reload();
    await page.getByRole('heading', { name: '投递记录', level: 1 }).waitFor();
    return (await page.locator('tbody tr [data-status="200"]').count()) > 0;
  });
  const attempt = page.locator('tbody tr').first();
  await attempt.getByText('ping', { exact: true }).waitFor();
  await attempt.getByText('成功').waitFor();
  await shot(page, 'webhooks-03-log');
});

step('a receiver that fails: status 500, failed and retried later (en)', async () => {
  await page.locator('#lang-btn').click();
  await page.locator('#mainnav').getByRole('link', { name: 'Webhooks', exact: true }).click();
  await page.getByRole('heading', { name: 'Webhooks', level: 1 }).waitFor();
  await page.getByRole('button', { name: 'Add webhook' }).click();
  await dialog().getByLabel('URL').fill(`http://127.0.0.1:${port}/broken`);
  await dialog().getByLabel('Secret').fill(SECRET);
  await dialog().getByLabel('Every event (also those added later)').check();
  await dialog().getByRole('button', { name: 'Create', exact: true }).click();
  const row = page.locator('tbody tr', { hasText: '/broken' });
  await row.waitFor();
  await row.getByText('Every event (also those added later)').waitFor();
  const id = await row.getAttribute('data-webhook-id');
  await row.getByRole('button', { name: 'Send test' }).click();
  await row.getByRole('link', { name: 'Deliveries' }).click();
  await page.getByRole('heading', { name: 'Delivery log', level: 1 }).waitFor();
  assert.ok(page.url().endsWith(`#/webhooks/${encodeURIComponent(id)}`));
  await until('the failed attempt in the log', async () => {
    await page.reload();
    await page.getByRole('heading', { name: 'Delivery log', level: 1 }).waitFor();
    return (await page.locator('tbody tr [data-status="500"]').count()) > 0;
  });
  await page.locator('tbody tr').first().getByText('failed, retried later').waitFor();
  await shot(page, 'webhooks-04-failed-en');
});

step('disable, enable, delete after a confirmation (en)', async () => {
  await page.locator('#mainnav').getByRole('link', { name: 'Webhooks', exact: true }).click();
  const row = () => page.locator('tbody tr', { hasText: '/broken' });
  await row().getByRole('button', { name: 'Disable' }).click();
  await row().getByText('disabled', { exact: true }).waitFor();
  let h = (await api(env, 'GET', '/webhooks')).body.items.find((x) => x.url.endsWith('/broken'));
  assert.equal(h.enabled, false);
  await row().getByRole('button', { name: 'Enable' }).click();
  await row().getByText('enabled', { exact: true }).waitFor();
  h = (await api(env, 'GET', '/webhooks')).body.items.find((x) => x.url.endsWith('/broken'));
  assert.equal(h.enabled, true);
  // cancelled: still there; confirmed: gone
  await row().getByRole('button', { name: 'Delete' }).click();
  await dialog().getByText(`Delete the webhook to http://127.0.0.1:${port}/broken?`, { exact: false }).waitFor();
  await dialog().getByRole('button', { name: 'Cancel' }).click();
  await row().waitFor();
  await row().getByRole('button', { name: 'Delete' }).click();
  await dialog().getByRole('button', { name: 'Delete', exact: true }).click();
  await page.getByText('Webhook deleted.').waitFor();
  await until('the row gone', async () => (await row().count()) === 0, 10000);
  const left = (await api(env, 'GET', '/webhooks')).body.items;
  assert.deepEqual(left.map((x) => x.url), [`http://127.0.0.1:${port}/hook`]);
  const audit = await api(env, 'GET', '/audit?action=webhook.delete');
  assert.equal(audit.body.items.length, 1);
  await shot(page, 'webhooks-05-deleted-en');
  assert.deepEqual(b.errors, [], 'no script errors in the page');
});
