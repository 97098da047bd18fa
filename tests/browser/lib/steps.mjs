// Steps of a browser test file that run in order on one environment (lib/env.mjs) and one
// page: a step is skipped once an earlier one failed, or under the API stand-in
// (OTA_BROWSER_MOCK=1) when the file needs the real otad; a failing step leaves a
// screenshot FAILED-<prefix>-<step>.png in out/, and `failed` tells the file's after() to
// print otad's log and keep its data folder.

import { test } from 'node:test';
import { shot } from './browser.mjs';

export const STEP_MS = 300000;

/** steps(prefix, () => ({env, page}), why) -> {step(name, fn), failed} */
export function steps(prefix, ctx, realWhy) {
  const s = { failed: false };
  s.step = (name, fn) => test(name, { timeout: STEP_MS }, async (t) => {
    if (s.failed) { t.skip('an earlier step failed'); return; }
    if (ctx().env.mock) { t.skip(`${realWhy} (OTA_BROWSER_MOCK=1)`); return; }
    try { await fn(t); } catch (e) {
      s.failed = true;
      await shot(ctx().page, `FAILED-${prefix}-${name.replace(/[^\w-]+/g, '_')}`).catch(() => {});
      throw e;
    }
  });
  return s;
}
