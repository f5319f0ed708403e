// Small progressive enhancements; every page works without them.

// Codici fiscali and IBANs are written in capitals: help the user as they type.
for (const name of ["codice_fiscale", "iban"]) {
  for (const input of document.querySelectorAll(`input[name="${name}"]`)) {
    input.addEventListener("input", () => {
      const { selectionStart, selectionEnd } = input;
      input.value = input.value.toUpperCase();
      input.setSelectionRange(selectionStart, selectionEnd);
    });
  }
}

// Changing the language submits at once; the button stays for keyboard and no-JS users.
const languageSelect = document.getElementById("language-select");
if (languageSelect) {
  languageSelect.addEventListener("change", () => languageSelect.form.submit());
}

// Disclosure buttons (the phone's menu, the video room's chat drawer): a real button that says
// whether what it controls is open. The stylesheet hides the controlled element only on a narrow
// screen and only while the button says "closed"; the buttons stay hidden without JavaScript, so
// the menu and the chat are then simply shown in the page.
for (const button of document.querySelectorAll("button[data-disclosure][aria-controls]")) {
  const target = document.getElementById(button.getAttribute("aria-controls"));
  if (!target) continue;
  const open = () => button.getAttribute("aria-expanded") === "true";
  const set = (value) => button.setAttribute("aria-expanded", String(value));
  button.addEventListener("click", () => set(!open()));
  // Escape closes and gives the focus back to the button, wherever the focus was inside.
  for (const element of [button, target]) {
    element.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && open()) {
        set(false);
        button.focus();
      }
    });
  }
  button.hidden = false;
}

// Tables become stacked cards on a phone: each cell carries its column's heading as a label
// (shown by the stylesheet with `content: attr(data-label)`). The first cell of a row, the key
// column, is the card's title and gets no label. A table without headings keeps its layout and
// scrolls inside its own box.
for (const table of document.querySelectorAll("table.table, table.report-table")) {
  const headerRow = table.tHead && table.tHead.rows[table.tHead.rows.length - 1];
  if (!headerRow) continue;
  const labels = [];
  for (const th of headerRow.cells) {
    // A heading that is only for screen readers (an action column) gives no visible label.
    const text = th.querySelector(".visually-hidden") ? "" : th.textContent.trim().replace(/\s+/g, " ");
    for (let i = 0; i < th.colSpan; i += 1) labels.push(text);
  }
  for (const body of table.tBodies) {
    for (const row of body.rows) {
      let column = 0;
      for (const cell of row.cells) {
        const label = labels[column];
        if (column > 0 && label && cell.tagName === "TD" && !cell.hasAttribute("data-label") && cell.colSpan === 1) {
          cell.dataset.label = label;
        }
        column += cell.colSpan;
      }
    }
  }
  table.dataset.stack = "";
}
