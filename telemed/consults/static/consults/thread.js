// A consult's thread, live: messages written on the other side appear without a reload, and a
// change of the consult's state shows a notice (its buttons may no longer apply). Messages are
// sent by the page's normal form. After a drop the socket reconnects with a growing delay and
// asks for what it missed, newer than the last message drawn.

const thread = document.querySelector("[data-thread-socket]");
const empty = document.querySelector('[data-testid="no-messages"]');
const changed = document.querySelector('[data-testid="consult-changed"]');
let delay = 1000;

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
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}${thread.dataset.threadSocket}`);
  socket.addEventListener("open", () => {
    delay = 1000;
    socket.send(JSON.stringify({ type: "sync", after: lastId() }));
  });
  socket.addEventListener("message", (event) => {
    const data = JSON.parse(event.data);
    if (data.type === "message") add(data.id, data.html);
    else if (data.type === "changed" && changed) changed.hidden = false;
  });
  socket.addEventListener("close", (event) => {
    if (event.code === 4401 || event.code === 4403) return; // logged out, or not a party
    setTimeout(connect, delay);
    delay = Math.min(delay * 2, 30000);
  });
}

if (thread) connect();
