// "Notifications on this device": asks the browser's permission, subscribes to its push service
// with the platform's VAPID public key and hands the subscription to the platform (or takes it
// back). The service worker (/sw.js, registered on every page) shows what arrives.

const section = document.querySelector("[data-push-device]");
const status = section?.querySelector("[data-push-status]");
// Wrappers (their hidden attribute shows or hides them) and the buttons inside.
const enable = section?.querySelector("[data-push-enable]");
const disable = section?.querySelector("[data-push-disable]");
const enableButton = enable?.querySelector("button");
const disableButton = disable?.querySelector("button");

function say(state) {
  const text = section.querySelector(`template[data-push-text="${state}"]`);
  if (text) status.textContent = text.content.textContent.trim();
  status.dataset.state = state;
  enable.hidden = state === "on" || state === "denied";
  disable.hidden = state !== "on";
}

// The VAPID key travels base64url; PushManager wants its bytes.
function keyBytes(base64url) {
  const base64 = base64url.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (base64url.length % 4)) % 4);
  return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
}

function csrfToken() {
  return document.querySelector("input[name=csrfmiddlewaretoken]")?.value ?? "";
}

async function post(url, body) {
  const response = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${url}: ${response.status}`);
  return response.json();
}

async function turnOn() {
  enableButton.disabled = true;
  try {
    if ((await Notification.requestPermission()) !== "granted") return say("denied");
    const registration = await navigator.serviceWorker.ready;
    const subscription =
      (await registration.pushManager.getSubscription()) ??
      (await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(section.dataset.vapidKey) }));
    await post(section.dataset.subscribeUrl, subscription.toJSON());
    say("on");
  } catch (error) {
    console.warn("push subscription failed", error);
    say("failed");
  } finally {
    enableButton.disabled = false;
  }
}

async function turnOff() {
  disableButton.disabled = true;
  try {
    const registration = await navigator.serviceWorker.ready;
    const subscription = await registration.pushManager.getSubscription();
    if (subscription) {
      await post(section.dataset.unsubscribeUrl, { endpoint: subscription.endpoint });
      await subscription.unsubscribe();
    }
    say("off");
  } catch (error) {
    console.warn("push unsubscription failed", error);
    say("failed");
  } finally {
    disableButton.disabled = false;
  }
}

async function start() {
  if (!section || !("serviceWorker" in navigator) || !("PushManager" in window) || !("Notification" in window)) return;
  if (Notification.permission === "denied") return say("denied");
  enableButton.addEventListener("click", turnOn);
  disableButton.addEventListener("click", turnOff);
  const registration = await navigator.serviceWorker.ready;
  const subscription = await registration.pushManager.getSubscription();
  // A subscription of this browser is handed again: it may have been another user's until now.
  if (subscription && Notification.permission === "granted") {
    try {
      await post(section.dataset.subscribeUrl, subscription.toJSON());
      return say("on");
    } catch {
      return say("off");
    }
  }
  say("off");
}

start();
