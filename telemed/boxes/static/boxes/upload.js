// Resumable upload for the box pages: the file is sent in chunks (PATCH with Upload-Offset),
// a dropped connection is retried from the offset the server holds, and an upload interrupted
// by a reload resumes when the same file is chosen again (its address is kept in localStorage).
// Chunks start at the server's suggested size and double while each takes under a second and a
// half, up to the largest the server takes: on a fast link every request's fixed cost (session,
// locks, the offset's update) is paid a few dozen times for a CD's ZIP instead of a few hundred;
// on a slow home uplink they stay small, so the bar moves and a drop loses little.
// Without JavaScript the form still works as a plain one-request upload.

const form = document.querySelector('form[data-testid="upload-form"]');
if (form && window.fetch && window.Blob && Blob.prototype.slice) {
  setUp(form);
}

function setUp(form) {
  const card = form.closest(".box-upload");
  const progressBox = card.querySelector('[data-testid="upload-progress"]');
  const bar = card.querySelector("progress");
  const status = card.querySelector('[data-testid="upload-status"]');
  const refusal = card.querySelector('[data-testid="quota-refusal"]');
  const errorBox = card.querySelector('[data-testid="upload-error"]');
  const cancelButton = card.querySelector('[data-action="cancel"]');
  const submit = form.querySelector('button[type="submit"]');
  const lang = document.documentElement.lang || "it";
  const text = form.dataset;
  let current = null; // {url, cancelled}

  const bytes = (n) => {
    const units = [["gigabyte", 1024 ** 3], ["megabyte", 1024 ** 2], ["kilobyte", 1024]];
    for (const [unit, size] of units) {
      if (n >= size) {
        return new Intl.NumberFormat(lang, { style: "unit", unit, maximumFractionDigits: 1 }).format(n / size);
      }
    }
    return new Intl.NumberFormat(lang, { style: "unit", unit: "byte" }).format(n);
  };
  const duration = (seconds) => {
    const [unit, value] = seconds < 90 ? ["second", Math.ceil(seconds)] : seconds < 5400 ? ["minute", Math.ceil(seconds / 60)] : ["hour", Math.round(seconds / 360) / 10];
    return new Intl.NumberFormat(lang, { style: "unit", unit, unitDisplay: "long" }).format(value);
  };
  const fill = (template, values) => template.replace(/\{(\w+)\}/g, (_, key) => values[key] ?? "");
  const csrf = () => form.querySelector('input[name="csrfmiddlewaretoken"]').value;
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const resumeKey = (file) => `telemed-upload:${file.name}:${file.size}:${file.lastModified}`;

  function show(element, visible) {
    element.hidden = !visible;
  }

  function fail(message) {
    errorBox.textContent = message || text.textFailed;
    show(errorBox, true);
    show(progressBox, false);
    submit.disabled = false;
  }

  function report(sent, total, started, sentAtStart) {
    bar.max = total;
    bar.value = sent;
    const elapsed = (performance.now() - started) / 1000;
    const rate = (sent - sentAtStart) / Math.max(elapsed, 0.001);
    const values = { sent: bytes(sent), total: bytes(total) };
    if (elapsed < 1 || rate <= 0) {
      status.textContent = fill(text.textEstimating, values);
    } else {
      status.textContent = fill(text.textProgress, { ...values, left: duration((total - sent) / rate) });
    }
  }

  async function ask(url) {
    const response = await fetch(url, { method: "GET", credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!response.ok) return null;
    return response.json();
  }

  async function start(file) {
    const key = resumeKey(file);
    const known = localStorage.getItem(key);
    if (known) {
      try {
        const state = await ask(known);
        if (state && state.state === "open") return state;
      } catch (error) {
        // the server is not reachable right now: start() is retried by the caller
        throw error;
      }
      localStorage.removeItem(key);
    }
    const body = new URLSearchParams({
      name: file.name,
      size: String(file.size),
      category: form.elements.category.value,
      folder: form.elements.folder ? form.elements.folder.value : "",
    });
    const response = await fetch(text.uploadUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrf(), Accept: "application/json" },
      body,
    });
    const answer = await response.json().catch(() => ({}));
    if (response.status === 413 && answer.code === "quota") {
      refusal.querySelector('[data-role="message"]').textContent = answer.error;
      show(refusal, true);
      return null;
    }
    if (!response.ok) {
      fail(answer.error);
      return null;
    }
    localStorage.setItem(key, answer.url);
    return answer;
  }

  async function send(file, upload) {
    const firstChunk = Math.max(64 * 1024, parseInt(text.chunkBytes, 10) || 8 * 1024 * 1024);
    const largestChunk = Math.max(firstChunk, parseInt(text.chunkMaxBytes, 10) || firstChunk);
    let chunkSize = firstChunk;
    let offset = upload.offset;
    let failures = 0;
    const started = performance.now();
    const sentAtStart = offset;
    if (offset > 0) status.textContent = fill(text.textResuming, { sent: bytes(offset) });
    report(offset, file.size, started, sentAtStart);
    while (!current.cancelled) {
      let response;
      const sentAt = performance.now();
      try {
        response = await fetch(upload.url, {
          method: "PATCH",
          credentials: "same-origin",
          headers: { "X-CSRFToken": csrf(), "Upload-Offset": String(offset), "Content-Type": "application/offset+octet-stream" },
          body: file.slice(offset, Math.min(offset + chunkSize, file.size)),
        });
      } catch (networkError) {
        response = null;
      }
      if (current.cancelled) return null;
      if (response && (response.status === 204 || response.status === 201 || response.status === 409)) {
        failures = 0;
        chunkSize = nextChunkSize(chunkSize, performance.now() - sentAt, firstChunk, largestChunk);
        offset = parseInt(response.headers.get("Upload-Offset"), 10);
        if (response.status === 201) return response.json();
        if (response.status === 409) {
          const state = await ask(upload.url).catch(() => null);
          if (!state || state.state !== "open") return state;
          offset = state.offset;
        }
        if (offset >= file.size) status.textContent = text.textChecking;
        else report(offset, file.size, started, sentAtStart);
        continue;
      }
      if (response && response.status >= 400 && response.status < 500) {
        const answer = await response.json().catch(() => ({}));
        fail(answer.error);
        return null;
      }
      // Dropped connection or server trouble: wait, ask where the server is, go on from there.
      failures += 1;
      chunkSize = firstChunk;
      status.textContent = text.textRetrying;
      await sleep(Math.min(15000, 500 * 2 ** Math.min(failures, 5)));
      const state = await ask(upload.url).catch(() => null);
      if (state) {
        if (state.state !== "open") return state;
        offset = state.offset;
        status.textContent = fill(text.textResuming, { sent: bytes(offset) });
      }
    }
    return null;
  }

  form.addEventListener("submit", async (event) => {
    const file = form.elements.file.files[0];
    if (!file) return; // let the browser say the field is required
    event.preventDefault();
    show(errorBox, false);
    show(refusal, false);
    if (file.size > parseInt(text.maxBytes, 10)) {
      fail(text.textTooBig);
      return;
    }
    submit.disabled = true;
    show(progressBox, true);
    bar.value = 0;
    current = { cancelled: false, url: null };
    let upload = null;
    for (let attempt = 0; upload === null && attempt < 6; attempt += 1) {
      try {
        upload = await start(file);
        if (upload === null) {
          show(progressBox, false);
          submit.disabled = false;
          return;
        }
      } catch (networkError) {
        status.textContent = text.textRetrying;
        await sleep(1000 * (attempt + 1));
      }
    }
    if (upload === null) {
      fail();
      return;
    }
    current.url = upload.url;
    const result = await send(file, upload);
    if (current.cancelled) return;
    if (result && result.state === "complete") {
      localStorage.removeItem(resumeKey(file));
      status.textContent = text.textDone;
      window.location.assign(window.location.href);
    } else if (result) {
      localStorage.removeItem(resumeKey(file));
      fail(result.error);
    }
  });

  cancelButton.addEventListener("click", async () => {
    if (!current) return;
    current.cancelled = true;
    const file = form.elements.file.files[0];
    if (file) localStorage.removeItem(resumeKey(file));
    if (current.url) {
      await fetch(current.url, { method: "DELETE", credentials: "same-origin", headers: { "X-CSRFToken": csrf() } }).catch(() => null);
    }
    show(progressBox, false);
    submit.disabled = false;
  });
}

// The size of the next chunk, from how long the last one took (milliseconds): double it under
// 1.5 s, halve it over 6 s, never below the first size nor above the largest.
function nextChunkSize(size, took, first, largest) {
  if (took < 1500) return Math.min(largest, size * 2);
  if (took > 6000) return Math.max(first, Math.floor(size / 2));
  return size;
}
