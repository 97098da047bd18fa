// A stand-in for otad's management API (docs/api.md), in memory, for working on the
// console without the C server: `node tests/browser/mock-otad.mjs [port] [token]`.
// It serves server/console/ at "/" like otad. POST /api/v1/__mock/devices/{pk}/{id}/connect
// {"firmwareVersion"} stands in for a device's login and version report; a batch's devices move through the states by themselves (one device
// of three fails its download once and is retried). Not used by `make test`, which runs the
// real otad; run.sh uses it only when OTA_BROWSER_MOCK=1 is set.

import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const CONSOLE = path.resolve(here, '../../server/console');
const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml', '.png': 'image/png', '.json': 'application/json' };

export function startMock({ port = 0, token = 'devtoken', tick = 400 } = {}) {
  const products = new Map(); // pk -> {productKey, productName, description, createdTime, devices: Map}
  const firmwares = new Map();
  const batches = new Map();
  let seq = 0;
  const now = () => new Date().toISOString();
  const id = (p) => `${p}${(++seq).toString().padStart(6, '0')}`;

  const err = (res, status, code, message, field) => {
    res.writeHead(status, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ error: { code, message, ...(field ? { field } : {}) } }));
  };
  const json = (res, status, body) => {
    res.writeHead(status, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const list = (res, items, q) => {
    const page = Math.max(1, Number(q.get('page') || 1));
    const pageSize = Math.min(1000, Math.max(1, Number(q.get('pageSize') || 20)));
    json(res, 200, { items: items.slice((page - 1) * pageSize, page * pageSize), total: items.length, page, pageSize });
  };
  const body = (req) => new Promise((resolve) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
  });

  function busy(pk, ident) {
    for (const b of batches.values()) {
      if (b.state !== 'in_progress' || b.productKey !== pk) continue;
      const t = b.tasks.find((x) => x.identifier === ident);
      if (t && !['succeeded', 'failed'].includes(t.upgradeState)) return true;
    }
    return false;
  }
  function eligible(fw) {
    const p = products.get(fw.productKey);
    return [...p.devices.values()].filter((d) => d.activated && d.firmwareVersion !== fw.firmwareVersion && !busy(fw.productKey, d.identifier));
  }
  function batchRow(b) {
    const { tasks, ...row } = b;
    const counts = {};
    for (const t of tasks) counts[t.upgradeState] = (counts[t.upgradeState] || 0) + 1;
    return { ...row, total: tasks.length, succeeded: counts.succeeded || 0, failed: counts.failed || 0, counts };
  }
  function endBatch(b, state) {
    b.state = state;
    b.endTime = now();
    for (const t of b.tasks) {
      if (!['succeeded', 'failed'].includes(t.upgradeState)) Object.assign(t, { upgradeState: 'failed', failReason: 'terminated', finishTime: now() });
    }
  }

  // the simulated devices
  const timer = setInterval(() => {
    for (const b of batches.values()) {
      if (b.state !== 'in_progress') continue;
      b.tasks.forEach((t, i) => {
        const dev = products.get(b.productKey).devices.get(t.identifier);
        switch (t.upgradeState) {
          case 'to_push': t.upgradeState = 'pushed'; break;
          case 'pushed': t.upgradeState = 'to_upgrade'; break;
          case 'to_upgrade': t.upgradeState = 'upgrading'; t.progress = 5; break;
          case 'upgrading':
            if (i % 3 === 1 && t.retried === 0 && t.progress >= 30) {
              Object.assign(t, { upgradeState: t.retryTimes > 0 ? 'to_retry' : 'failed', failReason: 'download_failed', progress: 0 });
              if (t.upgradeState === 'failed') t.finishTime = now();
            } else if (t.progress >= 100) {
              Object.assign(t, { upgradeState: 'succeeded', finishTime: now(), currentVersion: b.firmwareVersion });
              dev.firmwareVersion = b.firmwareVersion;
            } else t.progress = Math.min(100, t.progress + 15 + (i % 4) * 5);
            break;
          case 'to_retry': t.retried++; t.upgradeState = 'to_push'; break;
          default: break;
        }
      });
      if (b.tasks.every((t) => ['succeeded', 'failed'].includes(t.upgradeState))) { b.state = 'completed'; b.endTime = now(); }
    }
  }, tick);

  async function api(req, res, url) {
    const p = url.pathname.replace(/^\/api\/v1/, '');
    const q = url.searchParams;
    let m;
    if (p === '/health') return json(res, 200, { status: 'ok', mock: true });
    if ((m = p.match(/^\/__mock\/devices\/([^/]+)\/([^/]+)\/connect$/))) { // stands in for a device's MQTT login + version report
      const d = products.get(m[1])?.devices.get(m[2]);
      if (!d) return err(res, 404, 'not_found', 'no such device');
      Object.assign(d, { activated: true, online: true, firmwareVersion: JSON.parse((await body(req)).toString() || '{}').firmwareVersion || '1.0.0' });
      return json(res, 200, d);
    }
    if (req.headers.authorization !== `Bearer ${token}`) return err(res, 401, 'unauthorized', 'missing or wrong admin token');
    if (p === '/products' && req.method === 'POST') {
      const b = JSON.parse((await body(req)).toString() || '{}');
      if (!b.productName) return err(res, 422, 'invalid', 'productName is required', 'productName');
      const pk = `p${crypto.randomBytes(5).toString('hex')}`;
      const prod = { productKey: pk, productName: b.productName, description: b.description || '', createdTime: now(), devices: new Map() };
      products.set(pk, prod);
      const { devices, ...row } = prod;
      return json(res, 201, row);
    }
    if (p === '/products' && req.method === 'GET') return list(res, [...products.values()].map(({ devices, ...r }) => r).reverse(), q);
    if ((m = p.match(/^\/products\/([^/]+)$/))) {
      const prod = products.get(m[1]);
      if (!prod) return err(res, 404, 'not_found', 'no such product');
      const { devices, ...row } = prod;
      return json(res, 200, row);
    }
    if ((m = p.match(/^\/products\/([^/]+)\/devices(:import)?$/))) {
      const prod = products.get(m[1]);
      if (!prod) return err(res, 404, 'not_found', 'no such product');
      const add = (o) => {
        const d = { identifier: o.identifier, deviceName: o.deviceName || '', activated: false, online: false, firmwareVersion: '', createdTime: now() };
        prod.devices.set(d.identifier, d);
        return d;
      };
      if (req.method === 'GET') {
        let items = [...prod.devices.values()];
        if (q.get('online')) items = items.filter((d) => String(d.online) === q.get('online'));
        return list(res, items, q);
      }
      if (m[2]) {
        const lines = (await body(req)).toString().split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
        for (const o of lines) if (prod.devices.has(o.identifier)) return err(res, 409, 'duplicate', `identifier ${o.identifier} exists`, 'identifier');
        lines.forEach(add);
        return json(res, 200, { created: lines.length });
      }
      const b = JSON.parse((await body(req)).toString() || '{}');
      if (!/^[A-Za-z0-9_-]{1,64}$/.test(b.identifier || '')) return err(res, 422, 'invalid', 'identifier rule', 'identifier');
      if (prod.devices.has(b.identifier)) return err(res, 409, 'duplicate', 'identifier already exists in this product', 'identifier');
      const d = add(b);
      return json(res, 201, { ...d, deviceSecret: crypto.randomBytes(16).toString('hex') });
    }
    if (p === '/firmwares' && req.method === 'POST') {
      const raw = await body(req);
      const boundary = (req.headers['content-type'] || '').split('boundary=')[1];
      const parts = {};
      let file = null;
      for (const chunk of raw.toString('latin1').split(`--${boundary}`)) {
        const mm = chunk.match(/name="([^"]+)"(?:; filename="([^"]*)")?[\s\S]*?\r\n\r\n([\s\S]*)\r\n$/);
        if (!mm) continue;
        if (mm[2] !== undefined) file = { name: Buffer.from(mm[2], 'latin1').toString(), data: Buffer.from(mm[3], 'latin1') };
        else parts[mm[1]] = Buffer.from(mm[3], 'latin1').toString();
      }
      if (!products.has(parts.productKey)) return err(res, 422, 'invalid', 'no such product', 'productKey');
      for (const f of firmwares.values()) {
        if (f.firmwareName === parts.firmwareName) return err(res, 409, 'duplicate', 'a firmware with this name exists', 'firmwareName');
        if (f.productKey === parts.productKey && f.firmwareVersion === parts.firmwareVersion) return err(res, 409, 'duplicate', 'this version exists in the product', 'firmwareVersion');
      }
      if (!file) return err(res, 422, 'invalid', 'file is required', 'file');
      const fw = {
        firmwareId: id('fw'), firmwareName: parts.firmwareName, productKey: parts.productKey, firmwareVersion: parts.firmwareVersion,
        firmwareDescription: parts.firmwareDescription || '', firmwareFileName: file.name, firmwareSize: file.data.length,
        md5: crypto.createHash('md5').update(file.data).digest('hex'), sha256: crypto.createHash('sha256').update(file.data).digest('hex'), createdTime: now(),
      };
      firmwares.set(fw.firmwareId, fw);
      return json(res, 201, fw);
    }
    if (p === '/firmwares' && req.method === 'GET') {
      let items = [...firmwares.values()].reverse();
      if (q.get('productKey')) items = items.filter((f) => f.productKey === q.get('productKey'));
      return list(res, items, q);
    }
    if ((m = p.match(/^\/firmwares\/([^/]+)$/))) {
      const fw = firmwares.get(m[1]);
      if (!fw) return err(res, 404, 'not_found', 'no such firmware');
      if (req.method === 'DELETE') {
        if ([...batches.values()].some((b) => b.firmwareId === fw.firmwareId && b.state === 'in_progress')) {
          return err(res, 409, 'firmware_in_use', 'an in-progress batch uses this firmware');
        }
        firmwares.delete(fw.firmwareId);
        res.writeHead(204); return res.end();
      }
      return json(res, 200, fw);
    }
    if ((m = p.match(/^\/firmwares\/([^/]+)\/eligible-devices$/))) {
      const fw = firmwares.get(m[1]);
      if (!fw) return err(res, 404, 'not_found', 'no such firmware');
      let items = eligible(fw);
      const s = (q.get('q') || '').toLowerCase();
      if (s) items = items.filter((d) => d.identifier.toLowerCase().includes(s) || d.deviceName.toLowerCase().includes(s));
      return list(res, items, q);
    }
    if ((m = p.match(/^\/firmwares\/([^/]+)\/batches$/)) && req.method === 'POST') {
      const fw = firmwares.get(m[1]);
      if (!fw) return err(res, 404, 'not_found', 'no such firmware');
      const b = JSON.parse((await body(req)).toString() || '{}');
      const el = eligible(fw);
      let chosen = el;
      if (b.scope === 'directed') {
        for (const ident of b.identifiers || []) if (!el.find((d) => d.identifier === ident)) return err(res, 422, 'not_eligible', `device ${ident} is not eligible`, 'identifiers');
        chosen = el.filter((d) => b.identifiers.includes(d.identifier));
      }
      if (!chosen.length) return err(res, 422, 'no_devices', 'the batch has no device', 'scope');
      const prod = products.get(fw.productKey);
      const batch = {
        batchId: id('b'), firmwareId: fw.firmwareId, firmwareName: fw.firmwareName, firmwareVersion: fw.firmwareVersion, md5: fw.md5,
        productKey: fw.productKey, productName: prod.productName, startTime: now(), endTime: null, state: 'in_progress',
        validityDays: b.validityDays, expiresTime: new Date(Date.now() + b.validityDays * 86400000).toISOString(), policy: b.policy,
        timeoutMinutes: b.timeoutMinutes, retryTimes: b.retryTimes, retryIntervalMinutes: b.retryIntervalMinutes ?? null, maxPushPerMinute: b.maxPushPerMinute ?? 60000,
        tasks: chosen.map((d) => ({ identifier: d.identifier, deviceName: d.deviceName, upgradeState: 'to_push', progress: 0, retried: 0,
          retryTimes: b.retryTimes, failReason: null, finishTime: null, currentVersion: d.firmwareVersion })),
      };
      batches.set(batch.batchId, batch);
      return json(res, 201, batchRow(batch));
    }
    if (p === '/batches') {
      let items = [...batches.values()].reverse().map(batchRow);
      for (const k of ['firmwareId', 'productKey', 'state']) if (q.get(k)) items = items.filter((b) => b[k] === q.get(k));
      return list(res, items, q);
    }
    if ((m = p.match(/^\/batches\/([^/]+)(\/devices|\/terminate)?$/))) {
      const b = batches.get(m[1]);
      if (!b) return err(res, 404, 'not_found', 'no such batch');
      if (m[2] === '/terminate') {
        if (b.state !== 'in_progress') return err(res, 409, 'not_in_progress', 'batch is not in progress');
        endBatch(b, 'terminated');
        return json(res, 200, batchRow(b));
      }
      if (m[2] === '/devices') {
        const prod = products.get(b.productKey);
        let items = b.tasks.map((t) => ({ ...t, online: prod.devices.get(t.identifier)?.online ?? false }));
        if (q.get('upgradeState')) items = items.filter((t) => t.upgradeState === q.get('upgradeState'));
        return list(res, items, q);
      }
      return json(res, 200, batchRow(b));
    }
    return err(res, 404, 'not_found', 'no such endpoint');
  }

  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://x');
    try {
      if (url.pathname.startsWith('/api/v1/')) return await api(req, res, url);
      const rel = url.pathname === '/' ? 'index.html' : decodeURIComponent(url.pathname).replace(/^\/+/, '');
      const file = path.resolve(CONSOLE, rel);
      if (!file.startsWith(CONSOLE) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) { res.writeHead(404); return res.end('not found'); }
      res.writeHead(200, { 'Content-Type': TYPES[path.extname(file)] || 'application/octet-stream', 'Cache-Control': 'no-cache' });
      fs.createReadStream(file).pipe(res);
    } catch (e) {
      err(res, 500, 'internal', e.message);
    }
  });
  return new Promise((resolve) => {
    server.listen(port, '127.0.0.1', () => resolve({
      url: `http://127.0.0.1:${server.address().port}`,
      token,
      close: () => { clearInterval(timer); server.closeAllConnections?.(); return new Promise((r) => server.close(r)); },
    }));
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const m = await startMock({ port: Number(process.argv[2] || 8090), token: process.argv[3] || 'devtoken' });
  console.log(`mock otad at ${m.url}/ token ${m.token}`);
}
