// Sign in with a user name and password (POST /api/v1/auth/login: a console session token,
// 8 hours), or with a token (an API token or the admin token), checked against the API. The
// token is kept in sessionStorage (this tab only); a session is marked so that signing out
// also ends it on the server (signOutSession).

import { t } from '../i18n.js';
import { checkToken, setToken, request, getToken } from '../api.js';
import { el, field, setFieldError, errorText, toast } from '../ui.js';
import { getLang, setLang } from '../i18n.js';

const SESSION_KEY = 'ota.session';

function markSession(on) {
  try {
    if (on) sessionStorage.setItem(SESSION_KEY, '1'); else sessionStorage.removeItem(SESSION_KEY);
  } catch { /* storage blocked */ }
}

/** Ends the console session on the server (when the token is one), then forgets the token. */
export async function signOutSession() {
  let session = false;
  try { session = sessionStorage.getItem(SESSION_KEY) === '1'; } catch { /* storage blocked */ }
  const tok = getToken();
  markSession(false);
  setToken('');
  if (session && tok) {
    try { await request('POST', '/auth/logout', { token: tok }); } catch { /* gone already */ }
  }
}

function userForm(onSignedIn) {
  const user = el('input', { type: 'text', name: 'username', autocomplete: 'username', required: true, spellcheck: false });
  const pw = el('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true });
  const fu = field({ label: t('userName'), input: user, required: true });
  const fp = field({ label: t('password'), input: pw, required: true });
  const btn = el('button.btn.primary', { type: 'submit' }, t('signIn'));
  const form = el('form.signin-user', {
    novalidate: true,
    on: {
      submit: async (e) => {
        e.preventDefault();
        setFieldError(fu, '');
        setFieldError(fp, '');
        if (!user.value.trim()) { setFieldError(fu, t('required')); user.focus(); return; }
        if (!pw.value) { setFieldError(fp, t('required')); pw.focus(); return; }
        btn.disabled = true;
        try {
          const res = await request('POST', '/auth/login', {
            token: '', json: { userName: user.value.trim(), password: pw.value },
          });
          setToken(res.token);
          markSession(true);
          onSignedIn();
        } catch (err) {
          if (err.status === 401) {
            setFieldError(fp, t('signInBadUser'));
            pw.focus();
          } else if (err.status === 429) {
            const m = /(\d+)\s*s/.exec(err.message || '');
            setFieldError(fp, t('signInThrottled', { s: m ? m[1] : '?' }));
          } else {
            toast(errorText(err), 'error');
          }
        } finally {
          btn.disabled = false;
        }
      },
    },
  },
  el('p.muted', t('signInUserHelp')),
  fu, fp,
  el('div.form-actions', btn));
  return { form, focus: () => user.focus() };
}

function tokenForm(onSignedIn) {
  const input = el('input', { type: 'password', name: 'token', autocomplete: 'off', required: true, spellcheck: false });
  const f = field({ label: t('adminToken'), input, required: true });
  const btn = el('button.btn', { type: 'submit' }, t('signInWithToken'));
  return el('form.signin-token', {
    novalidate: true,
    on: {
      submit: async (e) => {
        e.preventDefault();
        const tok = input.value.trim();
        if (!tok) { setFieldError(f, t('required')); input.focus(); return; }
        btn.disabled = true;
        try {
          if (await checkToken(tok)) {
            setToken(tok);
            markSession(false);
            onSignedIn();
            return;
          }
          setFieldError(f, t('signInBad'));
          input.focus();
        } catch (err) {
          toast(errorText(err), 'error');
        } finally {
          btn.disabled = false;
        }
      },
    },
  },
  el('h2', t('signInTokenTitle')),
  el('p.muted', t('signInHelp')),
  f,
  el('div.form-actions', btn));
}

export function renderSignIn(main, { notice, onSignedIn }) {
  const u = userForm(onSignedIn);
  const card = el('div.card.signin',
    el('div.signin-head',
      el('h1', t('signInTitle')),
      el('button.btn.ghost.small', {
        type: 'button', id: 'signin-lang', 'aria-label': t('langSwitchLabel'),
        on: { click: () => { setLang(getLang() === 'zh' ? 'en' : 'zh'); main.replaceChildren(); renderSignIn(main, { notice, onSignedIn }); } },
      }, t('langSwitch'))),
    notice ? el('div.alert.warn', { role: 'alert' }, notice) : null,
    u.form,
    tokenForm(onSignedIn));
  main.append(el('div.signin-wrap', card));
  u.focus();
}
