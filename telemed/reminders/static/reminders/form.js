// The reminder form: show only the choices that go with the chosen frequency and end, and let
// the person add more times of the day. Without JavaScript every field stays visible and works.

const MAX_TIMES = 12;

for (const form of document.querySelectorAll("[data-reminder-form]")) {
  const checked = (name) => form.querySelector(`input[name="${name}"]:checked`)?.value ?? "";

  const refresh = () => {
    const frequency = checked("frequency");
    for (const block of form.querySelectorAll("[data-show-for]")) {
      block.hidden = !block.dataset.showFor.split(" ").includes(frequency);
    }
    const end = checked("end");
    for (const block of form.querySelectorAll("[data-end-for]")) {
      block.hidden = block.dataset.endFor !== end;
    }
  };
  form.addEventListener("change", refresh);
  refresh();

  const times = form.querySelector("[data-times]");
  const addButton = times?.querySelector("[data-add-time]");
  if (times && addButton) {
    addButton.hidden = false;
    addButton.addEventListener("click", () => {
      const inputs = times.querySelectorAll('input[type="time"]');
      if (inputs.length >= MAX_TIMES) return;
      const input = document.createElement("input");
      input.type = "time";
      input.name = "times";
      input.step = "60";
      input.setAttribute("aria-label", `${times.dataset.timeLabel} ${inputs.length + 1}`);
      addButton.before(input);
      input.focus();
      if (inputs.length + 1 >= MAX_TIMES) addButton.hidden = true;
    });
  }
}
