// Live breakdown on the tariff pages: as a fee is typed, the server prices it with
// the pricing module and returns the breakdown table. Without JavaScript the page
// still works: the breakdown is shown again after saving.

const DELAY_MS = 300;

for (const form of document.querySelectorAll("form.tariff-form[data-preview-url]")) {
  const fee = form.querySelector('input[name$="-fee"]');
  const target = document.getElementById(form.dataset.previewTarget);
  if (!fee || !target) continue;
  let timer;
  let controller;
  fee.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      controller?.abort();
      controller = new AbortController();
      const url = new URL(form.dataset.previewUrl, window.location.href);
      url.searchParams.set("service", form.dataset.service);
      url.searchParams.set("fee", fee.value);
      try {
        const response = await fetch(url, { credentials: "same-origin", signal: controller.signal });
        // The fragment is rendered by the server's templates, escaped like every page.
        target.innerHTML = await response.text();
      } catch (error) {
        if (error.name !== "AbortError") target.textContent = "";
      }
    }, DELAY_MS);
  });
}
