// Live notifications: one WebSocket per page, the unread badge kept current, a short toast.
// Reconnects with a growing delay after a drop; pings keep the user's presence alive, so
// that the platform does not e-mail someone who is looking at it.

import { reconnectingSocket } from "../telemed/js/reconnecting.js";

const badge = document.querySelector("[data-unread-badge]");
const live = document.querySelector("[data-live-region]");

function showUnread(count) {
  if (!badge) return;
  badge.textContent = count > 0 ? String(count) : "";
  badge.hidden = count === 0;
}

function connect() {
  let pinger;
  const socket = reconnectingSocket("/ws/notifications/", {
    onOpen() {
      pinger = setInterval(() => socket.send({ type: "ping" }), 30000);
    },
    onMessage(data) {
      if (data.type !== "notification") return;
      showUnread(data.unread);
      if (live) live.textContent = data.title;
      document.dispatchEvent(new CustomEvent("telemed:notification", { detail: data }));
    },
    onClose() {
      clearInterval(pinger);
    },
  });
}

if (document.body.dataset.user) connect();
