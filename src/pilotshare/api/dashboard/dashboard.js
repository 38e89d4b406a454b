// pilotshare live dashboard: the catalogue, then twin changes streamed as Server-Sent Events.
// EventSource cannot send an Authorization header, so the stream is read with fetch().
"use strict";

const $ = (sel) => document.querySelector(sel);
const cards = new Map();
let controller = null;

function setConnection(text, kind) {
  const el = $("#connection");
  el.textContent = text;
  el.className = `pill ${kind}`;
}

function showMessage(text) {
  const el = $("#message");
  el.hidden = !text;
  el.textContent = text || "";
}

function ago(iso) {
  if (!iso) return "";
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  return `${Math.round(s / 3600)} h ago`;
}

function card(instrument) {
  let el = cards.get(instrument.id);
  if (!el) {
    el = $("#card").content.firstElementChild.cloneNode(true);
    el.dataset.instrument = instrument.id;
    el.querySelector(".name").textContent = instrument.name || instrument.id;
    el.querySelector(".id").textContent = instrument.id;
    el.querySelector(".kind").textContent = instrument.kind || "";
    el.querySelector(".site").textContent = instrument.site || "";
    $("#instruments").appendChild(el);
    cards.set(instrument.id, el);
  }
  return el;
}

function apply(event) {
  const el = cards.get(event.instrument);
  if (!el) return;
  const online = Boolean(event.online);
  const state = online ? (event.state || "idle") : "offline";
  el.dataset.state = state;
  el.dataset.online = String(online);
  el.dataset.since = event.since || "";
  el.dataset.lastSeen = event.last_seen || "";
  el.querySelector(".state").textContent = state;
  const util = typeof event.utilization === "number" ? event.utilization : null;
  el.querySelector(".fill").style.width = util === null ? "0" : `${Math.round(util * 100)}%`;
  el.querySelector(".util").textContent = util === null ? "–" : `${Math.round(util * 100)}%`;
  refreshTimes();
  summarise();
}

function refreshTimes() {
  for (const el of cards.values()) {
    el.querySelector(".since").textContent = el.dataset.since ? `since ${ago(el.dataset.since)}` : "";
    el.querySelector(".seen").textContent = el.dataset.lastSeen ? `seen ${ago(el.dataset.lastSeen)}` : "never seen";
  }
}

function summarise() {
  const all = [...cards.values()];
  $("#summary").hidden = all.length === 0;
  $("#n-total").textContent = all.length;
  $("#n-online").textContent = all.filter((c) => c.dataset.online === "true").length;
  $("#n-running").textContent = all.filter((c) => c.dataset.state === "running").length;
  $("#n-down").textContent = all.filter((c) => c.dataset.state === "down").length;
}

async function api(path, key, signal) {
  const response = await fetch(path, { headers: { Authorization: `Bearer ${key}` }, signal });
  if (!response.ok) {
    let detail = response.statusText;
    try { detail = (await response.json()).detail; } catch (_) { /* not JSON */ }
    throw new Error(`${response.status}: ${detail}`);
  }
  return response;
}

async function stream(key, signal) {
  const response = await api("/api/v1/events", key, signal);
  setConnection("live", "live");
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const lines = block.split("\n");
      const kind = (lines.find((l) => l.startsWith("event:")) || "event: message").slice(6).trim();
      const data = lines.filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trim());
      // the cards show instruments: snapshot and twin events (booking events are for others)
      if (data.length && (kind === "snapshot" || kind === "twin")) apply(JSON.parse(data.join("\n")));
    }
  }
}

async function connect(key) {
  if (controller) controller.abort();
  controller = new AbortController();
  const { signal } = controller;
  showMessage("");
  setConnection("connecting…", "idle");
  try {
    const instruments = await (await api("/api/v1/instruments", key, signal)).json();
    for (const instrument of instruments) card(instrument);
    summarise();
  } catch (err) {
    if (signal.aborted) return;
    setConnection("not connected", "error");
    showMessage(`Could not load instruments (${err.message}). Check the API key.`);
    return;
  }
  while (!signal.aborted) {
    try {
      await stream(key, signal);
    } catch (err) {
      if (signal.aborted) return;
      setConnection("reconnecting…", "error");
    }
    await new Promise((resolve) => setTimeout(resolve, 3000));
  }
}

$("#key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const key = $("#key").value.trim();
  if (!key) return;
  sessionStorage.setItem("pilotshare-key", key);
  connect(key);
});

setInterval(refreshTimes, 5000);
const saved = sessionStorage.getItem("pilotshare-key");
if (saved) { $("#key").value = saved; connect(saved); }
