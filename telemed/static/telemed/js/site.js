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
