// Add firmware dialog (添加固件): docs/api.md's fields and rules, checked before sending
// (the optional signature file, made offline with otactl firmware sign, is checked by the server);
// the server's refusal is shown next to the field its error names. The file goes as
// multipart/form-data through XMLHttpRequest so a progress bar can follow the upload.

import { t, fmtSize, fmtNum } from '../i18n.js';
import { upload } from '../api.js';
import { el, openDialog, field, setFieldError, errorText, toast } from '../ui.js';
import * as V from '../validate.js';

export function openAddFirmware(products, preselect, onDone) {
  let running = null; // {abort} while uploading
  return openDialog({
    title: t('addFirmwareTitle'),
    onCancel: () => {
      if (running) { running.abort(); return false; } // Esc first cancels the upload
      return true;
    },
  }, (close) => {
    const name = el('input', { name: 'firmwareName', autocomplete: 'off', maxLength: 50 });
    const product = el('select', { name: 'productKey' },
      el('option', { value: '' }, `— ${t('selectProduct')} —`),
      products.map((p) => el('option', { value: p.productKey, selected: p.productKey === preselect }, `${p.productName} (${p.productKey})`)));
    const file = el('input', { type: 'file', name: 'file', accept: '.bin,.rom,.zip,.gz,.tar,.tar.gz,.swu,.raucb' });
    const fileInfo = el('div.file-info.muted', { 'aria-live': 'polite' });
    const version = el('input', { name: 'firmwareVersion', autocomplete: 'off', maxLength: 100, spellcheck: false });
    const desc = el('textarea', { name: 'firmwareDescription', rows: 3 });
    const sigFile = el('input', { type: 'file', name: 'signature', accept: '.sig,.txt' });
    const descCount = el('span.count.muted', t('charCount', { n: 0, max: 100 }));

    const fields = {
      firmwareName: field({ label: t('firmwareName'), input: name, help: t('ruleFirmwareName'), required: true }),
      productKey: field({ label: t('selectProduct'), input: product, required: true }),
      file: field({ label: t('firmwareFile'), input: file, help: t('ruleFile'), required: true }),
      firmwareVersion: field({ label: t('firmwareVersion'), input: version, help: t('ruleVersion'), required: true }),
      firmwareDescription: field({ label: t('firmwareDescription'), input: desc, help: t('ruleDescription') }),
      signature: field({ label: t('signatureFile'), input: sigFile, help: t('ruleSignature') }),
    };
    fields.file.insertBefore(fileInfo, fields.file.querySelector('.help'));
    fields.firmwareDescription.querySelector('label').after(descCount);

    const values = () => ({
      firmwareName: name.value.trim(),
      productKey: product.value,
      file: file.files[0] || null,
      firmwareVersion: version.value.trim(),
      firmwareDescription: desc.value,
    });
    const checkOne = (k) => {
      const errs = V.firmwareForm(values());
      setFieldError(fields[k], errs[k] ? t(errs[k]) : '');
    };
    // Rules are shown as soon as a field is left, and cleared as soon as it is right again.
    for (const [k, input] of [['firmwareName', name], ['firmwareVersion', version], ['firmwareDescription', desc]]) {
      input.addEventListener('blur', () => { if (input.value) checkOne(k); });
      input.addEventListener('input', () => { if (fields[k].classList.contains('invalid')) checkOne(k); });
    }
    product.addEventListener('change', () => checkOne('productKey'));
    desc.addEventListener('input', () => {
      const n = [...desc.value].length;
      descCount.textContent = t('charCount', { n, max: 100 });
      descCount.classList.toggle('over', n > 100);
    });
    file.addEventListener('change', () => {
      const f = file.files[0];
      fileInfo.textContent = f ? `${f.name} · ${fmtSize(f.size)} (${fmtNum(f.size)} B)` : '';
      checkOne('file');
    });

    const bar = el('progress', { max: 100, value: 0, id: 'upload-progress', 'aria-label': t('uploadProgress') });
    const barText = el('span.progress-text', { 'aria-live': 'polite' });
    const progressBox = el('div.upload-progress', { hidden: true }, bar, barText);
    const formError = el('div.alert.error', { role: 'alert', hidden: true });
    const submit = el('button.btn.primary', { type: 'submit' }, t('addFirmware'));
    const cancel = el('button.btn', {
      type: 'button',
      on: { click: () => { if (running) running.abort(); else close(); } },
    }, t('cancel'));
    const inputs = [name, product, file, version, desc, sigFile];

    const form = el('form.fw-form', {
      novalidate: true,
      on: {
        submit: async (e) => {
          e.preventDefault();
          if (running) return;
          formError.hidden = true;
          const v = values();
          const errs = V.firmwareForm(v);
          for (const k of Object.keys(fields)) setFieldError(fields[k], errs[k] ? t(errs[k]) : '');
          const firstBad = Object.keys(fields).find((k) => errs[k]);
          if (firstBad) { fields[firstBad].querySelector('input, select, textarea').focus(); return; }

          const fd = new FormData();
          fd.append('firmwareName', v.firmwareName);
          fd.append('productKey', v.productKey);
          fd.append('firmwareVersion', v.firmwareVersion);
          if (v.firmwareDescription) fd.append('firmwareDescription', v.firmwareDescription);
          // the .sig file holds the base64 signature; the server checks it
          const sig = sigFile.files[0] ? (await sigFile.files[0].text()).trim() : '';
          if (sig) fd.append('signature', sig);
          fd.append('file', v.file, v.file.name);

          progressBox.hidden = false;
          bar.value = 0;
          barText.textContent = t('uploading', { pct: 0 });
          submit.disabled = true;
          inputs.forEach((i) => { i.disabled = true; });
          cancel.textContent = t('cancelUpload');
          running = upload('/firmwares', fd, (loaded, total) => {
            const pct = total ? Math.floor((loaded * 100) / total) : 0;
            bar.value = pct;
            barText.textContent = t('uploading', { pct });
          });
          try {
            const fw = await running.promise;
            running = null;
            bar.value = 100;
            toast(t('uploadDone', { name: fw?.firmwareName ?? v.firmwareName, md5: fw?.md5 ?? '' }), 'success');
            close(fw);
            onDone?.(fw);
          } catch (err) {
            running = null;
            progressBox.hidden = true;
            if (err.code === 'aborted') {
              toast(t('uploadCancelled'));
            } else if (err.field && fields[err.field]) {
              setFieldError(fields[err.field], errorText(err));
              fields[err.field].querySelector('input, select, textarea').disabled = false;
              fields[err.field].querySelector('input, select, textarea').focus();
            } else if (err.field === 'firmwareFileName' || err.field === 'firmwareSize' || err.code === 'too_large') {
              setFieldError(fields.file, errorText(err));
            } else {
              formError.textContent = errorText(err);
              formError.hidden = false;
            }
          } finally {
            submit.disabled = false;
            inputs.forEach((i) => { i.disabled = false; });
            cancel.textContent = t('cancel');
          }
        },
      },
    },
    fields.firmwareName, fields.productKey, fields.file, fields.firmwareVersion, fields.firmwareDescription,
    fields.signature, progressBox, formError,
    el('div.dialog-actions', cancel, submit));
    return form;
  });
}
