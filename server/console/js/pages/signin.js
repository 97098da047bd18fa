// Sign in with the admin token. The token is checked against the API, then kept in
// sessionStorage (this tab only).

import { t } from '../i18n.js';
import { checkToken, setToken } from '../api.js';
import { el, field, setFieldError, errorText, toast } from '../ui.js';
import { getLang, setLang } from '../i18n.js';

export function renderSignIn(main, { notice, onSignedIn }) {
  const input = el('input', { type: 'password', name: 'token', autocomplete: 'current-password', required: true, spellcheck: false });
  const f = field({ label: t('adminToken'), input, required: true });
  const btn = el('button.btn.primary', { type: 'submit' }, t('signIn'));
  const form = el('form.card.signin', {
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
  el('div.signin-head',
    el('h1', t('signInTitle')),
    el('button.btn.ghost.small', {
      type: 'button', id: 'signin-lang', 'aria-label': t('langSwitchLabel'),
      on: { click: () => { setLang(getLang() === 'zh' ? 'en' : 'zh'); main.replaceChildren(); renderSignIn(main, { notice, onSignedIn }); } },
    }, t('langSwitch'))),
  notice ? el('div.alert.warn', { role: 'alert' }, notice) : null,
  el('p.muted', t('signInHelp')),
  f,
  el('div.form-actions', btn));
  main.append(el('div.signin-wrap', form));
  input.focus();
}
