// segkit label: the page. Plain script, no build step. Talks to label_server.py's JSON API.
// Prompts are kept in image pixels: the canvas has the photo's size and CSS scales it, so a
// click at offsetX/offsetY maps to canvas.width / canvas.clientWidth image pixels per CSS px.
"use strict";

const TOKEN = new URLSearchParams(location.search).get("token") || "";
const canvas = document.getElementById("view");
const ctx = canvas.getContext("2d");
const $ = (id) => document.getElementById(id);
const DRAG_PX = 4; // a press that moves more than this (CSS px) draws a box
const OBJECT_COLORS = ["#1e90ff", "#ff8c00", "#9932cc", "#20b2aa", "#dc143c", "#808000"];

let images = []; // [{name, status, width, height}] in name order
let current = null; // name of the image on the canvas
let photo = null; // its ImageBitmap
let objects = [emptyObject()];
let history = []; // undo stack: {obj, kind: "point"} | {obj, kind: "box", previous}
let overlay = null; // {canvas, area} of the last predicted union mask
let requestSeq = 0; // answers to superseded predictions are dropped
let drag = null;
let busy = false;
window.segkitLatencies = []; // click-to-overlay ms, read by benchmarks/bench_label.py

function emptyObject() { return { points: [], labels: [], box: null }; }
function isEmpty(o) { return o.points.length === 0 && o.box === null; }

async function api(method, path, body) {
  const headers = { "X-Segkit-Token": TOKEN };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try { message = (await response.json()).error || message; } catch (e) { /* not JSON */ }
    throw new Error(message);
  }
  return response;
}

function say(text) { $("message").textContent = text || ""; }

function imageUrl(name, kind) { return `/api/${kind}/${encodeURIComponent(name)}`; }

// -- the image list --------------------------------------------------------------------------

function renderList() {
  const list = $("images");
  list.replaceChildren();
  for (const item of images) {
    const li = document.createElement("li");
    li.dataset.name = item.name;
    li.className = item.name === current ? "current" : "";
    const label = document.createElement("span");
    label.textContent = item.name;
    const status = document.createElement("span");
    status.className = `st ${item.status}`;
    status.textContent = item.status === "todo" ? "to do" : item.status;
    li.append(label, status);
    li.addEventListener("click", () => openImage(item.name));
    list.append(li);
  }
  const labelled = images.filter((i) => i.status === "labelled").length;
  const skipped = images.filter((i) => i.status === "skipped").length;
  $("status").textContent = `${labelled} / ${images.length} labelled` +
    (skipped ? ` (${skipped} skipped)` : "");
  const li = list.querySelector("li.current");
  if (li) li.scrollIntoView({ block: "nearest" });
}

function setStatus(name, status) {
  const item = images.find((i) => i.name === name);
  if (item) item.status = status;
  renderList();
}

function nextTodo(after) {
  const start = images.findIndex((i) => i.name === after) + 1;
  const order = images.slice(start).concat(images.slice(0, start));
  const found = order.find((i) => i.status === "todo" && i.name !== after);
  return found ? found.name : null;
}

// -- showing an image ------------------------------------------------------------------------

async function openImage(name) {
  if (name === null || name === undefined) return;
  current = name;
  objects = [emptyObject()];
  history = [];
  overlay = null;
  requestSeq += 1;
  say("");
  $("name").textContent = name;
  renderList();
  const item = images.find((i) => i.name === name);
  if (item.status === "unreadable") {
    photo = null;
    canvas.width = 320; canvas.height = 80;
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, 320, 80);
    say(`${name} cannot be decoded as an image; skip it (s).`);
    return;
  }
  try {
    const blob = await (await api("GET", imageUrl(name, "image"))).blob();
    const bitmap = await createImageBitmap(blob);
    if (current !== name) return;
    photo = bitmap;
    canvas.width = bitmap.width;
    canvas.height = bitmap.height;
    fit();
    redraw();
    if (item.status === "labelled") {
      const saved = await (await api("GET", imageUrl(name, "prompts"))).json();
      if (current === name && saved.objects.length) {
        objects = saved.objects.map((o) => ({ points: o.points, labels: o.labels, box: o.box }));
        // Restored prompts can be undone like new ones: boxes first, then points.
        history = objects.flatMap((o, obj) => [
          ...(o.box ? [{ obj, kind: "box", previous: null }] : []),
          ...o.points.map(() => ({ obj, kind: "point" }))]);
        await predict(performance.now());
      }
    }
  } catch (err) {
    say(err.message);
  }
}

function fit() {
  // Show the photo as large as the stage allows (small photos scale up too).
  const stage = $("stage");
  const scale = Math.min((stage.clientWidth - 12) / canvas.width,
                         (stage.clientHeight - 12) / canvas.height);
  canvas.style.width = `${Math.max(1, Math.floor(canvas.width * scale))}px`;
  canvas.style.height = `${Math.max(1, Math.floor(canvas.height * scale))}px`;
}

window.addEventListener("resize", () => { if (photo) fit(); });

function redraw() {
  if (!photo) return;
  ctx.drawImage(photo, 0, 0);
  if (overlay) ctx.drawImage(overlay.canvas, 0, 0);
  const radius = Math.max(3, Math.round(Math.max(canvas.width, canvas.height) / 150));
  objects.forEach((o, index) => {
    ctx.lineWidth = Math.max(1, radius / 2);
    ctx.strokeStyle = OBJECT_COLORS[index % OBJECT_COLORS.length];
    if (o.box) {
      const [x0, y0, x1, y1] = o.box;
      ctx.strokeRect(x0, y0, x1 - x0, y1 - y0);
    }
    o.points.forEach(([x, y], k) => {
      ctx.beginPath();
      ctx.arc(x, y, radius, 0, 2 * Math.PI);
      ctx.fillStyle = o.labels[k] === 1 ? "#2ecc40" : "#ff4136";
      ctx.fill();
      ctx.stroke();
    });
  });
  if (drag && drag.moved) {
    ctx.setLineDash([6, 4]);
    ctx.strokeStyle = "#fff";
    ctx.strokeRect(drag.x0, drag.y0, drag.x - drag.x0, drag.y - drag.y0);
    ctx.setLineDash([]);
  }
}

// -- prompts -> mask -------------------------------------------------------------------------

function promptedObjects() { return objects.filter((o) => !isEmpty(o)); }

async function predict(startedAt) {
  const seq = ++requestSeq;
  const name = current;
  const prompted = promptedObjects();
  if (prompted.length === 0) {
    overlay = null;
    delete canvas.dataset.maskArea;
    redraw();
    return;
  }
  try {
    const answer = await (await api("POST", "/api/predict",
      { image: name, objects: prompted })).json();
    const mask = new Image();
    mask.src = `data:image/png;base64,${answer.mask_png}`;
    await mask.decode();
    if (seq !== requestSeq) return;
    overlay = tint(mask);
    say("");
    redraw();
    requestAnimationFrame(() => {
      const ms = performance.now() - startedAt;
      window.segkitLatencies.push(ms);
      canvas.dataset.maskArea = String(overlay ? overlay.area : 0);
      canvas.dataset.predictions = String(window.segkitLatencies.length);
      $("timing").textContent =
        `overlay ${ms.toFixed(0)} ms (server ${answer.ms.toFixed(0)} ms), ` +
        `scores ${answer.scores.map((s) => s.toFixed(2)).join(", ")}`;
    });
  } catch (err) {
    if (seq === requestSeq) say(err.message);
  }
}

function tint(maskImage) {
  // The server sends 0/255 gray; paint "on" pixels translucent blue on a canvas of their own.
  const off = document.createElement("canvas");
  off.width = maskImage.width;
  off.height = maskImage.height;
  const octx = off.getContext("2d");
  octx.drawImage(maskImage, 0, 0);
  const data = octx.getImageData(0, 0, off.width, off.height);
  const px = data.data;
  let area = 0;
  for (let i = 0; i < px.length; i += 4) {
    const on = px[i] > 127;
    area += on;
    px[i] = 30; px[i + 1] = 144; px[i + 2] = 255; px[i + 3] = on ? 120 : 0;
  }
  octx.putImageData(data, 0, 0);
  return { canvas: off, area };
}

function imagePoint(event) {
  const sx = canvas.width / canvas.clientWidth;
  const sy = canvas.height / canvas.clientHeight;
  const clamp = (v, hi) => Math.min(Math.max(v, 0), hi);
  return [clamp(event.offsetX * sx, canvas.width), clamp(event.offsetY * sy, canvas.height)];
}

canvas.addEventListener("contextmenu", (event) => event.preventDefault());

canvas.addEventListener("mousedown", (event) => {
  if (!photo || (event.button !== 0 && event.button !== 2)) return;
  const [x, y] = imagePoint(event);
  drag = { x0: x, y0: y, x, y, cx: event.offsetX, cy: event.offsetY, moved: false,
           background: event.button === 2 || event.shiftKey };
});

canvas.addEventListener("mousemove", (event) => {
  if (!drag) return;
  [drag.x, drag.y] = imagePoint(event);
  drag.moved = drag.moved ||
    Math.hypot(event.offsetX - drag.cx, event.offsetY - drag.cy) > DRAG_PX;
  if (drag.moved) redraw();
});

window.addEventListener("mouseup", (event) => {
  if (!drag) return;
  const startedAt = performance.now();
  const d = drag;
  drag = null;
  if (event.target === canvas) [d.x, d.y] = imagePoint(event);
  const index = objects.length - 1;
  const object = objects[index];
  if (d.moved) {
    const box = [Math.min(d.x0, d.x), Math.min(d.y0, d.y),
                 Math.max(d.x0, d.x), Math.max(d.y0, d.y)];
    history.push({ obj: index, kind: "box", previous: object.box });
    object.box = box.map((v) => Math.round(v * 10) / 10);
  } else {
    object.points.push([Math.round(d.x0 * 10) / 10, Math.round(d.y0 * 10) / 10]);
    object.labels.push(d.background ? 0 : 1);
    history.push({ obj: index, kind: "point" });
  }
  redraw();
  predict(startedAt);
});

// -- actions ---------------------------------------------------------------------------------

function undo() {
  const last = history.pop();
  if (!last) return;
  const object = objects[last.obj];
  if (last.kind === "point") { object.points.pop(); object.labels.pop(); }
  else object.box = last.previous;
  while (objects.length > last.obj + 1 && isEmpty(objects[objects.length - 1])) objects.pop();
  predict(performance.now());
}

function clearPrompts() {
  objects = [emptyObject()];
  history = [];
  predict(performance.now());
}

function newObject() {
  if (!isEmpty(objects[objects.length - 1])) objects.push(emptyObject());
  say(`object ${objects.length}: click or drag to prompt it`);
}

async function act(action) {
  if (busy || current === null) return;
  busy = true;
  const name = current;
  try {
    if (action === "accept") {
      if (promptedObjects().length === 0) throw new Error("Add a point or a box first, or skip the image (s).");
      await api("POST", "/api/accept", { image: name, objects: promptedObjects() });
      setStatus(name, "labelled");
    } else {
      await api("POST", "/api/skip", { image: name });
      setStatus(name, "skipped");
    }
    const following = nextTodo(name);
    if (following !== null) await openImage(following);
    else say("Every image is labelled or skipped.");
  } catch (err) {
    say(err.message);
  } finally {
    busy = false;
  }
}

function step(delta) {
  const index = images.findIndex((i) => i.name === current) + delta;
  if (index >= 0 && index < images.length) openImage(images[index].name);
}

$("accept").addEventListener("click", () => act("accept"));
$("skip").addEventListener("click", () => act("skip"));
$("undo").addEventListener("click", undo);
$("clear").addEventListener("click", clearPrompts);
$("newobj").addEventListener("click", newObject);
$("next").addEventListener("click", () => step(1));
$("prev").addEventListener("click", () => step(-1));

document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  const keys = {
    Enter: () => act("accept"), z: undo, Escape: clearPrompts, n: newObject,
    s: () => act("skip"), ArrowRight: () => step(1), ArrowLeft: () => step(-1),
  };
  const handler = keys[event.key];
  if (handler) { event.preventDefault(); handler(); }
});

async function start() {
  try {
    images = await (await api("GET", "/api/images")).json();
    const first = nextTodo(null) ?? (images.length ? images[0].name : null);
    renderList();
    await openImage(first);
  } catch (err) {
    say(err.message);
  }
}

start();
