// A product's static groups (分组) on its page, below its devices: list (name, devices,
// created), create, add and remove devices by identifier, show a group's devices (the device
// list filtered by it), delete (with confirmation). And the device tags dialog the device
// list opens. docs/api.md "Tags and groups".

import { t, fmtTime, fmtNum } from '../i18n.js';
import { get, post, del, request } from '../api.js';
import { el, clear, table, openDialog, field, setFieldError, errorBox, errorText, toast, confirmDialog } from '../ui.js';
import * as V from '../validate.js';

export function renderGroups(box, pk, ctx, showGroup) {
  const base = `/products/${encodeURIComponent(pk)}`;
  const list = el('div', el('p.muted', t('loading')));
  const refresh = () => load();
  clear(box).append(
    el('div.page-head',
      el('h2', t('groupsTitle')),
      el('div.page-actions',
        el('button.btn', { type: 'button', id: 'add-group', on: { click: () => addGroup(base, refresh) } }, t('addGroup')))),
    el('p.muted', t('groupsHelp')),
    list);

  async function load() {
    try {
      const res = await get(`${base}/groups`, { pageSize: 1000 });
      if (!ctx.alive()) return;
      const rows = res.items || [];
      clear(list).append(rows.length
        ? table([
          { label: t('groupName'), cell: (g) => el('code', g.name) },
          { label: t('groupMembers'), cell: (g) => fmtNum(g.members) },
          { label: t('createdTime'), cell: (g) => fmtTime(g.createdTime) },
          {
            label: t('actions'),
            cls: 'actions',
            cell: (g) => el('span',
              el('button.link', { type: 'button', 'data-action': 'show', on: { click: () => showGroup(g.name) } }, t('showMembers')),
              el('button.link', { type: 'button', 'data-action': 'add', on: { click: () => changeMembers(base, g, true, refresh) } }, t('addMembers')),
              el('button.link', { type: 'button', 'data-action': 'remove', on: { click: () => changeMembers(base, g, false, refresh) } }, t('removeMembers')),
              el('button.link.danger', { type: 'button', 'data-action': 'delete', on: { click: () => deleteGroup(base, g, refresh) } }, t('delete'))),
          },
        ], rows, { caption: t('groupsTitle'), rowAttrs: (g) => ({ 'data-group': g.name }) })
        : el('p.muted', t('noGroups')));
    } catch (e) {
      if (ctx.alive()) clear(list).append(errorBox(e));
    }
  }
  load();
}

function addGroup(base, refresh) {
  openDialog({ title: t('addGroup') }, (close) => {
    const name = el('input', { name: 'name', required: true, maxLength: 64, autocomplete: 'off', spellcheck: false });
    const fName = field({ label: t('groupName'), input: name, help: t('errGroupName'), required: true });
    const submit = el('button.btn.primary', { type: 'submit' }, t('create'));
    return el('form', {
      novalidate: true,
      on: {
        submit: async (e) => {
          e.preventDefault();
          const bad = V.groupName(name.value.trim());
          setFieldError(fName, bad ? t(bad) : '');
          if (bad) { name.focus(); return; }
          submit.disabled = true;
          try {
            const g = await post(`${base}/groups`, { name: name.value.trim() });
            toast(t('groupCreated', { name: g.name }), 'success');
            close(g);
            refresh();
          } catch (err) {
            setFieldError(fName, errorText(err));
          } finally {
            submit.disabled = false;
          }
        },
      },
    }, fName, el('div.dialog-actions',
      el('button.btn', { type: 'button', on: { click: () => close() } }, t('cancel')), submit));
  });
}

function changeMembers(base, g, add, refresh) {
  openDialog({ title: `${t(add ? 'addMembers' : 'removeMembers')}: ${g.name}` }, (close) => {
    const ids = el('textarea', { name: 'identifiers', rows: 4, spellcheck: false });
    const fIds = field({ label: t('identifier'), input: ids, help: t('membersHelp'), required: true });
    const submit = el('button.btn.primary', { type: 'submit' }, t(add ? 'addMembers' : 'removeMembers'));
    return el('form', {
      novalidate: true,
      on: {
        submit: async (e) => {
          e.preventDefault();
          const list = ids.value.split(/[\s,]+/).filter((s) => s);
          if (!list.length) { setFieldError(fIds, t('required')); ids.focus(); return; }
          submit.disabled = true;
          try {
            const r = await post(`${base}/groups/${encodeURIComponent(g.name)}/members${add ? '' : ':remove'}`, { identifiers: list });
            toast(t('membersChanged', { n: fmtNum(r.changed ?? 0) }), 'success');
            close(r);
            refresh();
          } catch (err) {
            setFieldError(fIds, errorText(err));
          } finally {
            submit.disabled = false;
          }
        },
      },
    }, fIds, el('div.dialog-actions',
      el('button.btn', { type: 'button', on: { click: () => close() } }, t('cancel')), submit));
  });
}

async function deleteGroup(base, g, refresh) {
  if (!(await confirmDialog(t('groupDeleteTitle'), t('groupDeleteConfirm', { name: g.name }), t('delete'), true))) return;
  try {
    await del(`${base}/groups/${encodeURIComponent(g.name)}`);
    toast(t('groupDeleted'), 'success');
    refresh();
  } catch (e) {
    toast(errorText(e), 'error');
  }
}

/** The device's tags as "k=v" chips. */
export function tagChips(tags) {
  const entries = Object.entries(tags || {});
  if (!entries.length) return el('span.muted', t('noTags'));
  return el('span.tags', entries.map(([k, v]) => el('span.tag', `${k}=${v}`)));
}

/** Edit a device's tags (PUT replaces the set); refresh() after a save. */
export function editTags(pk, d, refresh) {
  openDialog({ title: t('editTagsTitle', { id: d.identifier }) }, (close) => {
    const text = el('textarea', { name: 'tags', rows: 5, spellcheck: false },
      Object.entries(d.tags || {}).map(([k, v]) => `${k}=${v}`).join('\n'));
    const fTags = field({ label: t('tags'), input: text, help: t('tagsHelp') });
    const submit = el('button.btn.primary', { type: 'submit' }, t('save'));
    return el('form', {
      novalidate: true,
      on: {
        submit: async (e) => {
          e.preventDefault();
          const r = V.parseTags(text.value);
          setFieldError(fTags, r.error ? t(r.error, { item: r.item }) : '');
          if (r.error) { text.focus(); return; }
          submit.disabled = true;
          try {
            await request('PUT', `/products/${encodeURIComponent(pk)}/devices/${encodeURIComponent(d.identifier)}/tags`, { json: { tags: r.tags } });
            toast(t('tagsSaved'), 'success');
            close(true);
            refresh();
          } catch (err) {
            setFieldError(fTags, errorText(err));
          } finally {
            submit.disabled = false;
          }
        },
      },
    }, fTags, el('div.dialog-actions',
      el('button.btn', { type: 'button', on: { click: () => close() } }, t('cancel')), submit));
  });
}
