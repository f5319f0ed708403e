// The import report follows the task: it asks for the import's state every second and
// reloads itself once the import has finished.
const report = document.querySelector('[data-testid="import-report"]');
if (report && window.fetch) {
  const url = report.dataset.statusUrl;
  const poll = async () => {
    const answer = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((response) => (response.ok ? response.json() : null))
      .catch(() => null);
    if (answer && (answer.finished || answer.state !== report.dataset.state)) {
      window.location.reload();
      return;
    }
    setTimeout(poll, 1000);
  };
  setTimeout(poll, 1000);
}
