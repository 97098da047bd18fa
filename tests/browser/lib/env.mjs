// Starts what the browser tests run against, the way tests/harness/ota_harness.c does for the
// C integration tests: a temp data folder, free loopback ports, the real mosquitto with the
// project's plugin (config from scripts/broker-conf.sh), then otad, ready when
// GET /api/v1/health answers 200. stop() ends both and removes the folder (kept on failure
// or with OTA_BROWSER_KEEP=1, so the logs can be read).
//
// Environment: OTA_BUILD_DIR (the CMake build folder, set by run.sh), OTA_TIME_SCALE (passed on),
// OTA_BROWSER_MOCK=1 (use mock-otad.mjs instead: no broker, no MQTT device; for console work only).

import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const SOURCE_DIR = path.resolve(here, '../../..');
export const OUT_DIR = path.resolve(here, '../out');
export const MOCK = process.env.OTA_BROWSER_MOCK === '1';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

function waitTcp(port, ms) {
  const until = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const c = net.connect(port, '127.0.0.1');
      c.once('connect', () => { c.destroy(); resolve(); });
      c.once('error', () => {
        c.destroy();
        if (Date.now() > until) reject(new Error(`nothing listens on ${port} after ${ms} ms`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

function tail(file, n = 4000) {
  try { const s = fs.readFileSync(file, 'utf8'); return s.slice(-n); } catch { return ''; }
}

export async function startEnv() {
  fs.mkdirSync(OUT_DIR, { recursive: true });
  if (MOCK) {
    const { startMock } = await import('../mock-otad.mjs');
    const m = await startMock({ port: await freePort(), token: crypto.randomBytes(20).toString('hex') });
    return { baseUrl: m.url, token: m.token, mqttPort: 0, mock: true, dir: null, stop: m.close, logs: () => '' };
  }
  const build = path.resolve(process.env.OTA_BUILD_DIR || path.join(SOURCE_DIR, 'build'));
  const otad = path.join(build, 'server/otad');
  const plugin = path.join(build, 'broker-plugin/ota_auth.so');
  for (const f of [otad, plugin]) {
    if (!fs.existsSync(f)) throw new Error(`${f} is missing: build the project first (make build)`);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ota-browser-'));
  fs.chmodSync(dir, 0o700);
  const httpPort = await freePort();
  let mqttPort = await freePort();
  while (mqttPort === httpPort) mqttPort = await freePort();
  const token = crypto.randomBytes(20).toString('hex');
  // private, as otad makes it: otad and the broker's plugin refuse a key others may read
  fs.mkdirSync(path.join(dir, 'keys'), { recursive: true, mode: 0o700 });
  fs.writeFileSync(path.join(dir, 'keys/server.key'), crypto.randomBytes(32).toString('hex') + '\n', { mode: 0o600 });

  const procs = [];
  const env = {
    baseUrl: `http://127.0.0.1:${httpPort}`, token, mqttPort, dir, mock: false,
    logs: () => `----- otad.log -----\n${tail(path.join(dir, 'otad.log'))}\n----- broker.log -----\n${tail(path.join(dir, 'broker.log'), 2000)}`,
    stop: async ({ keep = false } = {}) => {
      for (const p of procs.reverse()) {
        if (p.exitCode !== null || p.signalCode !== null) continue;
        const gone = new Promise((r) => p.once('exit', r));
        p.kill('SIGTERM');
        const t = setTimeout(() => p.kill('SIGKILL'), 10000);
        await gone;
        clearTimeout(t);
      }
      if (!keep && process.env.OTA_BROWSER_KEEP !== '1') fs.rmSync(dir, { recursive: true, force: true });
      else console.error(`# kept test data folder ${dir}`);
    },
  };
  const launch = (bin, args, extraEnv, log) => {
    const fd = fs.openSync(path.join(dir, log), 'a');
    const p = spawn(bin, args, { env: { ...process.env, ...extraEnv }, stdio: ['ignore', fd, fd] });
    fs.closeSync(fd);
    procs.push(p);
    return p;
  };
  try {
    const conf = execFileSync('bash', [path.join(SOURCE_DIR, 'scripts/broker-conf.sh'), dir, '127.0.0.1', String(mqttPort), plugin],
      { env: { ...process.env, OTA_MQTTS_ADDR: '', OTA_MQTTS_CERT_ADDR: '' } });
    fs.writeFileSync(path.join(dir, 'mosquitto.conf'), conf);
    launch('/usr/sbin/mosquitto', ['-c', path.join(dir, 'mosquitto.conf')], {}, 'broker.log');
    await waitTcp(mqttPort, 10000);
    const server = launch(otad, [], {
      OTA_HTTP_ADDR: `127.0.0.1:${httpPort}`,
      OTA_HTTPS_ADDR: '', // no HTTPS here: the default port would collide between runs
      OTA_PUBLIC_URL: env.baseUrl,
      OTA_MQTT_ADDR: `127.0.0.1:${mqttPort}`,
      OTA_DATA_DIR: dir,
      OTA_ADMIN_TOKEN: token,
      OTA_TIME_SCALE: process.env.OTA_TIME_SCALE || '1',
    }, 'otad.log');
    const until = Date.now() + 20000;
    for (;;) {
      if (server.exitCode !== null) throw new Error(`otad exited during start (${server.exitCode})`);
      try {
        const r = await fetch(`${env.baseUrl}/api/v1/health`);
        if (r.status === 200) break;
      } catch { /* not listening yet */ }
      if (Date.now() > until) throw new Error('otad not healthy after 20 s');
      await sleep(100);
    }
  } catch (e) {
    console.error(env.logs());
    await env.stop({ keep: true });
    throw e;
  }
  return env;
}

/** Calls the API directly (test setup and checks that the page does not show). */
export async function api(env, method, p, body) {
  const r = await fetch(`${env.baseUrl}/api/v1${p}`, {
    method,
    headers: { Authorization: `Bearer ${env.token}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
}
