// The batch create dialog's target section (升级目标 / Target), one part of its advanced
// settings: tags (all must match), groups (any), from-versions and continuous, with a live
// count of the devices that match and of those a batch of this firmware would take now
// (GET .../devices:count). targetSection() returns the section's node, what it adds to the
// create-batch body, and where the server's errors about its fields go.

import { t, fmtNum } from '../i18n.js';
import { get } from '../api.js';
import { el, clear, field, setFieldError, uid } from '../ui.js';
import * as V from '../validate.js';

export function targetSection(fw) {
  const pk = fw.productKey;
  const tags = el('input', { name: 'filterTags', autocomplete: 'off', spellcheck: false, placeholder: 'hw=v2, site=north' });
  const versions = el('input', { name: 'fromVersions', autocomplete: 'off', spellcheck: false, placeholder: '1.0.0, 1.1.0' });
  const continuous = el('input', { type: 'checkbox', name: 'continuous', id: uid('continuous') });
  const groupBox = el('div.group-choices', el('p.muted', t('loading')));
  const count = el('p.target-count', { 'aria-live': 'polite' });
  const fTags = field({ label: t('filterTags'), input: tags, help: t('filterTagsHelp') });
  const fVersions = field({ label: t('fromVersions'), input: versions, help: t('fromVersionsHelp') });
  const groupsHelp = uid('groups-help');
  const fGroups = el('fieldset.field', { 'data-field': 'filter.groups', 'aria-describedby': groupsHelp },
    el('legend', t('filterGroups')), groupBox,
    el('div.help', { id: groupsHelp }, t('filterGroupsHelp')),
    el('div.field-error', { 'aria-live': 'polite' }));
  const fContinuous = el('div.field.check', { 'data-field': 'continuous' },
    el('div.radio', continuous, el('label', { for: continuous.id }, el('span.strong', t('continuous')))),
    el('div.help', t('continuousHelp')),
    el('div.field-error', { 'aria-live': 'polite' }));
  const root = el('section.target', { id: 'batch-target' },
    el('h3', t('targetTitle')), el('p.muted', t('targetHelp')),
    el('div.grid2', fTags, fVersions), fGroups, fContinuous, count);

  const chosenGroups = () => [...groupBox.querySelectorAll('input:checked')].map((c) => c.value);
  get(`/products/${encodeURIComponent(pk)}/groups`, { pageSize: 1000 })
    .then((r) => {
      clear(groupBox);
      const items = r.items || [];
      if (!items.length) { groupBox.append(el('p.muted', t('noGroups'))); return; }
      for (const g of items) {
        const id = uid('grp');
        groupBox.append(el('span.choice',
          el('input', { type: 'checkbox', id, value: g.name, on: { change: recount } }),
          el('label', { for: id }, `${g.name} (${fmtNum(g.members)})`)));
      }
    })
    .catch(() => clear(groupBox).append(el('p.muted', t('noGroups'))));

  // what the fields say, checked: {tags, groups, versions} or {errors: {field: text}}
  function read() {
    const errors = {};
    const tg = V.parseTags(tags.value), vs = V.parseVersions(versions.value);
    if (tg.error) errors.tags = t(tg.error, { item: tg.item });
    if (vs.error) errors.versions = t(vs.error, { item: vs.item });
    return { errors, tags: tg.tags || {}, groups: chosenGroups(), versions: vs.versions || [] };
  }

  let timer = null, seq = 0;
  function recount() {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const v = read();
      setFieldError(fTags, v.errors.tags || '');
      setFieldError(fVersions, v.errors.versions || '');
      if (v.errors.tags || v.errors.versions) { count.textContent = ''; return; }
      const mine = ++seq;
      try {
        const r = await get(`/products/${encodeURIComponent(pk)}/devices:count`, {
          tag: Object.entries(v.tags).map(([k, x]) => `${k}=${x}`).join(','),
          group: v.groups.join(','),
          fromVersions: v.versions.join(','),
          firmwareId: fw.firmwareId,
        });
        if (mine === seq) count.textContent = t('matchCount', { n: fmtNum(r.matching ?? 0), m: fmtNum(r.eligible ?? 0) });
      } catch (e) {
        if (mine === seq) count.textContent = '';
      }
    }, 250);
  }
  tags.addEventListener('input', recount);
  versions.addEventListener('input', recount);
  recount();

  const fields = { filter: fTags, 'filter.tags': fTags, 'filter.groups': fGroups, fromVersions: fVersions, continuous: fContinuous };
  return {
    root,
    // Adds the target to body (the create-batch payload, scope already set); returns
    // {field: text} of what is wrong, shown at the fields.
    apply(body) {
      const v = read();
      const errs = {};
      if (v.errors.tags) errs['filter.tags'] = v.errors.tags;
      if (v.errors.versions) errs.fromVersions = v.errors.versions;
      const filtered = Object.keys(v.tags).length > 0 || v.groups.length > 0;
      if (filtered && body.scope === 'directed') errs['filter.tags'] = t('errFilterDirected');
      if (continuous.checked && body.scope === 'directed') errs.continuous = t('errContinuousDirected');
      for (const [k, f] of Object.entries(fields)) if (k !== 'filter') setFieldError(f, errs[k] || '');
      if (Object.keys(errs).length) return errs;
      if (filtered) {
        body.scope = 'filter';
        body.filter = {};
        if (Object.keys(v.tags).length) body.filter.tags = v.tags;
        if (v.groups.length) body.filter.groups = v.groups;
      }
      if (v.versions.length) body.fromVersions = v.versions;
      if (continuous.checked) body.continuous = true;
      return errs;
    },
    // The server's refusal naming one of this section's fields: shown there (true), or not ours.
    showError(fieldName, text) {
      const key = Object.keys(fields).find((k) => fieldName === k || (fieldName || '').startsWith(`${k}.`));
      if (!key) return false;
      setFieldError(fields[key], text);
      return true;
    },
    focus(fieldName) {
      const f = fields[fieldName] || fTags;
      f.querySelector('input')?.focus();
    },
  };
}
