// telemed's service worker (served at /sw.js by telemed.portal.views.service_worker).
// It keeps only the offline page and the static files that page shows; every other request
// (pages, API answers, documents) goes to the network and is never stored. It shows the pushes
// the platform sends (telemed.notifications.webpush): a kind of news and a link, never more.
"use strict";

const CACHE = "telemed-offline-{{ version }}";
const PRECACHE = {{ precache|safe }};
const OFFLINE_URL = {{ offline_url|safe }};
const ICON = {{ icon|safe }};
const KEPT = new Set(PRECACHE);

self.addEventListener("install", (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(CACHE);
      // Without cookies: what is kept is the same for everyone and names no one.
      await cache.addAll(PRECACHE.map((url) => new Request(url, { credentials: "omit", cache: "reload" })));
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      for (const name of await caches.keys()) {
        if (name !== CACHE) await caches.delete(name);
      }
      await self.clients.claim();
    })(),
  );
});

async function kept(url) {
  return caches.match(url, { cacheName: CACHE, ignoreVary: true });
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === "navigate") {
    // A page: from the network only; offline, the offline page instead.
    event.respondWith(fetch(request).catch(async () => (await kept(OFFLINE_URL)) || Response.error()));
    return;
  }
  if (KEPT.has(url.pathname)) {
    // The offline page's own files: fresh from the network, kept copy when offline.
    event.respondWith(fetch(request).catch(async () => (await kept(url.pathname)) || Response.error()));
  }
  // Anything else is not touched: the browser fetches it as if there were no worker.
});

// Only a path of this site: a push never sends anyone elsewhere.
function sitePath(value) {
  try {
    const url = new URL(value, self.location.origin);
    if (url.origin === self.location.origin) return url.pathname + url.search + url.hash;
  } catch (error) {
    // not a URL: the home page below
  }
  return "/";
}

self.addEventListener("push", (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch (error) {
    data = {};
  }
  const title = typeof data.title === "string" && data.title ? data.title : "telemed";
  const options = {
    body: typeof data.body === "string" ? data.body : "",
    icon: ICON,
    badge: ICON,
    lang: typeof data.lang === "string" ? data.lang : undefined,
    data: { url: sitePath(data.url) },
  };
  if (typeof data.tag === "string" && data.tag) options.tag = data.tag;
  event.waitUntil(self.registration.showNotification(title, options));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const target = new URL(sitePath(event.notification.data && event.notification.data.url), self.location.origin).href;
  event.waitUntil(
    (async () => {
      const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
      const open = windows.find((client) => client.url === target);
      if (open) return open.focus();
      return self.clients.openWindow(target);
    })(),
  );
});
