// Registers the service worker (/sw.js): the offline page, and the pushes this device opted in
// to. Browsers without service workers, or pages not on HTTPS (other than localhost), skip it.
if ("serviceWorker" in navigator && window.isSecureContext) {
  navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch((error) => {
    console.warn("service worker not registered", error);
  });
}
