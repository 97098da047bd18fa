// Accounts (账号与令牌): the caller's API tokens (an admin: everyone's) with their last use,
// created in a dialog that shows the token once, revoked at once; and for an admin the
// users: created with a role (and a password, or none for a service account), disabled and
// enabled. What the caller's role may not do is refused by the server and shown as such.

import { t, fmtTime } from '../i18n.js';
import { get, post, del, request } from '../api.js';
import { el, clear, table, openDialog, dialogForm, field, setFieldError, errorBox, errorText, toast, confirmDialog, badge } from '../ui.js';

const ROLES = ['viewer', 'operator', 'admin'];
const roleSelect = (name) => el('select', { name }, ROLES.map((r) => el('option', { value: r }, t(`role_${r}`))));

export function renderAccounts(main, ctx) {
  ctx.setTitle(t('accountsTitle'));
  const tokens = el('div', el('p.muted', t('loading')));
  const users = el('div');
  const reload = () => ctx.navigate('#/accounts');
  main.append(
    el('div.page-head', el('h1', t('accountsTitle')),
      el('div.page-actions',
        el('button.btn.primary', { type: 'button', id: 'add-token', on: { click: () => addToken(reload) } }, t('addToken')),
        el('button.btn', { type: 'button', id: 'add-user', on: { click: () => addUser(reload) } }, t('addUser')))),
    el('h2', t('tokensTitle')), tokens,
    el('h2', t('usersTitle')), users);

  (async () => {
    try {
      const res = await get('/tokens', { page: 1, pageSize: 100 });
      if (!ctx.alive()) return;
      clear(tokens).append(table([
        { label: t('tokenName'), cell: (k) => k.name },
        { label: t('role'), cell: (k) => t(`role_${k.role}`) },
        { label: t('userName'), cell: (k) => k.userName || 'admin-token' },
        { label: t('createdTime'), cell: (k) => fmtTime(k.createdTime) },
        { label: t('tokenExpires'), cell: (k) => (k.expiresAt ? fmtTime(k.expiresAt) : t('never')) },
        { label: t('lastUsed'), cell: (k) => (k.lastUsedTime ? fmtTime(k.lastUsedTime) : '—') },
        {
          label: t('actions'), cls: 'actions',
          cell: (k) => el('button.link.danger', { type: 'button', 'data-action': 'revoke', on: { click: async () => {
            if (!(await confirmDialog(t('revokeTitle'), t('revokeConfirm', { name: k.name }), t('revoke'), true))) return;
            try { await del(`/tokens/${encodeURIComponent(k.id)}`); toast(t('revoked'), 'success'); } catch (e) { toast(errorText(e), 'error'); }
            reload();
          } } }, t('revoke')),
        },
      ], res.items || [], { caption: t('tokensTitle'), rowAttrs: (k) => ({ 'data-token-id': k.id }) }));
    } catch (e) {
      if (ctx.alive()) clear(tokens).append(errorBox(e));
    }
    try {
      const res = await get('/users', { page: 1, pageSize: 100 });
      if (!ctx.alive()) return;
      clear(users).append(table([
        { label: t('userName'), cell: (u) => u.userName },
        { label: t('role'), cell: (u) => t(`role_${u.role}`) },
        { label: t('state'), cell: (u) => (u.disabled ? badge(t('userDisabled'), 'warn') : badge(t('userEnabled'), 'ok')) },
        { label: t('createdTime'), cell: (u) => fmtTime(u.createdTime) },
        {
          label: t('actions'), cls: 'actions',
          cell: (u) => el('button.link', { type: 'button', 'data-action': u.disabled ? 'enable' : 'disable', on: { click: async () => {
            try { await request('PATCH', `/users/${encodeURIComponent(u.userName)}`, { json: { disabled: !u.disabled } }); } catch (e) { toast(errorText(e), 'error'); }
            reload();
          } } }, u.disabled ? t('enable') : t('disable')),
        },
      ], res.items || [], { caption: t('usersTitle'), rowAttrs: (u) => ({ 'data-user': u.userName }) }));
    } catch (e) {
      if (ctx.alive()) clear(users).append(errorBox(e));
    }
  })();
}

function addToken(reload) {
  openDialog({ title: t('addToken') }, (close) => {
    const name = el('input', { name: 'tokenName', required: true, maxLength: 64, autocomplete: 'off' });
    const role = roleSelect('role');
    const days = el('input', { name: 'days', type: 'number', min: 1, max: 3650 });
    const fName = field({ label: t('tokenName'), input: name, required: true });
    const fRole = field({ label: t('role'), input: role, required: true });
    const fDays = field({ label: t('tokenDays'), input: days, help: t('tokenDaysHelp') });
    const form = dialogForm(close, t('create'), async () => {
      setFieldError(fName, ''); setFieldError(fRole, ''); setFieldError(fDays, '');
      if (!name.value.trim()) { setFieldError(fName, t('required')); name.focus(); return; }
      const body = { name: name.value.trim(), role: role.value };
      if (days.value) body.expiresAt = new Date(Date.now() + Number(days.value) * 86400000).toISOString();
      try {
        const k = await post('/tokens', body);
        // shown once: the dialog now holds the token until it is closed
        form.replaceWith(el('div',
          el('p', t('tokenShownOnce')),
          el('pre.secret', { id: 'new-token' }, k.token),
          el('div.dialog-actions', el('button.btn.primary', { type: 'button', on: { click: () => { close(k); reload(); } } }, t('close')))));
      } catch (err) {
        setFieldError(err.field === 'role' ? fRole : err.field === 'expiresAt' ? fDays : fName, errorText(err));
      }
    }, fName, fRole, fDays);
    return form;
  });
}

function addUser(reload) {
  openDialog({ title: t('addUser') }, (close) => {
    const name = el('input', { name: 'userName', required: true, maxLength: 64, autocomplete: 'off' });
    const pw = el('input', { name: 'newPassword', type: 'password', autocomplete: 'new-password' });
    const role = roleSelect('role');
    const fName = field({ label: t('userName'), input: name, required: true });
    const fPw = field({ label: t('password'), input: pw, help: t('passwordHelp') });
    const fRole = field({ label: t('role'), input: role, required: true });
    return dialogForm(close, t('create'), async () => {
      setFieldError(fName, ''); setFieldError(fPw, ''); setFieldError(fRole, '');
      if (!name.value.trim()) { setFieldError(fName, t('required')); name.focus(); return; }
      const body = { userName: name.value.trim(), role: role.value };
      if (pw.value) body.password = pw.value;
      try {
        await post('/users', body);
        toast(t('userCreated', { name: body.userName }), 'success');
        close(true);
        reload();
      } catch (err) {
        setFieldError(err.field === 'password' ? fPw : err.field === 'role' ? fRole : fName, errorText(err));
      }
    }, fName, fPw, fRole);
  });
}
