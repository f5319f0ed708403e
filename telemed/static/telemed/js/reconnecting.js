// One WebSocket that comes back after a drop: the live pages (notifications, conversations, a
// consult's thread) all keep their socket this way. After a close it connects again in 1 s,
// then 2 s, 4 s… at most 30 s apart; the delay starts over once a connection opens. A close
// with one of `stopCodes` (4401: logged out; 4403: not a party) ends it for good.
//
// Frames are JSON both ways: `onMessage` gets each parsed frame, `send` takes an object.

export function reconnectingSocket(path, { onOpen, onMessage, onClose, stopCodes = [4401] } = {}) {
  let socket;
  let delay = 1000;

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}${path}`);
    socket.addEventListener("open", () => {
      delay = 1000;
      onOpen?.();
    });
    socket.addEventListener("message", (event) => onMessage?.(JSON.parse(event.data)));
    socket.addEventListener("close", (event) => {
      onClose?.(event);
      if (stopCodes.includes(event.code)) return;
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);
    });
  }

  connect();
  return {
    get open() {
      return socket.readyState === WebSocket.OPEN;
    },
    send(frame) {
      socket.send(JSON.stringify(frame));
    },
  };
}
