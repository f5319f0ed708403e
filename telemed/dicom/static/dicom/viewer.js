// The study viewer: choose a series on the side, then scroll its images (wheel, arrow keys,
// Page Up/Down, Home/End, or the slider), set the window (the file's own, the CT presets, or
// Shift + drag), zoom (Ctrl + wheel, + and −) and pan (drag). Images are rendered by the server
// as PNG for the chosen window; the next few are fetched ahead so that scrolling stays smooth.

const viewer = document.querySelector('[data-testid="viewer"]');
if (viewer) setUp(viewer);

function setUp(viewer) {
  const text = viewer.dataset;
  const stage = viewer.querySelector('[data-testid="viewer-stage"]');
  const image = viewer.querySelector('[data-testid="viewer-image"]');
  const message = viewer.querySelector('[data-testid="viewer-message"]');
  const slider = viewer.querySelector('[data-testid="viewer-slider"]');
  const position = viewer.querySelector('[data-testid="viewer-position"]');
  const windowLabel = viewer.querySelector('[data-testid="viewer-window"]');
  const title = viewer.querySelector('[data-testid="viewer-series"]');
  const presetButtons = Array.from(viewer.querySelectorAll("[data-window]"));
  const seriesButtons = Array.from(document.querySelectorAll('[data-testid="series-button"]'));
  const fill = (template, values) => template.replace(/\{(\w+)\}/g, (_, key) => values[key] ?? "");

  const state = { images: [], index: 0, window: null, zoom: 1, x: 0, y: 0, seriesUrl: null };
  const preloaded = new Map();

  function urlFor(index) {
    const base = state.images[index].url;
    if (!state.window) return base;
    return `${base}&wc=${encodeURIComponent(state.window.wc)}&ww=${encodeURIComponent(state.window.ww)}`;
  }

  function preload(index) {
    if (index < 0 || index >= state.images.length) return;
    const url = urlFor(index);
    if (preloaded.has(url)) return;
    const ahead = new Image();
    ahead.src = url;
    preloaded.set(url, ahead);
    if (preloaded.size > 64) preloaded.delete(preloaded.keys().next().value);
  }

  function transform() {
    image.style.transform = `translate(${state.x}px, ${state.y}px) scale(${state.zoom})`;
  }

  function showWindow() {
    windowLabel.textContent = state.window
      ? fill(text.textWindow, { ww: Math.round(state.window.ww), wc: Math.round(state.window.wc) })
      : text.textOwnWindow;
  }

  function show(index) {
    if (!state.images.length) return;
    state.index = Math.max(0, Math.min(state.images.length - 1, index));
    const url = urlFor(state.index);
    image.dataset.index = String(state.index);
    image.src = url;
    slider.value = String(state.index + 1);
    position.textContent = fill(text.textPosition, { n: state.index + 1, total: state.images.length });
    for (let step = 1; step <= 3; step += 1) {
      preload(state.index + step);
      preload(state.index - step);
    }
  }

  image.addEventListener("load", () => {
    image.hidden = false;
    message.hidden = true;
    stage.dataset.loaded = image.dataset.index;
  });
  image.addEventListener("error", () => {
    image.hidden = true;
    message.hidden = false;
    message.textContent = text.textError;
  });

  async function openSeries(button) {
    seriesButtons.forEach((other) => other.setAttribute("aria-pressed", String(other === button)));
    message.hidden = false;
    message.textContent = text.textLoading;
    const response = await fetch(button.dataset.seriesUrl, { credentials: "same-origin", headers: { Accept: "application/json" } }).catch(() => null);
    const data = response && response.ok ? await response.json() : null;
    if (!data || !data.images.length) {
      message.textContent = text.textError;
      return;
    }
    state.images = data.images;
    state.seriesUrl = button.dataset.seriesUrl;
    state.zoom = 1;
    state.x = state.y = 0;
    transform();
    preloaded.clear();
    title.textContent = data.series.description;
    slider.max = String(data.images.length);
    slider.disabled = data.images.length < 2;
    show(0);
    stage.focus({ preventScroll: true });
  }

  seriesButtons.forEach((button) => button.addEventListener("click", () => openSeries(button)));

  slider.addEventListener("input", () => show(parseInt(slider.value, 10) - 1));

  stage.addEventListener("wheel", (event) => {
    if (!state.images.length) return;
    event.preventDefault();
    if (event.ctrlKey) {
      state.zoom = Math.max(0.25, Math.min(8, state.zoom * (event.deltaY < 0 ? 1.15 : 1 / 1.15)));
      transform();
    } else {
      show(state.index + (event.deltaY > 0 ? 1 : -1));
    }
  }, { passive: false });

  stage.addEventListener("keydown", (event) => {
    if (!state.images.length) return;
    const moves = { ArrowDown: 1, ArrowRight: 1, ArrowUp: -1, ArrowLeft: -1, PageDown: 10, PageUp: -10 };
    if (event.key in moves) show(state.index + moves[event.key]);
    else if (event.key === "Home") show(0);
    else if (event.key === "End") show(state.images.length - 1);
    else if (event.key === "+" || event.key === "=") zoomBy(1.25);
    else if (event.key === "-") zoomBy(0.8);
    else if (event.key === "0") resetView();
    else return;
    event.preventDefault();
  });

  function zoomBy(factor) {
    state.zoom = Math.max(0.25, Math.min(8, state.zoom * factor));
    transform();
  }

  function resetView() {
    state.zoom = 1;
    state.x = state.y = 0;
    transform();
  }

  viewer.querySelectorAll("[data-zoom]").forEach((button) => button.addEventListener("click", () => {
    if (button.dataset.zoom === "in") zoomBy(1.25);
    else if (button.dataset.zoom === "out") zoomBy(0.8);
    else resetView();
  }));

  function setWindow(window, pressed) {
    state.window = window;
    presetButtons.forEach((button) => button.setAttribute("aria-pressed", String(button === pressed)));
    showWindow();
    preloaded.clear();
    show(state.index);
  }

  presetButtons.forEach((button) => button.addEventListener("click", () => {
    const own = button.dataset.window === "own";
    setWindow(own ? null : { wc: parseFloat(button.dataset.wc), ww: parseFloat(button.dataset.ww) }, button);
  }));

  // Drag: pan; Shift + drag: window (horizontal = width, vertical = level), applied on release.
  let drag = null;
  stage.addEventListener("pointerdown", (event) => {
    if (!state.images.length || event.button !== 0) return;
    stage.setPointerCapture(event.pointerId);
    drag = { x: event.clientX, y: event.clientY, startX: state.x, startY: state.y, windowing: event.shiftKey };
  });
  stage.addEventListener("pointermove", (event) => {
    if (!drag) return;
    const dx = event.clientX - drag.x;
    const dy = event.clientY - drag.y;
    if (drag.windowing) {
      const base = state.window || { wc: 40, ww: 400 };
      drag.pending = { wc: base.wc + dy * 2, ww: Math.max(1, base.ww + dx * 4) };
      windowLabel.textContent = fill(text.textWindow, { ww: Math.round(drag.pending.ww), wc: Math.round(drag.pending.wc) });
    } else {
      state.x = drag.startX + dx;
      state.y = drag.startY + dy;
      transform();
    }
  });
  stage.addEventListener("pointerup", () => {
    if (drag && drag.windowing && drag.pending) setWindow(drag.pending, null);
    drag = null;
  });

  showWindow();
  if (seriesButtons.length) {
    const first = seriesButtons.find((button) => !button.disabled);
    if (first) openSeries(first);
  }
}
