// The API's field rules, checked in the page before anything is sent. Pure functions: each returns
// null when the value is fine, or the i18n key of the message. The server checks the same rules
// (docs/api.md); its answer, when it differs, is shown by error.field.

const HAN = '\\p{Script=Han}';
const NAME_CHARS = new RegExp(`^[${HAN}A-Za-z0-9_\\-.()]+$`, 'u');
const NAME_END = new RegExp(`^[${HAN}A-Za-z0-9]$`, 'u');
const FILE_BASE = new RegExp(`^[${HAN}A-Za-z0-9_\\-]{1,64}$`, 'u');
const VERSION = /^[A-Za-z0-9_.-]{1,100}$/;
const IDENT = /^[A-Za-z0-9_-]{1,64}$/;

export const MAX_FIRMWARE_BYTES = 104857600;
export const EXTENSIONS = ['tar.gz', 'bin', 'rom', 'zip', 'gz', 'tar', 'swu', 'raucb'];

const len = (s) => [...s].length;

export function firmwareName(v) {
  v = v ?? '';
  if (v.length === 0) return 'errNameRequired';
  if (len(v) > 50) return 'errNameLength';
  if (!NAME_CHARS.test(v)) return 'errNameChars';
  const chars = [...v];
  if (!NAME_END.test(chars[0]) || !NAME_END.test(chars[chars.length - 1])) return 'errNameEnds';
  return null;
}

export function productKey(v) {
  return v ? null : 'errProductRequired';
}

/** Splits "a.b.tar.gz" into base "a.b" and extension "tar.gz"; ext is '' when not a known one. */
export function splitFileName(name) {
  const lower = name.toLowerCase();
  for (const ext of EXTENSIONS) {
    if (lower.endsWith('.' + ext)) return { base: name.slice(0, name.length - ext.length - 1), ext };
  }
  return { base: name, ext: '' };
}

/** file: {name, size} (a File works). */
export function firmwareFile(file) {
  if (!file) return 'errFileRequired';
  const { base, ext } = splitFileName(file.name);
  if (!ext) return 'errFileFormat';
  if (!FILE_BASE.test(base)) return 'errFileName';
  if (file.size > MAX_FIRMWARE_BYTES) return 'errFileSize';
  if (file.size === 0) return 'errFileEmpty';
  return null;
}

export function firmwareVersion(v) {
  v = v ?? '';
  if (v.length === 0) return 'errVersionRequired';
  return VERSION.test(v) ? null : 'errVersionRule';
}

export function firmwareDescription(v) {
  return len(v ?? '') > 100 ? 'errDescription' : null;
}

/** All add-firmware fields at once: {field: key} for the broken ones (field names as the API's). */
export function firmwareForm(f) {
  const out = {};
  const put = (k, e) => { if (e) out[k] = e; };
  put('firmwareName', firmwareName(f.firmwareName));
  put('productKey', productKey(f.productKey));
  put('file', firmwareFile(f.file));
  put('firmwareVersion', firmwareVersion(f.firmwareVersion));
  put('firmwareDescription', firmwareDescription(f.firmwareDescription));
  return out;
}

function intIn(v, lo, hi) {
  const s = String(v ?? '').trim();
  if (!/^\d+$/.test(s)) return false;
  const n = Number(s);
  return n >= lo && n <= hi;
}

/**
 * Batch form: {scope, identifiers, validityDays, policy, timeoutMinutes, retryTimes, retryIntervalMinutes,
 * maxPushPerMinute (optional; docs/batches.md, "Create-batch parameters")}.
 */
export function batchForm(f) {
  const out = {};
  if (f.scope === 'directed' && (!f.identifiers || f.identifiers.length === 0)) out.identifiers = 'errScopeDevices';
  if (!intIn(f.validityDays, 1, 7)) out.validityDays = 'errValidity';
  if (!intIn(f.timeoutMinutes, 1, 1440)) out.timeoutMinutes = 'errTimeout';
  if (!intIn(f.retryTimes, 0, 5)) out.retryTimes = 'errRetryTimes';
  else if (Number(f.retryTimes) > 0 && !intIn(f.retryIntervalMinutes, 1, 4320)) out.retryIntervalMinutes = 'errRetryInterval';
  if (f.maxPushPerMinute !== undefined && String(f.maxPushPerMinute).trim() !== '' && !intIn(f.maxPushPerMinute, 1, 1000000)) {
    out.maxPushPerMinute = 'errPushRate';
  }
  return out;
}

export function identifier(v) {
  return IDENT.test(v ?? '') ? null : 'identifierRule';
}

/** NDJSON device list -> {devices} or {error: key, line}. */
export function parseDeviceNdjson(text) {
  const devices = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i].trim();
    if (!raw) continue;
    let o;
    try { o = JSON.parse(raw); } catch { return { error: 'importBadLine', line: i + 1 }; }
    if (!o || typeof o !== 'object' || Array.isArray(o) || typeof o.identifier !== 'string') {
      return { error: 'importBadLine', line: i + 1 };
    }
    devices.push(o);
  }
  if (devices.length === 0) return { error: 'importEmpty', line: 0 };
  return { devices };
}

// ---- targeting (docs/api.md, "Tags and groups") ----------------------------------------------
const TAG_KEY = /^[A-Za-z0-9_.-]{1,32}$/;
const TAG_VALUE = /^[A-Za-z0-9_.:/+-]{1,64}$/;
const GROUP_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
export const MAX_TAGS = 20;

/** "k=v, k2=v2" (commas, spaces or new lines between) into {tags} or {error, item}. */
export function parseTags(text) {
  const tags = {};
  const items = String(text ?? '').split(/[\s,]+/).filter((s) => s);
  for (const item of items) {
    const eq = item.indexOf('=');
    const k = eq > 0 ? item.slice(0, eq) : '', v = eq > 0 ? item.slice(eq + 1) : '';
    if (!TAG_KEY.test(k) || !TAG_VALUE.test(v)) return { error: 'errTagSyntax', item };
    if (k in tags) return { error: 'errTagTwice', item: k };
    tags[k] = v;
  }
  if (Object.keys(tags).length > MAX_TAGS) return { error: 'errTooManyTags' };
  return { tags };
}

/** "1.0.0, 1.1.0" into {versions} or {error, item}. */
export function parseVersions(text) {
  const versions = String(text ?? '').split(/[\s,]+/).filter((s) => s);
  for (const v of versions) if (!VERSION.test(v)) return { error: 'errVersionChars', item: v };
  if (new Set(versions).size !== versions.length) return { error: 'errVersionTwice' };
  if (versions.length > 50) return { error: 'errTooManyVersions' };
  return { versions };
}

export function groupName(v) {
  return GROUP_NAME.test(v ?? '') ? null : 'errGroupName';
}
