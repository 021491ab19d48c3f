// The scene editor: click corners of a zone (or the two ends of a line) on the camera's still,
// name it, finish it, save. The console checks the scene with the checker of vigie check-config
// before writing it; refusals are shown as the checker words them.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const root = document.querySelector(".editor");
  if (!root) return;
  const svg = document.getElementById("canvas");
  const list = document.getElementById("shapes");
  const status = document.getElementById("editor-status");
  const NS = "http://www.w3.org/2000/svg";
  const geometry = JSON.parse(document.getElementById("geometry").textContent);
  let draft = [];

  const kind = () => document.querySelector("input[name=shape]:checked").value;
  const round = (v) => Math.round(Math.min(1, Math.max(0, v)) * 10000) / 10000;

  function element(name, attrs) {
    const el = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
    return el;
  }

  function draw() {
    svg.replaceChildren();
    for (const z of geometry.zones) {
      const p = element("polygon", { class: "zone", points: z.polygon.map((q) => q.join(",")).join(" ") });
      p.appendChild(element("title", {})).textContent = z.name;
      svg.appendChild(p);
    }
    for (const l of geometry.lines) {
      svg.appendChild(element("line", { class: "line", x1: l.a[0], y1: l.a[1], x2: l.b[0], y2: l.b[1] }));
    }
    if (draft.length) {
      svg.appendChild(element(kind() === "line" ? "polyline" : "polygon",
        { class: "draft", points: draft.map((q) => q.join(",")).join(" ") }));
      for (const [x, y] of draft) svg.appendChild(element("circle", { class: "handle", cx: x, cy: y, r: 0.006 }));
    }
    list.replaceChildren();
    const shapes = [...geometry.zones.map((z) => ["zone", z]), ...geometry.lines.map((l) => ["line", l])];
    for (const [type, shape] of shapes) {
      const li = document.createElement("li");
      li.textContent = (type === "zone" ? "▱ " : "— ") + shape.name + " ";
      const remove = document.createElement("button");
      remove.type = "button"; remove.textContent = list.dataset.remove;
      remove.setAttribute("aria-label", list.dataset.remove + " " + shape.name);
      remove.addEventListener("click", () => {
        const from = type === "zone" ? geometry.zones : geometry.lines;
        from.splice(from.indexOf(shape), 1); draw();
      });
      li.appendChild(remove); list.appendChild(li);
    }
    status.textContent = draft.length ? draft.length + " " + status.dataset.points : status.textContent;
  }

  function addPoint(x, y) {
    if (kind() === "line" && draft.length === 2) draft = [];
    draft.push([round(x), round(y)]); draw();
  }

  svg.addEventListener("click", (event) => {
    const box = svg.getBoundingClientRect();
    addPoint((event.clientX - box.left) / box.width, (event.clientY - box.top) / box.height);
  });
  // Keyboard: arrows move a cursor point, Enter adds it, Backspace removes the last point.
  let cursor = [0.5, 0.5];
  svg.addEventListener("keydown", (event) => {
    const step = event.shiftKey ? 0.05 : 0.01;
    const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
    if (moves[event.key]) {
      cursor = [round(cursor[0] + moves[event.key][0]), round(cursor[1] + moves[event.key][1])];
      status.textContent = cursor.join(", "); event.preventDefault();
    } else if (event.key === "Enter") { addPoint(cursor[0], cursor[1]); event.preventDefault(); }
    else if (event.key === "Backspace") { draft.pop(); draw(); event.preventDefault(); }
  });
  document.getElementById("undo").addEventListener("click", () => { draft.pop(); draw(); });
  document.querySelectorAll("input[name=shape]").forEach((r) => r.addEventListener("change", () => { draft = []; draw(); }));

  document.getElementById("finish").addEventListener("click", () => {
    const name = document.getElementById("shape-name").value.trim();
    if (!name) { document.getElementById("shape-name").focus(); return; }
    if (kind() === "line") {
      if (draft.length !== 2) return;
      geometry.lines = geometry.lines.filter((l) => l.name !== name);
      geometry.lines.push({ name, a: draft[0], b: draft[1] });
    } else {
      if (draft.length < 3) return;
      const classes = document.getElementById("shape-classes").value.split(",").map((c) => c.trim()).filter(Boolean);
      const loitering = document.getElementById("shape-loitering").value;
      geometry.zones = geometry.zones.filter((z) => z.name !== name);
      geometry.zones.push({ name, polygon: draft, classes,
        intrusion: document.getElementById("shape-intrusion").checked,
        loitering_s: loitering ? Number(loitering) : null });
    }
    draft = []; document.getElementById("shape-name").value = ""; draw();
  });

  document.getElementById("save").addEventListener("click", async () => {
    const body = JSON.stringify({ zones: geometry.zones, lines: geometry.lines,
      reason: document.getElementById("save-reason").value });
    const answer = await fetch(root.dataset.save, { method: "POST", body, credentials: "same-origin",
      headers: { "content-type": "application/json", "x-csrf-token": root.dataset.csrf, accept: "application/json" } });
    const result = await answer.json().catch(() => ({ ok: false, error: String(answer.status) }));
    status.textContent = result.ok ? status.dataset.saved : status.dataset.refused + " " + result.error;
    status.dataset.outcome = result.ok ? "saved" : "refused";
  });
  draw();
});
