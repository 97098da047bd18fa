// Console shell: sign-in gate, top bar (navigation, language, sign out) and a hash router.
// Routes:
//   #/firmwares[?productKey=]          firmware list (固件升级首页)
//   #/products                         products
//   #/products/{pk}                    devices of a product
//   #/batches[?firmwareId=&state=]     batch list (批次查看)
//   #/batches/{batchId}                batch detail
//   #/accounts, #/audit                users and tokens, the audit log (admin)
//   #/webhooks[/{id}]                  webhooks, one webhook's delivery log (admin)
// A page registers cleanups (timers) with ctx.onLeave and checks ctx.alive() after awaits.

import { t, getLang, setLang } from './i18n.js';
import { getToken, setUnauthorizedHandler } from './api.js';
import { el, clear } from './ui.js';
import { renderSignIn, signOutSession } from './pages/signin.js';
import { renderAudit } from './pages/audit.js';
import { renderAccounts } from './pages/accounts.js';
import { renderWebhooks, renderWebhookLog } from './pages/webhooks.js';
import { renderProducts } from './pages/products.js';
import { renderDevices } from './pages/devices.js';
import { renderFirmwares } from './pages/firmwares.js';
import { renderBatches } from './pages/batches.js';
import { renderBatchDetail } from './pages/batch-detail.js';

const main = document.getElementById('main');
let cleanups = [];
let routeSeq = 0;
let signInNotice = '';

export function navigate(hash) {
  if (location.hash === hash) route(); else location.hash = hash;
}

function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/firmwares';
  const [path, q = ''] = raw.split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  return { parts, query: Object.fromEntries(new URLSearchParams(q)) };
}

function renderTopbar(active) {
  document.getElementById('topbar').hidden = false;
  document.getElementById('brand').textContent = t('appTitle');
  const nav = clear(document.getElementById('mainnav'));
  const links = [['firmwares', 'navFirmwares'], ['batches', 'navBatches'], ['products', 'navProducts'], ['accounts', 'navAccounts'], ['webhooks', 'navWebhooks'], ['audit', 'navAudit']];
  for (const [r, key] of links) {
    nav.append(el('a', { href: `#/${r}`, 'aria-current': active === r ? 'page' : null }, t(key)));
  }
  const lang = document.getElementById('lang-btn');
  lang.textContent = t('langSwitch');
  lang.setAttribute('aria-label', t('langSwitchLabel'));
  document.getElementById('signout-btn').textContent = t('signOut');
  document.getElementById('skip-link').textContent = t('skipToMain');
}

function route() {
  for (const fn of cleanups) { try { fn(); } catch { /* ignore */ } }
  cleanups = [];
  const seq = ++routeSeq;
  document.querySelectorAll('dialog').forEach((d) => d.remove());
  clear(main);
  document.getElementById('skip-link').textContent = t('skipToMain');
  if (!getToken()) {
    document.getElementById('topbar').hidden = true;
    document.title = `${t('signInTitle')} · ${t('appTitle')}`;
    renderSignIn(main, { notice: signInNotice, onSignedIn: () => { signInNotice = ''; route(); } });
    return;
  }
  const { parts, query } = parseHash();
  const ctx = {
    query,
    navigate,
    setTitle: (s) => { document.title = `${s} · ${t('appTitle')}`; },
    onLeave: (fn) => { if (seq === routeSeq) cleanups.push(fn); else fn(); },
    alive: () => seq === routeSeq,
  };
  let section = parts[0] || 'firmwares';
  if (!['products', 'batches', 'accounts', 'webhooks', 'audit'].includes(section)) section = 'firmwares';
  renderTopbar(section);
  if (section === 'products' && parts[1]) renderDevices(main, { ...ctx, productKey: parts[1] });
  else if (section === 'products') renderProducts(main, ctx);
  else if (section === 'batches' && parts[1]) renderBatchDetail(main, { ...ctx, batchId: parts[1] });
  else if (section === 'batches') renderBatches(main, ctx);
  else if (section === 'audit') renderAudit(main, ctx);
  else if (section === 'accounts') renderAccounts(main, ctx);
  else if (section === 'webhooks' && parts[1]) renderWebhookLog(main, { ...ctx, webhookId: parts[1] });
  else if (section === 'webhooks') renderWebhooks(main, ctx);
  else renderFirmwares(main, ctx);
  // the link or button that led here is gone: keyboard focus starts again at the page
  if (!document.activeElement || document.activeElement === document.body) main.focus({ preventScroll: true });
}

function signOut(notice = '') {
  signInNotice = notice;
  // the token is forgotten at once; a console session is also ended on the server
  signOutSession().finally(() => route());
}

setUnauthorizedHandler(() => {
  if (getToken()) signOut(t('signedOutExpired'));
});

document.getElementById('lang-btn').addEventListener('click', () => {
  setLang(getLang() === 'zh' ? 'en' : 'zh');
  clear(document.getElementById('toasts'));
  route();
  document.getElementById('lang-btn').focus();
});
document.getElementById('signout-btn').addEventListener('click', () => signOut());
// the skip link must not change the hash (the router's)
document.getElementById('skip-link').addEventListener('click', (e) => { e.preventDefault(); main.focus(); });
window.addEventListener('hashchange', route);
route();
