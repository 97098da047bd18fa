// Signed firmware in the console (docs/console.md) against the real otad: a product's signing
// key added from its .pub file, requireSignature switched on, an upload with a signature of
// other bytes refused at the signature field, an upload with the right .sig file shown as signed
// with its key, the key retired; the same pages in English.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { startEnv, api } from '../lib/env.mjs';
import { launch, shot } from '../lib/browser.mjs';

const STEP_MS = 300000;
let env, b, page;
let failed = false;
const files = fs.mkdtempSync(path.join(os.tmpdir(), 'ota-browser-signing-'));

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
  fs.rmSync(files, { recursive: true, force: true });
}, { timeout: STEP_MS });

const dialog = () => page.locator('dialog[open]');

// The base64 Ed25519 signature of the manifest of (pk, version, data), as otactl firmware sign makes it.
function sign(privateKey, pk, version, data) {
  const sha = crypto.createHash('sha256').update(data).digest('hex');
  const manifest = `{"productKey":"${pk}","firmwareVersion":"${version}","size":${data.length},"sha256":"${sha}"}`;
  return crypto.sign(null, Buffer.from(manifest), privateKey).toString('base64');
}

test('signing keys, requireSignature and a signed upload in the console', { timeout: STEP_MS }, async (t) => {
  if (env.mock) { t.skip('the signature is the real server\'s to check'); return; }
  try {
    const p = await api(env, 'POST', '/products', { productName: '签名产品' });
    assert.equal(p.status, 201);
    const pk = p.body.productKey;
    const { publicKey, privateKey } = crypto.generateKeyPairSync('ed25519');
    const pub = path.join(files, 'release.pub');
    fs.writeFileSync(pub, publicKey.export({ type: 'spki', format: 'pem' }));

    await page.goto(`${env.baseUrl}/`);
    await page.getByLabel('管理员令牌').fill(env.token);
    await page.getByRole('button', { name: '使用令牌登录', exact: true }).click();
    await page.getByRole('heading', { name: '固件升级', level: 1 }).waitFor();

    // the key, from its .pub file
    await page.goto(`${env.baseUrl}/#/products/${pk}`);
    await page.getByRole('heading', { name: '签名密钥' }).waitFor();
    await page.getByText('还没有签名密钥。').waitFor();
    await page.getByRole('button', { name: '添加签名密钥' }).click();
    await dialog().getByLabel('名称').fill('release');
    await dialog().locator('input[name=publicKey]').setInputFiles(pub);
    await dialog().getByRole('button', { name: '创建' }).click();
    await page.locator('.toast', { hasText: '签名密钥已添加' }).waitFor();
    const keyRow = page.locator('#signing-keys tbody tr');
    await keyRow.waitFor();
    const keyId = await keyRow.getAttribute('data-key-id');
    assert.match(keyId, /^[0-9a-f]{16}$/);
    assert.match(await keyRow.textContent(), /有效/);

    // requireSignature on: the server says so
    await page.locator('#require-signature').check();
    await page.getByText('已开启：本产品只接受签名固件。').waitFor();
    assert.equal((await api(env, 'GET', `/products/${pk}`)).body.requireSignature, true);
    await shot(page, 'signing-01-keys');

    // upload: a signature of other bytes is refused at its field, the right one is kept
    const fw = path.join(files, 'lamp_fw-300.bin');
    const data = crypto.randomBytes(2000);
    fs.writeFileSync(fw, data);
    const badSig = path.join(files, 'bad.sig');
    fs.writeFileSync(badSig, `${sign(privateKey, pk, '3.0.0', crypto.randomBytes(2000))}\n`);
    const goodSig = path.join(files, 'good.sig');
    fs.writeFileSync(goodSig, `${sign(privateKey, pk, '3.0.0', data)}\n`);
    await page.goto(`${env.baseUrl}/#/firmwares`);
    await page.getByRole('button', { name: '添加固件', exact: true }).click();
    await dialog().getByLabel('固件名称').fill('签名固件_3.0');
    await dialog().getByLabel('选择产品').selectOption(pk);
    await dialog().locator('input[name=file]').setInputFiles(fw);
    await dialog().getByLabel('固件版本').fill('3.0.0');
    await dialog().locator('input[name=signature]').setInputFiles(badSig);
    await dialog().getByRole('button', { name: '添加固件', exact: true }).click();
    await dialog().locator('.field[data-field=signature]').getByText('签名无效').waitFor();
    await shot(page, 'signing-02-refused');
    await dialog().locator('input[name=signature]').setInputFiles(goodSig);
    await dialog().getByRole('button', { name: '添加固件', exact: true }).click();
    await dialog().waitFor({ state: 'detached' });
    const fwRow = page.locator('tbody tr', { hasText: '签名固件_3.0' });
    await fwRow.waitFor();
    assert.ok((await fwRow.textContent()).includes(`✓ ${keyId}`), 'signed with the key');
    await shot(page, 'signing-03-signed');

    // English; then the key is retired
    await page.getByRole('button', { name: 'Switch to English' }).click();
    await page.getByRole('columnheader', { name: 'Signature' }).waitFor();
    await page.goto(`${env.baseUrl}/#/products/${pk}`);
    await page.getByRole('heading', { name: 'Signing keys' }).waitFor();
    await page.getByText('On: this product takes signed firmware only.').waitFor();
    await keyRow.getByRole('button', { name: 'Retire' }).click();
    await dialog().getByRole('button', { name: 'Retire' }).click();
    await page.locator('.toast', { hasText: 'Key retired.' }).waitFor();
    await keyRow.getByText('Retired').waitFor();
    assert.equal((await api(env, 'GET', `/products/${pk}/signing-keys`)).body.items[0].retired, true);
    await shot(page, 'signing-04-retired-en');
  } catch (e) {
    failed = true;
    await shot(page, 'FAILED-signing').catch(() => {});
    throw e;
  }
});
