// A scripted device speaking the device protocol (docs/device-protocol.md) over MQTT 3.1.1: client
// id and username "{productKey}.{identifier}", password its deviceSecret; reports its version,
// receives pushes, acks them, reports progress and the new version when told to.

import mqtt from 'mqtt';

export class Device {
  constructor({ port, productKey, identifier, secret, version }) {
    Object.assign(this, { port, productKey, identifier, secret, version });
    this.prefix = `/sys/${productKey}/${identifier}/`;
    this.pushes = [];
    this.waiters = [];
    this.seq = 0;
  }

  async connect() {
    const id = `${this.productKey}.${this.identifier}`;
    this.client = await mqtt.connectAsync(`mqtt://127.0.0.1:${this.port}`, {
      clientId: id, username: id, password: this.secret, protocolVersion: 4, clean: true, reconnectPeriod: 0, connectTimeout: 5000,
    });
    this.client.on('message', (topic, buf) => {
      if (!topic.endsWith('/ota/firmware/upgrade')) return;
      const msg = JSON.parse(buf.toString());
      this.pushes.push(msg);
      this.waiters.splice(0).forEach((w) => w(msg));
    });
    await this.client.subscribeAsync(`${this.prefix}ota/firmware/upgrade`, { qos: 1 });
    await this.reportVersion(this.version);
  }

  send(suffix, payload) {
    return this.client.publishAsync(this.prefix + suffix, JSON.stringify({ version: '1.0', ...payload }), { qos: 1 });
  }

  msgId() { return `${this.identifier}-${Date.now()}-${++this.seq}`; }

  reportVersion(v) { this.version = v; return this.send('ota/version', { msgId: this.msgId(), data: { firmwareVersion: v } }); }

  /** Resolves with the next push (or one that came already and was not taken). */
  nextPush(timeoutMs = 30000) {
    if (this.pushes.length) return Promise.resolve(this.pushes.shift());
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`${this.identifier}: no push within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push((m) => { clearTimeout(t); this.pushes.shift(); resolve(m); });
    });
  }

  ack(push) { return this.send('ota/firmware/upgrade_reply', { msgId: push.msgId, code: 200 }); }

  progress(step, desc = '') { return this.send('ota/progress', { msgId: this.msgId(), data: { step, desc } }); }

  async close() { if (this.client) await this.client.endAsync(true).catch(() => {}); }
}
