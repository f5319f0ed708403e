// Autosave of a draft: a moment after the doctor stops typing, the form is posted to the
// autosave address. The page works without it (the "Save draft" button does the same).

const form = document.querySelector("form[data-autosave-url]");
const status = document.querySelector("[data-autosave-status]");
const DELAY_MS = 1200;

if (form && status) {
  let timer = null;
  let inFlight = null;

  const save = async () => {
    timer = null;
    const data = new FormData(form);
    data.delete("code"); // the signing code never leaves the page except to sign
    if (inFlight) inFlight.abort();
    inFlight = new AbortController();
    status.textContent = status.dataset.savingText;
    try {
      const response = await fetch(form.dataset.autosaveUrl, {
        method: "POST",
        body: data,
        headers: { "X-Requested-With": "fetch" },
        credentials: "same-origin",
        signal: inFlight.signal,
      });
      const answer = await response.json();
      status.textContent = answer.ok ? `${status.dataset.savedText} ${answer.saved_at}` : answer.message;
      status.dataset.state = answer.ok ? "saved" : "error";
    } catch (error) {
      if (error.name !== "AbortError") {
        status.textContent = status.dataset.errorText;
        status.dataset.state = "error";
      }
    }
  };

  // Saving or signing posts the whole form: a pending autosave is no longer needed.
  form.addEventListener("submit", () => { if (timer) clearTimeout(timer); timer = null; });

  form.addEventListener("input", (event) => {
    if (event.target.name === "code") return;
    status.dataset.state = "dirty";
    if (timer) clearTimeout(timer);
    timer = setTimeout(save, DELAY_MS);
  });
}

// "Select all" for batch signing.
const selectAll = document.querySelector("[data-select-all]");
if (selectAll) {
  selectAll.addEventListener("change", () => {
    for (const box of document.querySelectorAll('input[name="reports"]')) box.checked = selectAll.checked;
  });
}
