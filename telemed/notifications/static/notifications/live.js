// Live notifications: one WebSocket per page, the unread badge kept current, a short toast.
// Reconnects with a growing delay after a drop; pings keep the user's presence alive, so
// that the platform does not e-mail someone who is looking at it.

const badge = document.querySelector("[data-unread-badge]");
const live = document.querySelector("[data-live-region]");
let delay = 1000;

function showUnread(count) {
  if (!badge) return;
  badge.textContent = count > 0 ? String(count) : "";
  badge.hidden = count === 0;
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/ws/notifications/`);
  let pinger;
  socket.addEventListener("open", () => {
    delay = 1000;
    pinger = setInterval(() => socket.send(JSON.stringify({ type: "ping" })), 30000);
  });
  socket.addEventListener("message", (event) => {
    const data = JSON.parse(event.data);
    if (data.type !== "notification") return;
    showUnread(data.unread);
    if (live) live.textContent = data.title;
    document.dispatchEvent(new CustomEvent("telemed:notification", { detail: data }));
  });
  socket.addEventListener("close", (event) => {
    clearInterval(pinger);
    if (event.code === 4401) return; // not logged in any more
    setTimeout(connect, delay);
    delay = Math.min(delay * 2, 30000);
  });
}

if (document.body.dataset.user) connect();
