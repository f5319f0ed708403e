// The video room: device check, waiting room, WebRTC call (the doctor offers, the patient answers,
// perfect negotiation as the safety net), chat, notes and connection-quality samples. Signaling and
// chat share one WebSocket; media goes peer to peer.

const root = document.querySelector("[data-testid=visit-room]");
const role = root.dataset.role;
const polite = role === "patient"; // the patient yields when both sides offer at once
const iceServers = JSON.parse(root.dataset.ice || "[]");
const $ = (name) => root.querySelector(`[data-testid=${name}]`);
const statusLine = $("room-status");
const errorBox = $("room-error");
const localVideo = $("local-video");
const remoteVideo = $("remote-video");

const room = { pc: null, socket: null, stream: null, admitted: false, ended: false };
window.telemedRoom = room; // for the browser test and the benchmark

function say(text) { statusLine.textContent = text; }
function showError(text) { errorBox.hidden = !text; errorBox.textContent = text || ""; }

// --- device check -------------------------------------------------------------------------

async function checkDevices() {
  const device = $("device-status");
  try {
    room.stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
  } catch (error) {
    const name = error && error.name;
    device.textContent = name === "NotAllowedError" || name === "SecurityError" ? root.dataset.msgDenied
      : name === "NotFoundError" || name === "OverconstrainedError" ? root.dataset.msgNoDevice
      : root.dataset.msgDeviceError;
    device.dataset.state = "failed";
    return false;
  }
  localVideo.srcObject = room.stream;
  device.textContent = root.dataset.msgDeviceOk;
  device.dataset.state = "ok";
  return true;
}

// --- signaling socket, reconnecting after a drop ------------------------------------------

let retry = 0;
let inbox = Promise.resolve();
function send(frame) {
  if (room.socket && room.socket.readyState === WebSocket.OPEN) room.socket.send(JSON.stringify(frame));
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}${root.dataset.socket}`);
  room.socket = socket;
  socket.addEventListener("open", () => { retry = 0; });
  // Frames are handled one at a time, in arrival order: an ICE candidate must not overtake the
  // description it belongs to while that description is still being applied.
  socket.addEventListener("message", (event) => {
    const frame = JSON.parse(event.data);
    inbox = inbox.then(() => handle(frame)).catch((error) => console.error(error));
  });
  socket.addEventListener("close", (event) => {
    if (event.code === 4410) { endCall(); return; }
    if (event.code >= 4400 || room.ended) return;
    say(root.dataset.msgReconnecting);
    retry = Math.min(retry + 1, 5);
    setTimeout(connect, 500 * retry);
  });
}

async function handle(frame) {
  switch (frame.type) {
    case "hello":
      room.admitted = frame.admitted;
      root.dataset.state = frame.admitted ? "admitted" : readyClicked ? "waiting" : "connected";
      if (role === "patient" && readyClicked) send({ type: "waiting" });
      // Back after a drop or a reload: the call restarts once the other side answers our presence.
      break;
    case "waiting":
      if (role === "doctor") { const admit = $("admit"); admit.hidden = false; say(root.dataset.msgPatientWaiting); root.dataset.patientWaiting = "true"; }
      break;
    case "admitted":
      room.admitted = true;
      root.dataset.state = "admitted";
      // The doctor offers and the patient answers, so the two never offer at once at admission;
      // the patient's peer connection starts with the doctor's first signal.
      if (role === "doctor") { $("admit").hidden = true; startCall(); }
      break;
    case "presence":
      // The other side came (back): the old peer connection is dead (a new page has new keys).
      // The doctor starts a fresh one and offers; the patient answers that offer. The first
      // presence is answered, so the newcomer learns that someone is there.
      if (!frame.reply) send({ type: "presence", reply: true });
      if (room.admitted && !room.ended) { if (role === "doctor") restartCall(); else dropCall(); }
      // A doctor who arrives after the patient learns that they are waiting.
      if (role === "patient" && frame.role === "doctor" && readyClicked && !room.admitted) send({ type: "waiting" });
      break;
    case "left":
      say(root.dataset.msgPeerLeft);
      root.dataset.peer = "left";
      break;
    case "signal":
      await onSignal(frame);
      break;
    case "chat":
      addChat(frame);
      break;
    case "notes.saved":
      $("notes-status").textContent = root.dataset.msgSaved;
      break;
    case "ended":
      endCall();
      break;
    case "error":
      showError(frame.error);
      break;
  }
}

// --- the call: perfect negotiation ---------------------------------------------------------

let makingOffer = false;
let ignoreOffer = false;

function startCall() {
  if (room.pc || !room.stream) return;
  const pc = new RTCPeerConnection({ iceServers });
  room.pc = pc;
  for (const track of room.stream.getTracks()) pc.addTrack(track, room.stream);
  pc.addEventListener("track", ({ streams }) => {
    if (remoteVideo.srcObject !== streams[0]) remoteVideo.srcObject = streams[0];
    // When the first remote video frame is shown (the benchmark measures admission to this);
    // asked after the source is set, since loading a new source drops pending callbacks.
    if (!room.firstFrameAt && remoteVideo.requestVideoFrameCallback) {
      remoteVideo.requestVideoFrameCallback(() => { room.firstFrameAt = room.firstFrameAt || Date.now(); root.dataset.firstFrame = "true"; });
    }
  });
  pc.addEventListener("negotiationneeded", async () => {
    try {
      makingOffer = true;
      await pc.setLocalDescription();
      send({ type: "signal", visit: Number(root.dataset.visit), description: { type: pc.localDescription.type, sdp: pc.localDescription.sdp } });
    } finally { makingOffer = false; }
  });
  pc.addEventListener("icecandidate", ({ candidate }) => {
    if (candidate) send({ type: "signal", visit: Number(root.dataset.visit), candidate: candidate.toJSON() });
  });
  pc.addEventListener("connectionstatechange", () => {
    root.dataset.connection = pc.connectionState;
    if (pc.connectionState === "connected") { say(root.dataset.msgConnected); root.dataset.peer = "present"; }
    if (pc.connectionState === "failed" && role === "doctor") pc.restartIce(); // the doctor offers, as always
  });
}

// The call is over for good: every local track stopped (the camera light goes off), the peer
// connection closed, the call's buttons gone, and the page says what comes next.
function endCall() {
  room.ended = true;
  say(root.dataset.msgEnded);
  root.dataset.state = "ended";
  if (room.pc) room.pc.close(); // kept in room.pc: its closed state is what the page reports
  if (room.stream) for (const track of room.stream.getTracks()) track.stop();
  localVideo.srcObject = null;
  remoteVideo.srcObject = null;
  for (const control of root.querySelectorAll(".room-controls button")) control.hidden = true;
  root.querySelector(".room-video").hidden = true; // no picture left to show
  const next = $("room-next");
  if (next) next.hidden = false;
}

function dropCall() {
  if (room.pc) room.pc.close();
  room.pc = null;
}

function restartCall() {
  dropCall();
  startCall();
}

async function onSignal({ description, candidate }) {
  if (!room.pc) startCall();
  const pc = room.pc;
  if (!pc) return;
  try {
    if (description) {
      const collision = description.type === "offer" && (makingOffer || pc.signalingState !== "stable");
      ignoreOffer = !polite && collision;
      if (ignoreOffer) return;
      await pc.setRemoteDescription(description);
      if (description.type === "offer") {
        await pc.setLocalDescription();
        send({ type: "signal", visit: Number(root.dataset.visit), description: { type: pc.localDescription.type, sdp: pc.localDescription.sdp } });
      }
    } else if (candidate) {
      try { await pc.addIceCandidate(candidate); } catch (error) { if (!ignoreOffer) throw error; }
    }
  } catch (error) {
    console.error(error);
  }
}

// --- connection quality, sampled from getStats -------------------------------------------

async function sampleStats() {
  const pc = room.pc;
  if (!pc || pc.connectionState !== "connected") return;
  const report = await pc.getStats();
  let rtt = 0, lost = 0, received = 0, width = 0, height = 0;
  report.forEach((stat) => {
    if (stat.type === "candidate-pair" && stat.nominated && stat.currentRoundTripTime !== undefined) rtt = stat.currentRoundTripTime * 1000;
    if (stat.type === "inbound-rtp") {
      lost += stat.packetsLost || 0;
      received += stat.packetsReceived || 0;
      if (stat.kind === "video") { width = stat.frameWidth || 0; height = stat.frameHeight || 0; }
    }
  });
  const loss = received + lost > 0 ? Math.max(0, lost) / (received + Math.max(0, lost)) : 0;
  send({ type: "stats", visit: Number(root.dataset.visit), rtt_ms: Math.round(rtt * 10) / 10, packet_loss: loss, width, height });
}

// --- chat and notes ------------------------------------------------------------------------

function addChat(message) {
  const item = document.createElement("li");
  item.dataset.author = String(message.author);
  const who = document.createElement("strong");
  who.textContent = message.author_name;
  item.append(who, ": ", message.document ? `📎 ${message.document}` : message.text);
  $("chat-list").append(item);
}

$("chat-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = event.target.elements.text;
  if (!input.value.trim()) return;
  send({ type: "chat", text: input.value });
  input.value = "";
});

const fileForm = $("file-form");
if (fileForm) {
  fileForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!fileForm.elements.file.files.length) return;
    showError("");
    const response = await fetch(fileForm.action, { method: "POST", body: new FormData(fileForm), credentials: "same-origin" });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) showError(answer.error || response.statusText);
    else fileForm.reset();
  });
}

const notes = root.querySelector("textarea[name=notes]");
if (notes) {
  let timer = null;
  notes.addEventListener("input", () => {
    clearTimeout(timer);
    $("notes-status").textContent = "";
    timer = setTimeout(() => send({ type: "notes", notes: notes.value }), 800);
  });
}

// --- controls ------------------------------------------------------------------------------

function toggle(button, kind) {
  button.addEventListener("click", () => {
    if (!room.stream) return;
    const off = button.getAttribute("aria-pressed") !== "true";
    for (const track of room.stream.getTracks()) if (track.kind === kind) track.enabled = !off;
    button.setAttribute("aria-pressed", String(off));
  });
}
toggle(root.querySelector("[name=mute_audio]"), "audio");
toggle(root.querySelector("[name=mute_video]"), "video");

let readyClicked = false;
const ready = $("ready");
if (ready) ready.addEventListener("click", () => { readyClicked = true; ready.disabled = true; say(root.dataset.msgWaiting); send({ type: "waiting" }); root.dataset.state = "waiting"; });
const admit = $("admit");
if (admit) admit.addEventListener("click", () => { room.admittedAt = Date.now(); send({ type: "admit" }); });
const end = $("end");
if (end) end.addEventListener("click", () => send({ type: "end" }));
// Leaving the page also releases the camera and microphone at once.
window.addEventListener("pagehide", () => { if (room.stream) for (const track of room.stream.getTracks()) track.stop(); });

(async () => {
  const ok = await checkDevices();
  if (ok && ready) ready.disabled = false;
  connect();
  setInterval(sampleStats, 3000);
})();
