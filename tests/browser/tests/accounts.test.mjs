// Console sign-in with a user name and password against the real otad: a wrong password is
// refused in the page, the right one opens the console with a session token (not the admin
// token) kept in sessionStorage, the session's role shows (a viewer is refused a change by
// the server), and signing out ends the session on the server too; the same in English.

import { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startEnv, api } from '../lib/env.mjs';
import { launch, shot } from '../lib/browser.mjs';
import { steps, STEP_MS } from '../lib/steps.mjs';

const PW = 'console-Passw0rd';
let env, b, page;

before(async () => {
  env = await startEnv();
  b = await launch();
  page = b.page;
  if (env.mock) return; /* the stand-in API has no accounts */
  for (const [userName, role] of [['zhang.san', 'operator'], ['viewer.li', 'viewer']]) {
    const r = await api(env, 'POST', '/users', { userName, password: PW, role });
    assert.equal(r.status, 201);
  }
}, { timeout: STEP_MS });

after(async () => {
  if (b) await b.close();
  if (env) {
    if (S.failed) console.error(env.logs());
    await env.stop({ keep: S.failed });
  }
}, { timeout: STEP_MS });

const S = steps('accounts', () => ({ env, page }), 'accounts need the real otad');
const step = S.step;

async function me(token) {
  const r = await fetch(`${env.baseUrl}/api/v1/auth/me`, { headers: { Authorization: `Bearer ${token}` } });
  return { status: r.status, body: r.status === 200 ? await r.json() : null };
}

step('sign in with a user name and password (a wrong password is refused)', async () => {
  await page.goto(`${env.baseUrl}/`);
  await page.getByRole('heading', { name: '登录控制台' }).waitFor();
  await page.getByLabel('用户名').fill('zhang.san');
  await page.getByLabel('密码').fill('not-the-password');
  await page.getByRole('button', { name: '登录', exact: true }).click();
  await page.getByText('用户名或密码错误，或该用户已停用。').waitFor();
  await shot(page, 'accounts-01-refused');
  await page.getByLabel('密码').fill(PW);
  await page.getByRole('button', { name: '登录', exact: true }).click();
  await page.getByRole('heading', { name: '固件升级', level: 1 }).waitFor();
  const tok = await page.evaluate(() => sessionStorage.getItem('ota.token'));
  assert.ok(tok && tok.startsWith('ota_') && tok !== env.token, 'a session token, not the admin token');
  assert.equal(await page.evaluate(() => localStorage.getItem('ota.token')), null);
  const m = await me(tok);
  assert.equal(m.status, 200);
  assert.equal(m.body.userName, 'zhang.san');
  assert.equal(m.body.kind, 'session');
  await shot(page, 'accounts-02-signed-in');
});

step('sign out ends the session on the server', async () => {
  const tok = await page.evaluate(() => sessionStorage.getItem('ota.token'));
  await page.getByRole('button', { name: '退出' }).click();
  await page.getByRole('heading', { name: '登录控制台' }).waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.getItem('ota.token')), null);
  for (let i = 0; i < 50 && (await me(tok)).status !== 401; i++) await new Promise((r) => setTimeout(r, 100));
  assert.equal((await me(tok)).status, 401, 'the session is revoked');
  const audit = await api(env, 'GET', '/audit?action=auth.logout');
  assert.equal(audit.body.items[0].actor, 'zhang.san');
});

step('in English: a viewer signs in and the server refuses it a change', async () => {
  await page.locator('#signin-lang').click();
  await page.getByRole('heading', { name: 'Sign in to the console' }).waitFor();
  await page.getByLabel('User name').fill('viewer.li');
  await page.getByLabel('Password').fill(PW);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.getByRole('heading', { name: 'Firmware', level: 1 }).waitFor();
  const tok = await page.evaluate(() => sessionStorage.getItem('ota.token'));
  const r = await fetch(`${env.baseUrl}/api/v1/products`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${tok}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ productName: 'nope' }),
  });
  assert.equal(r.status, 403);
  await shot(page, 'accounts-03-viewer-en');
  // the audit log is an admin's: a viewer sees the refusal
  await page.locator('#mainnav').getByRole('link', { name: 'Audit log', exact: true }).click();
  await page.getByText('Your role may not do this').waitFor();
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'Sign in to the console' }).waitFor();
});

step('the audit log page: an admin sees who did what, filters by action (en, zh)', async () => {
  await page.getByLabel('Admin token').fill(env.token);
  await page.getByRole('button', { name: 'Sign in with a token', exact: true }).click();
  await page.locator('#mainnav').getByRole('link', { name: 'Firmware', exact: true }).click();
  await page.getByRole('heading', { name: 'Firmware', level: 1 }).waitFor();
  await page.locator('#mainnav').getByRole('link', { name: 'Audit log', exact: true }).click();
  await page.getByRole('heading', { name: 'Audit log', level: 1 }).waitFor();
  // newest first: the viewer's sign-out, and before it its refused change with the result
  const first = page.locator('tbody tr').first();
  await first.getByText('auth.logout').waitFor();
  await first.getByText('viewer.li', { exact: true }).waitFor();
  await page.locator('tbody tr', { hasText: 'product.create' }).filter({ hasText: 'viewer.li' })
    .filter({ hasText: '403 forbidden' }).waitFor();
  await page.locator('tbody tr', { hasText: 'auth.logout' }).filter({ hasText: 'zhang.san' }).first().waitFor();
  await shot(page, 'accounts-04-audit-en');
  await page.getByLabel('Action').fill('auth.login');
  await page.getByRole('button', { name: 'Filter' }).click();
  await page.waitForFunction(() => [...document.querySelectorAll('tbody tr')].length > 0 &&
    [...document.querySelectorAll('tbody tr')].every((tr) => tr.textContent.includes('auth.login')));
  const n = await page.locator('tbody tr').count();
  assert.equal(n, 3, 'two sign-ins and one refused password');
  await page.locator('tbody tr', { hasText: '401 invalid_credentials' }).waitFor();
  await page.locator('#lang-btn').click();
  await page.getByRole('heading', { name: '审计日志', level: 1 }).waitFor();
  await page.getByRole('columnheader', { name: '操作者' }).waitFor();
  await shot(page, 'accounts-05-audit-zh');
  assert.deepEqual(b.errors, [], 'no script errors in the page');
});

step('the accounts page: a user and a token made, the token shown once, revoked, the user disabled (zh)', async () => {
  const dialog = () => page.locator('dialog[open]');
  await page.locator('#mainnav').getByRole('link', { name: '账号与令牌', exact: true }).click();
  await page.getByRole('heading', { name: '账号与令牌', level: 1 }).waitFor();
  // a user
  await page.getByRole('button', { name: '创建用户' }).click();
  await dialog().getByLabel('用户名').fill('wang.wu');
  await dialog().getByLabel('密码').fill(PW);
  await dialog().getByLabel('角色').selectOption('operator');
  await dialog().getByRole('button', { name: '创建', exact: true }).click();
  await page.locator('tr[data-user="wang.wu"]').waitFor();
  // a token, shown once, that works
  await page.getByRole('button', { name: '创建令牌' }).click();
  await dialog().getByLabel('令牌名称').fill('ci-bot');
  await dialog().getByLabel('角色').selectOption('viewer');
  await dialog().getByLabel('有效天数').fill('30');
  await dialog().getByRole('button', { name: '创建', exact: true }).click();
  const tok = (await page.locator('#new-token').textContent()).trim();
  assert.ok(tok.startsWith('ota_'));
  await shot(page, 'accounts-06-token-once');
  const use = () => fetch(`${env.baseUrl}/api/v1/products`, { headers: { Authorization: `Bearer ${tok}` } });
  assert.equal((await use()).status, 200);
  await dialog().getByRole('button', { name: '关闭', exact: true }).last().click();
  const row = page.locator('tbody tr', { hasText: 'ci-bot' });
  await row.waitFor();
  assert.equal(await page.locator('body').getByText(tok).count(), 0, 'the token is not shown again');
  await shot(page, 'accounts-07-accounts-zh');
  // revoked: refused at once
  await row.getByRole('button', { name: '吊销' }).click();
  await dialog().getByRole('button', { name: '吊销', exact: true }).click();
  await row.waitFor({ state: 'detached' });
  assert.equal((await use()).status, 401);
  // disabled: cannot sign in
  await page.locator('tr[data-user="wang.wu"]').getByRole('button', { name: '停用' }).click();
  await page.locator('tr[data-user="wang.wu"]').getByText('已停用').waitFor();
  const login = await fetch(`${env.baseUrl}/api/v1/auth/login`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ userName: 'wang.wu', password: PW }),
  });
  assert.equal(login.status, 401);
  assert.deepEqual(b.errors, [], 'no script errors in the page');
});

step('the accounts page in English: a token made, shown once, revoked; the disabled user shown', async () => {
  const dialog = () => page.locator('dialog[open]');
  await page.locator('#lang-btn').click();
  await page.getByRole('heading', { name: 'Accounts and tokens', level: 1 }).waitFor();
  await page.locator('tr[data-user="wang.wu"]').getByText('disabled', { exact: true }).waitFor();
  await page.getByRole('button', { name: 'Create token' }).click();
  await dialog().getByLabel('Token name').fill('ci-en');
  await dialog().getByLabel('Role').selectOption('operator');
  await dialog().getByRole('button', { name: 'Create', exact: true }).click();
  const tok = (await page.locator('#new-token').textContent()).trim();
  assert.ok(tok.startsWith('ota_'));
  const use = () => fetch(`${env.baseUrl}/api/v1/products`, { headers: { Authorization: `Bearer ${tok}` } });
  assert.equal((await use()).status, 200);
  await dialog().getByRole('button', { name: 'Close', exact: true }).last().click();
  const row = page.locator('tbody tr', { hasText: 'ci-en' });
  await row.waitFor();
  assert.equal(await page.locator('body').getByText(tok).count(), 0, 'the token is not shown again');
  await shot(page, 'accounts-08-accounts-en');
  await row.getByRole('button', { name: 'Revoke' }).click();
  await dialog().getByRole('button', { name: 'Revoke', exact: true }).click();
  await row.waitFor({ state: 'detached' });
  assert.equal((await use()).status, 401);
  assert.deepEqual(b.errors, [], 'no script errors in the page');
});
