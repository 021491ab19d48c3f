// The alert wall's live feed (server-sent events) and the alert page's clip player. Plain
// JavaScript served by the console itself; the pages work without it, only less live.
"use strict";

function liveWall() {
  const table = document.querySelector("table.wall");
  if (!table) return;
  const body = document.getElementById("alerts");
  const empty = document.getElementById("empty");
  const live = document.getElementById("live");
  const text = document.getElementById("wall-text").dataset;
  const feed = new EventSource(table.dataset.feed);
  const state = (name, words) => { live.dataset.state = name; live.textContent = words; };
  const refreshEmpty = () => { empty.hidden = body.querySelector("tr") !== null; };
  feed.addEventListener("open", () => state("live", text.live));
  feed.addEventListener("error", () => state("lost", text.lost));
  feed.addEventListener("signin", () => { feed.close(); state("lost", text.signin);
    window.location.assign("/signin?next=" + encodeURIComponent(location.pathname + location.search)); });
  feed.addEventListener("alert", (message) => {
    const change = JSON.parse(message.data);
    const present = document.getElementById("alert-" + change.id);
    if (!change.open) { if (present) present.remove(); refreshEmpty(); return; }
    const holder = document.createElement("tbody");
    holder.innerHTML = change.html; // rendered and escaped by the console's templates
    const row = holder.firstElementChild;
    row.classList.add("fresh");
    if (present) present.replaceWith(row);
    else if (change.high) body.prepend(row);
    else {
      const firstLow = [...body.querySelectorAll("tr")].find((r) => !r.classList.contains("high"));
      body.insertBefore(row, firstLow || null);
    }
    refreshEmpty();
  });
  window.addEventListener("beforeunload", () => feed.close());
}

function clipPlayer() {
  const holder = document.querySelector("[data-clip]");
  if (!holder) return;
  const img = document.getElementById("clip-frame");
  const status = document.getElementById("clip-status");
  const play = document.getElementById("clip-play");
  const seek = document.getElementById("clip-seek");
  const time = document.getElementById("clip-time");
  const text = document.getElementById("clip-text").dataset;
  let frames = [], index = 0, timer = null;
  const show = (i) => {
    index = i; img.src = frames[i].src; seek.value = String(i);
    const t0 = frames.find((f) => f.alert_frame) || frames[0];
    time.textContent = (frames[i].at - t0.at).toFixed(1) + " s" + (frames[i].alert_frame ? " ●" : "");
  };
  const stop = () => { clearInterval(timer); timer = null; play.textContent = text.play; };
  play.addEventListener("click", () => {
    if (timer) { stop(); return; }
    play.textContent = text.pause;
    timer = setInterval(() => show((index + 1) % frames.length), 125);
  });
  seek.addEventListener("input", () => { stop(); show(Number(seek.value)); });
  fetch(holder.dataset.clip, { headers: { accept: "application/json" }, credentials: "same-origin" })
    .then((r) => (r.ok ? r.json() : Promise.reject(r.status)))
    .then((clip) => {
      frames = clip.frames;
      if (!frames.length) { status.textContent = text.none; return; }
      img.hidden = false; play.disabled = false; seek.disabled = false;
      seek.max = String(frames.length - 1);
      status.textContent = frames.length + " " + text.frames;
      show(Math.max(0, frames.findIndex((f) => f.alert_frame)));
    })
    .catch(() => { status.textContent = text.none; });
}

function verdictNeedsReason() {
  const form = document.querySelector("form.verdict");
  if (!form) return;
  form.addEventListener("submit", (event) => {
    const needs = event.submitter && event.submitter.hasAttribute("data-needs-reason");
    const reason = form.querySelector("textarea[name=reason]");
    if (needs && !reason.value.trim()) { event.preventDefault(); reason.required = true; reason.reportValidity(); }
  });
}

function stillFallbacks() {
  document.querySelectorAll("img[data-fallback]").forEach((img) => {
    img.addEventListener("error", () => { img.alt = img.dataset.fallback; img.classList.add("missing"); });
  });
}

document.addEventListener("DOMContentLoaded", () => { liveWall(); clipPlayer(); verdictNeedsReason(); stillFallbacks(); });
