// A conversation, live: new messages appear without reloading, the form sends over the
// WebSocket (falling back to a normal POST when it is closed), and read receipts update.
//
// A message sent over the socket shows as "Sending…" until it comes back stored. Each carries a
// key of its own: if the connection drops first, the page sends it again with the same key when
// it reconnects, and the platform answers with the message it may already have stored instead of
// storing it twice. A refused message comes back to the text box.
//
// Messages are numbered 1, 2, 3… within the conversation. The page keeps the number up to which
// it shows every message; one that arrives further on means one was missed (its process may have
// died before telling this page), and the page asks for what came after the last one it is sure of.

import { reconnectingSocket } from "../telemed/js/reconnecting.js";

const list = document.querySelector("[data-conversation]");
const form = document.querySelector("[data-testid=message-form]");
const errorBox = document.querySelector("[data-testid=live-error]");
const receipt = document.querySelector("[data-testid=read-receipt]");
const me = Number(list?.dataset.me);
const readBy = new Map(); // other user id -> newest message id they have read
const pending = new Map(); // key -> text of each message sent and not yet seen stored
let shownSeq = 0; // every message up to this number is shown…
let shownUpToId = 0; // …the last of them has this id: what a sync asks after
const ahead = new Map(); // number -> id of messages shown past a gap
let gapAskedAt = 0;
const GAP_ASK_INTERVAL_MS = 2000;
let socket;

const URL_PATTERN = /(https?:\/\/[^\s<]+)/g;

function renderText(container, text) {
  // Text nodes and anchors only: nothing a message says can become markup.
  for (const [index, line] of text.split("\n").entries()) {
    if (index) container.append(document.createElement("br"));
    for (const part of line.split(URL_PATTERN)) {
      if (URL_PATTERN.test(part)) {
        const link = document.createElement("a");
        link.href = part;
        link.rel = "nofollow noopener noreferrer";
        link.target = "_blank";
        link.textContent = part;
        container.append(link);
      } else if (part) {
        container.append(document.createTextNode(part));
      }
      URL_PATTERN.lastIndex = 0;
    }
  }
}

function newKey() {
  // crypto.randomUUID() needs a secure context; random bytes do not.
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (byte) => byte.toString(16).padStart(2, "0")).join("");
}

function pendingItem(key) {
  return [...list.querySelectorAll("[data-pending-key]")].find((item) => item.dataset.pendingKey === key);
}

function showPending(key, text) {
  const item = document.createElement("li");
  item.className = "message-item mine pending";
  item.dataset.pendingKey = key;
  const meta = document.createElement("div");
  meta.className = "message-meta";
  meta.textContent = list.dataset.labelSending;
  const body = document.createElement("div");
  body.className = "message-text";
  renderText(body, text);
  item.append(meta, body);
  list.append(item);
  item.scrollIntoView({ block: "end" });
}

function settle(key) {
  pending.delete(key);
  pendingItem(key)?.remove();
}

function account(seq, id) {
  if (!seq || seq <= shownSeq) return;
  ahead.set(seq, id);
  while (ahead.has(shownSeq + 1)) {
    shownSeq += 1;
    shownUpToId = ahead.get(shownSeq);
    ahead.delete(shownSeq);
  }
  if (ahead.size && socket?.open && Date.now() - gapAskedAt > GAP_ASK_INTERVAL_MS) {
    gapAskedAt = Date.now();
    socket.send({ type: "sync", after: shownUpToId });
  }
}

function appendMessage(message) {
  if (message.key && message.sender === me) settle(message.key);
  account(message.seq, message.id);
  if (list.querySelector(`[data-message-id="${message.id}"]`)) return;
  const item = document.createElement("li");
  item.className = "message-item" + (message.sender === me ? " mine" : "");
  item.dataset.messageId = message.id;
  item.dataset.seq = message.seq;
  const meta = document.createElement("div");
  meta.className = "message-meta";
  const who = document.createElement("strong");
  who.textContent = message.sender_name;
  const when = document.createElement("time");
  when.dateTime = message.created_at;
  when.textContent = new Date(message.created_at).toLocaleString(document.documentElement.lang, {
    day: "2-digit", month: "2-digit", year: "numeric", hour: "2-digit", minute: "2-digit",
  });
  meta.append(who, " ", when);
  const body = document.createElement("div");
  body.className = "message-text";
  renderText(body, message.text);
  item.append(meta, body);
  if (message.attachments?.length) {
    const files = document.createElement("ul");
    files.className = "attachments";
    for (const attachment of message.attachments) {
      const entry = document.createElement("li");
      if (attachment.study) entry.className = "study";
      const link = document.createElement("a");
      link.href = attachment.url;
      link.textContent = attachment.name;
      entry.append(link);
      files.append(entry);
    }
    item.append(files);
  }
  // In its place: before any newer message (one fetched for a gap is older than those around
  // it), else before the messages still on their way, which are the newest.
  const newer = [...list.querySelectorAll("[data-message-id]")].find((shown) => Number(shown.dataset.messageId) > message.id);
  list.insertBefore(item, newer ?? list.querySelector("[data-pending-key]"));
  item.scrollIntoView({ block: "end" });
}

function newestId() {
  const items = list.querySelectorAll("[data-message-id]");
  return items.length ? Number(items[items.length - 1].dataset.messageId) : 0;
}

function updateReceipt() {
  const mine = [...list.querySelectorAll(".message-item.mine")];
  if (!mine.length || !readBy.size) return;
  const last = Number(mine[mine.length - 1].dataset.messageId);
  const everyone = [...readBy.values()].every((upTo) => upTo >= last);
  receipt.textContent = everyone ? `✓✓ ${receipt.dataset.labelRead}` : "";
}

function showError(text) {
  errorBox.textContent = text;
  errorBox.hidden = !text;
}

function connect() {
  socket = reconnectingSocket(`/ws/conversations/${list.dataset.conversation}/`, {
    stopCodes: [4401, 4403],
    onOpen() {
      // What happened between drawing the page (or a drop) and this connection: missed messages
      // and read positions come back as ordinary frames.
      socket.send({ type: "sync", after: shownUpToId });
      socket.send({ type: "read", up_to: newestId() });
      // Sent on a connection that dropped before they came back: again, with the same keys.
      for (const [key, text] of pending) socket.send({ type: "send", text, key });
    },
    onMessage(data) {
      if (data.type === "message") {
        appendMessage(data);
        showError("");
        if (data.sender !== me && document.visibilityState === "visible") {
          socket.send({ type: "read", up_to: data.id });
        }
        updateReceipt();
      } else if (data.type === "read" && data.user !== me) {
        readBy.set(data.user, data.up_to);
        updateReceipt();
      } else if (data.type === "stale") {
        // More was missed than a reconnection sends: the page is drawn again, whole.
        window.location.reload();
      } else if (data.type === "error") {
        showError(data.error);
        if (data.key && pending.has(data.key)) {
          const field = form?.querySelector("textarea[name=text]");
          if (field && !field.value) field.value = pending.get(data.key);
          settle(data.key);
        }
      }
    },
  });
}

if (list) {
  const drawn = list.querySelectorAll("[data-seq]");
  if (drawn.length) {
    // The history drawn is a run without gaps: it ends at its newest message.
    const newest = drawn[drawn.length - 1];
    shownSeq = Number(newest.dataset.seq);
    shownUpToId = Number(newest.dataset.messageId);
  }
  for (const pair of (list.dataset.readPositions || "").split(",").filter(Boolean)) {
    const [user, upTo] = pair.split(":").map(Number);
    readBy.set(user, upTo);
  }
  updateReceipt();
  connect();
  form?.addEventListener("submit", (event) => {
    if (!socket?.open) return; // the normal POST works too
    if (form.querySelector("input[name=documents]:checked, input[name=studies]:checked")) return; // attachments go by POST
    event.preventDefault();
    const field = form.querySelector("textarea[name=text]");
    if (!field.value.trim()) {
      socket.send({ type: "send", text: field.value }); // refused, with the reason shown
      return;
    }
    const key = newKey();
    pending.set(key, field.value);
    showPending(key, field.value);
    socket.send({ type: "send", text: field.value, key });
    field.value = "";
  });
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && socket?.open) {
      socket.send({ type: "read", up_to: newestId() });
    }
  });
}
