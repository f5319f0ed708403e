// A consult's thread, live: messages written on the other side appear without a reload, and a
// change of the consult's state shows a notice (its buttons may no longer apply). Messages are
// sent by the page's normal form. After a drop the socket reconnects with a growing delay and
// asks for what it missed, newer than the last message drawn.

import { reconnectingSocket } from "../telemed/js/reconnecting.js";

const thread = document.querySelector("[data-thread-socket]");
const empty = document.querySelector('[data-testid="no-messages"]');
const changed = document.querySelector('[data-testid="consult-changed"]');

function lastId() {
  const ids = [...thread.querySelectorAll("[data-message-id]")].map((item) => Number(item.dataset.messageId));
  return ids.length ? Math.max(...ids) : 0;
}

function add(id, html) {
  if (thread.querySelector(`[data-message-id="${id}"]`)) return; // already drawn (a sync after a push)
  // The server renders the fragment from its own escaped template; parse it inertly, then move it in.
  const item = new DOMParser().parseFromString(`<ol>${html}</ol>`, "text/html").querySelector("li");
  if (!item) return;
  thread.append(item);
  thread.hidden = false;
  if (empty) empty.hidden = true;
}

function connect() {
  const socket = reconnectingSocket(thread.dataset.threadSocket, {
    stopCodes: [4401, 4403], // logged out, or not a party
    onOpen() {
      socket.send({ type: "sync", after: lastId() });
    },
    onMessage(data) {
      if (data.type === "message") add(data.id, data.html);
      else if (data.type === "changed" && changed) changed.hidden = false;
    },
  });
}

if (thread) connect();
