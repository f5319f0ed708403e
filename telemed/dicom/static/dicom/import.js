// Import of a radiology CD: the chosen folder's small files travel whole, many to a request
// (a batch: "<size> <path>\n" then the bytes, file after file, read from the disk as the
// request is sent); a large file (or the chosen ZIP) is sent in chunks. Three requests at a
// time. A batch that fails is sent again file by file, each resumed from the offset the server
// holds; files the server refuses are listed in the report. When all is sent the import is
// finished and the page moves to the report, which follows the task.

const form = document.querySelector('form[data-testid="cd-import-form"]');
if (form && window.fetch && window.Blob && Blob.prototype.slice) setUp(form);

function setUp(form) {
  const card = form.closest(".cd-import");
  const progressBox = card.querySelector('[data-testid="cd-progress"]');
  const bar = progressBox.querySelector("progress");
  const status = card.querySelector('[data-testid="cd-status"]');
  const errorBox = card.querySelector('[data-testid="cd-error"]');
  const submit = form.querySelector('button[type="submit"]');
  const text = form.dataset;
  const lang = document.documentElement.lang || "it";
  const chunkSize = Math.max(64 * 1024, parseInt(text.chunkBytes, 10) || 8 * 1024 * 1024);
  const csrf = () => form.querySelector('input[name="csrfmiddlewaretoken"]').value;
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const fill = (template, values) => template.replace(/\{(\w+)\}/g, (_, key) => values[key] ?? "");
  const bytes = (n) => {
    for (const [unit, size] of [["gigabyte", 1024 ** 3], ["megabyte", 1024 ** 2], ["kilobyte", 1024]]) {
      if (n >= size) return new Intl.NumberFormat(lang, { style: "unit", unit, maximumFractionDigits: 1 }).format(n / size);
    }
    return new Intl.NumberFormat(lang, { style: "unit", unit: "byte" }).format(n);
  };

  function fail(message) {
    errorBox.textContent = message || text.textFailed;
    errorBox.hidden = false;
    submit.disabled = false;
  }

  function chosenFiles() {
    const folder = Array.from(form.elements.cd_folder.files || []);
    if (folder.length) return folder.map((file) => ({ file, path: file.webkitRelativePath || file.name }));
    const zip = form.elements.cd_zip.files[0];
    return zip ? [{ file: zip, path: zip.name }] : [];
  }

  async function sendFile(upload, item, progress) {
    const { file, path } = item;
    let offset = 0;
    let failures = 0;
    do {
      const end = Math.min(offset + chunkSize, file.size);
      let response = null;
      try {
        response = await fetch(upload.files_url, {
          method: "POST",
          credentials: "same-origin",
          headers: {
            "X-CSRFToken": csrf(),
            "Content-Type": "application/octet-stream",
            "Upload-Path": encodeURIComponent(path),
            "Upload-Offset": String(offset),
            "Upload-Length": String(file.size),
          },
          body: file.slice(offset, end),
        });
      } catch (networkError) {
        response = null;
      }
      if (response && (response.ok || response.status === 409)) {
        failures = 0;
        const next = parseInt(response.headers.get("Upload-Offset"), 10);
        progress(Math.max(next, offset) - offset);
        if (response.status === 409 && next === offset) return { refused: true }; // not receiving any more
        offset = Number.isFinite(next) ? next : end;
        continue;
      }
      if (response && response.status >= 400 && response.status < 500 && response.status !== 408) {
        const answer = await response.json().catch(() => ({}));
        return { refused: true, error: answer.error, code: answer.code };
      }
      failures += 1;
      if (failures > 8) return { refused: true };
      status.textContent = text.textRetrying;
      await sleep(Math.min(15000, 500 * 2 ** Math.min(failures, 5)));
    } while (offset < file.size);
    return { refused: false };
  }

  // Whole files of a batch one after the other; the Blob keeps references to the files, so
  // the browser reads them from the disk as it sends the request.
  const BATCH_BYTES = 16 * 1024 * 1024;
  const BATCH_FILES = 256;
  const encoder = new TextEncoder();

  function workUnits(items) {
    const units = [];
    let batch = [];
    let batchBytes = 0;
    for (const item of items) {
      if (item.file.size === 0 || item.file.size > chunkSize) {
        units.push({ single: item });
        continue;
      }
      if (batch.length && (batchBytes + item.file.size > BATCH_BYTES || batch.length >= BATCH_FILES)) {
        units.push({ batch });
        batch = [];
        batchBytes = 0;
      }
      batch.push(item);
      batchBytes += item.file.size;
    }
    if (batch.length) units.push({ batch });
    return units;
  }

  async function sendBatch(upload, batch, progress) {
    const parts = [];
    for (const { file, path } of batch) parts.push(encoder.encode(`${file.size} ${encodeURIComponent(path)}\n`), file);
    let answer = null;
    try {
      const response = await fetch(upload.batch_url, {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRFToken": csrf(), "Content-Type": "application/octet-stream", Accept: "application/json" },
        body: new Blob(parts),
      });
      answer = response.ok ? await response.json() : null;
    } catch (networkError) {
      answer = null;
    }
    const byPath = new Map(((answer && answer.files) || []).map((result) => [result.path, result]));
    const results = [];
    for (const item of batch) {
      const result = byPath.get(item.path);
      if (result && result.received === result.size && result.size === item.file.size) {
        progress(item.file.size);
        results.push({ refused: false });
      } else if (result && result.code && !["offset", "busy", "state"].includes(result.code)) {
        results.push({ refused: true, error: result.error, code: result.code });
      } else {
        // Not received whole (the batch failed, or the file was in flight): that one alone, resumed.
        results.push(await sendFile(upload, item, progress));
      }
    }
    return results;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    errorBox.hidden = true;
    const items = chosenFiles();
    if (!items.length) {
      fail(text.textEmpty);
      return;
    }
    submit.disabled = true;
    const start = await fetch(form.action, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrf(), Accept: "application/json" },
      body: new URLSearchParams({ folder: form.elements.folder ? form.elements.folder.value : "" }),
    }).catch(() => null);
    const upload = start ? await start.json().catch(() => null) : null;
    if (!start || !start.ok || !upload) {
      fail(upload && upload.error);
      return;
    }
    const total = items.reduce((sum, item) => sum + item.file.size, 0);
    let sent = 0;
    let done = 0;
    let refused = 0;
    let quotaMessage = null;
    progressBox.hidden = false;
    bar.max = Math.max(total, 1);
    const show = () => {
      bar.value = sent;
      status.textContent = fill(text.textSending, { files: done, total: items.length, sent: bytes(sent), size: bytes(total) });
    };
    show();
    const queue = workUnits(items);
    const worker = async () => {
      while (queue.length) {
        const unit = queue.shift();
        const progress = (n) => { sent += n; show(); };
        const results = unit.batch ? await sendBatch(upload, unit.batch, progress) : [await sendFile(upload, unit.single, progress)];
        for (const result of results) {
          done += 1;
          if (result.refused) {
            refused += 1;
            if (result.code === "quota") quotaMessage = result.error;
          }
        }
        show();
      }
    };
    await Promise.all([worker(), worker(), worker()]);
    if (quotaMessage) {
      errorBox.textContent = quotaMessage;
      errorBox.hidden = false;
    } else if (refused) {
      errorBox.textContent = fill(text.textRefused, { count: refused });
      errorBox.hidden = false;
    }
    status.textContent = text.textFinishing;
    const finish = await fetch(upload.finish_url, {
      method: "POST", credentials: "same-origin", headers: { "X-CSRFToken": csrf(), Accept: "application/json" },
    }).catch(() => null);
    if (!finish || !(finish.ok || finish.status === 409)) {
      fail();
      return;
    }
    window.location.assign(upload.report_url);
  });
}
