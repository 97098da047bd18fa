// The console's own rule checks (server/console/js/validate.js), run in node: the same rules
// as the add-firmware and batch rules of docs/api.md say.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';

// validate.js is an ES module in a folder without a package.json saying so; Node 18 would read
// it as CommonJS (only Node 20.19+ detects the syntax), so it is imported from its text.
const src = fs.readFileSync(new URL('../../../server/console/js/validate.js', import.meta.url), 'utf8');
const V = await import(`data:text/javascript;base64,${Buffer.from(src).toString('base64')}`);
const opts = { timeout: 60000 };

test('firmware name: 1-50, Chinese/letters/digits and _ - . ( ), ends alnum or Chinese, no spaces', opts, () => {
  for (const ok of ['a', '智能灯固件(v2)_2.0', 'fw-1.0', 'A'.repeat(50), '固件']) assert.equal(V.firmwareName(ok), null, ok);
  assert.equal(V.firmwareName(''), 'errNameRequired');
  assert.equal(V.firmwareName('A'.repeat(51)), 'errNameLength');
  assert.equal(V.firmwareName('固'.repeat(51)), 'errNameLength');
  assert.equal(V.firmwareName('my fw'), 'errNameChars');
  assert.equal(V.firmwareName('fw#1'), 'errNameChars');
  assert.equal(V.firmwareName('-fw'), 'errNameEnds');
  assert.equal(V.firmwareName('fw(v2)'), 'errNameEnds');
  assert.equal(V.firmwareName('fw.'), 'errNameEnds');
});

test('firmware file: name without extension 1-64 of Chinese/letters/digits/_/-, formats, size', opts, () => {
  const f = (name, size = 10) => V.firmwareFile({ name, size });
  for (const ok of ['a.bin', 'x.rom', 'x.zip', 'x.gz', 'x.tar', 'x.tar.gz', '固件_v2-1.bin', `${'a'.repeat(64)}.bin`]) assert.equal(f(ok), null, ok);
  assert.equal(V.firmwareFile(null), 'errFileRequired');
  assert.equal(f('a.exe'), 'errFileFormat');
  assert.equal(f('abin'), 'errFileFormat');
  assert.equal(f('.bin'), 'errFileName');
  assert.equal(f('fw-2.0.bin'), 'errFileName');
  assert.equal(f('my fw.bin'), 'errFileName');
  assert.equal(f(`${'a'.repeat(65)}.bin`), 'errFileName');
  assert.equal(f('a.bin', 104857600), null);
  assert.equal(f('a.bin', 104857601), 'errFileSize');
  assert.equal(f('a.bin', 0), 'errFileEmpty');
  assert.deepEqual(V.splitFileName('a.b.tar.gz'), { base: 'a.b', ext: 'tar.gz' });
});

test('version and description', opts, () => {
  assert.equal(V.firmwareVersion('1.0.0-rc_1'), null);
  assert.equal(V.firmwareVersion('v'.repeat(100)), null);
  assert.equal(V.firmwareVersion('v'.repeat(101)), 'errVersionRule');
  assert.equal(V.firmwareVersion(''), 'errVersionRequired');
  assert.equal(V.firmwareVersion('1.0 beta'), 'errVersionRule');
  assert.equal(V.firmwareVersion('版本1'), 'errVersionRule');
  assert.equal(V.firmwareDescription('长'.repeat(100)), null);
  assert.equal(V.firmwareDescription('长'.repeat(101)), 'errDescription');
});

test('batch form: ranges, directed needs devices, interval only with retries', opts, () => {
  const base = { scope: 'all', validityDays: '7', timeoutMinutes: '60', retryTimes: '0', retryIntervalMinutes: '' };
  assert.deepEqual(V.batchForm(base), {});
  assert.deepEqual(V.batchForm({ ...base, scope: 'directed', identifiers: [] }), { identifiers: 'errScopeDevices' });
  assert.deepEqual(V.batchForm({ ...base, scope: 'directed', identifiers: ['a'] }), {});
  assert.deepEqual(V.batchForm({ ...base, validityDays: '8' }), { validityDays: 'errValidity' });
  assert.deepEqual(V.batchForm({ ...base, validityDays: '0' }), { validityDays: 'errValidity' });
  assert.deepEqual(V.batchForm({ ...base, timeoutMinutes: '1441' }), { timeoutMinutes: 'errTimeout' });
  assert.deepEqual(V.batchForm({ ...base, timeoutMinutes: '1.5' }), { timeoutMinutes: 'errTimeout' });
  assert.deepEqual(V.batchForm({ ...base, retryTimes: '6' }), { retryTimes: 'errRetryTimes' });
  assert.deepEqual(V.batchForm({ ...base, retryTimes: '1' }), { retryIntervalMinutes: 'errRetryInterval' });
  assert.deepEqual(V.batchForm({ ...base, retryTimes: '5', retryIntervalMinutes: '4320' }), {});
  assert.deepEqual(V.batchForm({ ...base, retryTimes: '5', retryIntervalMinutes: '4321' }), { retryIntervalMinutes: 'errRetryInterval' });
  assert.deepEqual(V.batchForm({ ...base, maxPushPerMinute: '' }), {});
  assert.deepEqual(V.batchForm({ ...base, maxPushPerMinute: '1000000' }), {});
  assert.deepEqual(V.batchForm({ ...base, maxPushPerMinute: '0' }), { maxPushPerMinute: 'errPushRate' });
});

test('device import file: NDJSON lines with an identifier', opts, () => {
  assert.deepEqual(V.parseDeviceNdjson('{"identifier":"a"}\n\n{"identifier":"b","deviceName":"B"}\n').devices.length, 2);
  assert.deepEqual(V.parseDeviceNdjson('{"identifier":"a"}\nnot json\n'), { error: 'importBadLine', line: 2 });
  assert.deepEqual(V.parseDeviceNdjson('{"deviceName":"x"}'), { error: 'importBadLine', line: 1 });
  assert.deepEqual(V.parseDeviceNdjson('\n'), { error: 'importEmpty', line: 0 });
});

test('tags k=v (at most 20, key and value rules), from-versions, group names', opts, () => {
  assert.deepEqual(V.parseTags('hw=v2, site=north\nrev=a:b/c+1'), { tags: { hw: 'v2', site: 'north', rev: 'a:b/c+1' } });
  assert.deepEqual(V.parseTags(''), { tags: {} });
  assert.deepEqual(V.parseTags('site north'), { error: 'errTagSyntax', item: 'site' });
  assert.deepEqual(V.parseTags('a=b=c'), { error: 'errTagSyntax', item: 'a=b=c' });
  assert.deepEqual(V.parseTags(`${'k'.repeat(33)}=v`).error, 'errTagSyntax');
  assert.deepEqual(V.parseTags(`k=${'v'.repeat(65)}`).error, 'errTagSyntax');
  assert.deepEqual(V.parseTags('a=1,a=2'), { error: 'errTagTwice', item: 'a' });
  assert.equal(V.parseTags(Array.from({ length: 21 }, (_, i) => `k${i}=v`).join(',')).error, 'errTooManyTags');
  assert.equal(Object.keys(V.parseTags(Array.from({ length: 20 }, (_, i) => `k${i}=v`).join(',')).tags).length, 20);
  assert.deepEqual(V.parseVersions('1.0.0, 1.1.0'), { versions: ['1.0.0', '1.1.0'] });
  assert.deepEqual(V.parseVersions('1.0+b'), { error: 'errVersionChars', item: '1.0+b' });
  assert.equal(V.parseVersions('1.0,1.0').error, 'errVersionTwice');
  assert.equal(V.groupName('lab-1.a_b'), null);
  assert.equal(V.groupName('lab one'), 'errGroupName');
  assert.equal(V.groupName(''), 'errGroupName');
});
