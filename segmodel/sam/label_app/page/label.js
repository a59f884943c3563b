// segkit label: the page. Plain script, no build step. Talks to server.py's JSON API.
// Prompts are kept in image pixels: the canvas has the photo's size and CSS scales it, so a
// click at offsetX/offsetY maps to canvas.width / canvas.clientWidth image pixels per CSS px.
// Each object keeps SAM's mask and the brush strokes on top of it as Uint8Arrays of image
// pixels (1 = on); the overlay and the accepted mask_png are both made from those arrays, so
// what is written is exactly what is shown.
"use strict";

const TOKEN = new URLSearchParams(location.search).get("token") || "";
const canvas = document.getElementById("view");
const ctx = canvas.getContext("2d");
const $ = (id) => document.getElementById(id);
const DRAG_PX = 4; // a press that moves more than this (CSS px) draws a box
const OBJECT_COLORS = ["#1e90ff", "#ff8c00", "#9932cc", "#20b2aa", "#dc143c", "#808000"];
const NO_CLASS_COLOR = [30, 144, 255]; // the overlay without classes
const ALPHA = 120;

let images = []; // [{name, status, width, height, score?, origin?}] in queue order
let classes = []; // [{id, name, color}] from /api/classes ([] without classes)
let currentClass = null; // the class new objects get
let current = null; // name of the image on the canvas
let photo = null; // its ImageBitmap
let objects = [emptyObject()];
let selected = 0; // index of the object prompts and strokes go to
let history = []; // undo stack: {obj, kind: "point" | "box" (with previous) | "stroke"}
let tool = null; // null (prompts), "brush" or "eraser"
let requestSeq = 0; // answers to superseded predictions are dropped
let pending = Promise.resolve(); // the last prediction (accept waits for it)
let drag = null;
let stroke = null; // the brush stroke being drawn
let busy = false;
let lastClick = null;
let overlay = null; // {canvas, ctx, data} at the photo's size
window.segkitLatencies = []; // click-to-overlay ms, read by benchmarks/bench_label.py
window.segkitBrushLatencies = []; // brush move-to-overlay ms, likewise

function emptyObject() {
  return { points: [], labels: [], box: null, cls: currentClass, sam: null, mask: null,
           strokes: [], dirty: false, source: null };
}
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

function classColor(name) {
  const found = classes.find((c) => c.name === name);
  return found ? found.color : (classes.length ? classes[0].color : NO_CLASS_COLOR);
}

// -- the image list and progress -------------------------------------------------------------

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
    if (item.origin) {
      // The accept record: how the model's pre-label fared on this image.
      status.textContent += ` · ${item.origin}` + (item.origin === "edited" ?
        ` ${(100 * item.changed_fraction).toFixed(1)}%` : "");
      status.dataset.origin = item.origin;
    }
    li.append(label, status);
    if (item.score !== undefined && item.score !== null) {
      const score = document.createElement("span");
      score.className = "score";
      score.title = "uncertainty: mean per-pixel entropy of the model's class probabilities";
      score.textContent = item.score.toFixed(3);
      li.append(score);
    }
    li.addEventListener("click", () => openImage(item.name));
    list.append(li);
  }
  const count = (s) => images.filter((i) => i.status === s).length;
  const skipped = count("skipped");
  $("counts").textContent = `${count("labelled")} / ${images.length} labelled` +
    (skipped ? ` (${skipped} skipped)` : "") + `, ${count("todo")} to do`;
  const li = list.querySelector("li.current");
  if (li) li.scrollIntoView({ block: "nearest" });
}

async function refreshProgress() {
  if (!classes.length) return;
  try {
    const progress = await (await api("GET", "/api/progress")).json();
    const per = progress.classes || {};
    const accepts = progress.accepts;
    $("class-progress").textContent = Object.entries(per)
      .map(([name, c]) => `${name}: ${c.objects} objects in ${c.images} images` +
        (accepts && accepts[name] ? ` (as pre-labelled ${accepts[name]["pre-labelled"]}, ` +
          `edited ${accepts[name].edited}, new ${accepts[name].new})` : "")).join(" · ");
  } catch (err) { say(err.message); }
}

function showLastClick() {
  $("last-click").textContent = lastClick === null ? "" :
    `last click ${Math.round((performance.now() - lastClick) / 1000)} s ago`;
}
setInterval(showLastClick, 1000);

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

// -- classes and objects ---------------------------------------------------------------------

function renderClasses() {
  const box = $("classes");
  box.replaceChildren();
  classes.forEach((c, k) => {
    const button = document.createElement("button");
    button.dataset.class = c.name;
    button.title = `class ${c.name} (${k + 1})`;
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = `rgb(${c.color.join(",")})`;
    button.append(swatch, `${k < 9 ? k + 1 + " " : ""}${c.name}`);
    const active = objects[selected] ? objects[selected].cls : currentClass;
    button.classList.toggle("active", c.name === active);
    button.addEventListener("click", () => pickClass(c.name));
    box.append(button);
  });
}

function renderObjects() {
  const list = $("objects");
  list.replaceChildren();
  objects.forEach((o, index) => {
    const li = document.createElement("li");
    li.dataset.index = String(index);
    li.className = index === selected ? "selected" : "";
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = `rgb(${classColor(o.cls).join(",")})`;
    const what = document.createElement("span");
    what.className = "what";
    const prompts = o.points.length + (o.box ? 1 : 0);
    what.textContent = `${index + 1}. ${o.cls ?? "object"}` + (o.source === "model" ? " [model]" : "") +
      (isEmpty(o) ? " (empty)" : ` (${prompts} prompt${prompts === 1 ? "" : "s"}` +
       (o.strokes.length ? `, ${o.strokes.length} strokes)` : ")"));
    li.append(swatch, what);
    if (classes.length) {
      const select = document.createElement("select");
      select.className = "class";
      for (const c of classes) select.add(new Option(c.name, c.name, false, c.name === o.cls));
      select.addEventListener("change", () => { o.cls = select.value; changed(); });
      select.addEventListener("click", (event) => event.stopPropagation());
      li.append(select);
    }
    const remove = document.createElement("button");
    remove.className = "delete";
    remove.title = "delete this object (Del)";
    remove.textContent = "×";
    remove.addEventListener("click", (event) => { event.stopPropagation(); deleteObject(index); });
    li.append(remove);
    li.addEventListener("click", () => { selected = index; changed(); });
    list.append(li);
  });
}

function changed() { // objects, classes or the selection changed: redraw everything
  renderOverlay();
  renderObjects();
  renderClasses();
  redraw();
}

function pickClass(name) {
  currentClass = name;
  if (objects[selected]) objects[selected].cls = name;
  changed();
}

function deleteObject(index) {
  objects.splice(index, 1);
  history = history.filter((h) => h.obj !== index)
    .map((h) => (h.obj > index ? { ...h, obj: h.obj - 1 } : h));
  if (objects.length === 0) objects.push(emptyObject());
  selected = Math.min(selected > index ? selected - 1 : selected, objects.length - 1);
  changed();
  showArea();
}

// -- showing an image ------------------------------------------------------------------------

async function openImage(name) {
  if (name === null || name === undefined) return;
  current = name;
  objects = [emptyObject()];
  selected = 0;
  history = [];
  overlay = null;
  requestSeq += 1;
  say("");
  $("name").textContent = name;
  renderList();
  renderObjects();
  renderClasses();
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
    const off = document.createElement("canvas");
    off.width = bitmap.width; off.height = bitmap.height;
    const octx = off.getContext("2d");
    overlay = { canvas: off, ctx: octx, data: octx.createImageData(off.width, off.height) };
    fit();
    changed();
    // Saved objects of a labelled image; the model's pre-label of one still to do (if any).
    await restore(name);
  } catch (err) {
    say(err.message);
  }
}

async function restore(name) {
  // The saved objects come back: with their saved masks (classes), else predicted again.
  const saved = await (await api("GET", imageUrl(name, "labels"))).json();
  if (current !== name || !saved.objects.length) return;
  const restored = [];
  for (const o of saved.objects) {
    const object = { ...emptyObject(), points: o.points, labels: o.labels, box: o.box,
                     cls: o.class ?? currentClass, source: o.source ?? null };
    if (o.mask_png) object.sam = await decodeMask(o.mask_png);
    else object.dirty = true;
    rebuild(object);
    restored.push(object);
  }
  if (current !== name) return;
  objects = restored;
  selected = objects.length - 1;
  // Restored prompts can be undone like new ones: boxes first, then points.
  history = objects.flatMap((o, obj) => [
    ...(o.box ? [{ obj, kind: "box", previous: null }] : []),
    ...o.points.map(() => ({ obj, kind: "point" }))]);
  changed();
  if (objects.some((o) => o.dirty)) await predict(performance.now());
  else showArea();
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
    ctx.lineWidth = Math.max(1, radius / 2) * (index === selected ? 1.5 : 1);
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

// -- masks -----------------------------------------------------------------------------------

async function decodeMask(b64) {
  // A 0/255 PNG -> Uint8Array (1 = on) of the photo's pixels.
  const image = new Image();
  image.src = `data:image/png;base64,${b64}`;
  await image.decode();
  const off = document.createElement("canvas");
  off.width = image.width; off.height = image.height;
  const octx = off.getContext("2d", { willReadFrequently: true });
  octx.drawImage(image, 0, 0);
  const px = octx.getImageData(0, 0, off.width, off.height).data;
  const mask = new Uint8Array(off.width * off.height);
  for (let i = 0; i < mask.length; i++) mask[i] = px[4 * i] > 127 ? 1 : 0;
  return mask;
}

function maskPng(mask) {
  // Uint8Array (1 = on) -> base64 of a 0/255 PNG, what /api/accept writes.
  const off = document.createElement("canvas");
  off.width = canvas.width; off.height = canvas.height;
  const octx = off.getContext("2d");
  const data = octx.createImageData(off.width, off.height);
  const px = data.data;
  for (let i = 0; i < mask.length; i++) {
    const v = mask[i] ? 255 : 0;
    px[4 * i] = v; px[4 * i + 1] = v; px[4 * i + 2] = v; px[4 * i + 3] = 255;
  }
  octx.putImageData(data, 0, 0);
  return off.toDataURL("image/png").split(",")[1];
}

function paintSegment(mask, s, x0, y0, x1, y1) {
  // Pixels whose centre lies within s.radius of the segment (x0, y0)-(x1, y1) (image px):
  // on for the brush, off for the eraser. tests/test_label_browser.py redoes this in numpy.
  const w = canvas.width, h = canvas.height, r = s.radius, value = s.erase ? 0 : 1;
  const dx = x1 - x0, dy = y1 - y0, len2 = dx * dx + dy * dy;
  const xa = Math.max(0, Math.floor(Math.min(x0, x1) - r));
  const xb = Math.min(w - 1, Math.ceil(Math.max(x0, x1) + r));
  const ya = Math.max(0, Math.floor(Math.min(y0, y1) - r));
  const yb = Math.min(h - 1, Math.ceil(Math.max(y0, y1) + r));
  for (let y = ya; y <= yb; y++) {
    const cy = y + 0.5;
    for (let x = xa; x <= xb; x++) {
      const cx = x + 0.5;
      let t = len2 > 0 ? ((cx - x0) * dx + (cy - y0) * dy) / len2 : 0;
      t = Math.min(1, Math.max(0, t));
      const ex = cx - (x0 + t * dx), ey = cy - (y0 + t * dy);
      if (ex * ex + ey * ey <= r * r) mask[y * w + x] = value;
    }
  }
}

function paintStroke(mask, s) {
  const p = s.points;
  for (let k = 0; k < p.length; k++) {
    const [xa, ya] = p[Math.max(0, k - 1)];
    paintSegment(mask, s, xa, ya, p[k][0], p[k][1]);
  }
}

function rebuild(o) {
  // The object's mask: SAM's, then its strokes in order.
  o.mask = o.sam ? o.sam.slice() : new Uint8Array(canvas.width * canvas.height);
  for (const s of o.strokes) paintStroke(o.mask, s);
}

function renderOverlay() {
  // Every object's mask tinted with its class colour, in order (later on top, as written).
  if (!overlay) return 0;
  const px = overlay.data.data;
  px.fill(0);
  objects.forEach((o) => {
    if (!o.mask || isEmpty(o)) return;
    const [r, g, b] = classColor(o.cls);
    const m = o.mask;
    for (let i = 0; i < m.length; i++) {
      if (m[i]) { const j = 4 * i; px[j] = r; px[j + 1] = g; px[j + 2] = b; px[j + 3] = ALPHA; }
    }
  });
  overlay.ctx.putImageData(overlay.data, 0, 0);
  let area = 0;
  for (let j = 3; j < px.length; j += 4) area += px[j] !== 0;
  overlay.area = area;
  return area;
}

function showArea() {
  if (overlay && objects.some((o) => o.mask && !isEmpty(o))) {
    canvas.dataset.maskArea = String(overlay.area);
  } else delete canvas.dataset.maskArea;
}

// -- prompts -> mask -------------------------------------------------------------------------

function promptedObjects() { return objects.filter((o) => !isEmpty(o)); }

function wire(o) {
  // An object as the API takes it ("class" only when the page has classes).
  const out = { points: o.points, labels: o.labels, box: o.box };
  if (classes.length) out.class = o.cls;
  if (o.source) out.source = o.source;
  return out;
}

function predict(startedAt) {
  pending = predictNow(startedAt);
  return pending;
}

async function predictNow(startedAt) {
  const seq = ++requestSeq;
  const name = current;
  const prompted = promptedObjects();
  for (const o of objects) if (isEmpty(o)) { o.sam = null; o.mask = null; o.dirty = false; }
  if (prompted.length === 0) {
    renderOverlay();
    showArea();
    redraw();
    return;
  }
  const stale = prompted.map((o, k) => [o, k]).filter(([o]) => o.dirty);
  try {
    const answer = await (await api("POST", "/api/predict",
      { image: name, objects: prompted.map(wire) })).json();
    const masks = await Promise.all(stale.map(([, k]) => decodeMask(answer.masks_png[k])));
    if (seq !== requestSeq) return;
    stale.forEach(([o], k) => { o.sam = masks[k]; o.dirty = false; rebuild(o); });
    renderOverlay();
    renderObjects();
    say("");
    redraw();
    requestAnimationFrame(() => {
      const ms = performance.now() - startedAt;
      window.segkitLatencies.push(ms);
      showArea();
      canvas.dataset.predictions = String(window.segkitLatencies.length);
      $("timing").textContent =
        `overlay ${ms.toFixed(0)} ms (server ${answer.ms.toFixed(0)} ms), ` +
        `scores ${answer.scores.map((s) => s.toFixed(2)).join(", ")}`;
    });
  } catch (err) {
    if (seq === requestSeq) say(err.message);
  }
}

function imagePoint(event) {
  const sx = canvas.width / canvas.clientWidth;
  const sy = canvas.height / canvas.clientHeight;
  const clamp = (v, hi) => Math.min(Math.max(v, 0), hi);
  return [clamp(event.offsetX * sx, canvas.width), clamp(event.offsetY * sy, canvas.height)];
}

canvas.addEventListener("contextmenu", (event) => event.preventDefault());

function brushed(startedAt) {
  // A stroke changed the selected object's mask: repaint now, no server round trip.
  renderOverlay();
  redraw();
  requestAnimationFrame(() => {
    window.segkitBrushLatencies.push(performance.now() - startedAt);
    showArea();
    canvas.dataset.strokes = String(window.segkitBrushLatencies.length);
  });
}

canvas.addEventListener("mousedown", (event) => {
  if (!photo || (event.button !== 0 && event.button !== 2)) return;
  lastClick = performance.now();
  const [x, y] = imagePoint(event);
  if (tool) {
    const o = objects[selected];
    if (!o || !o.mask || isEmpty(o)) {
      say("Prompt the selected object first (click or drag), then brush its mask.");
      return;
    }
    const size = Math.max(1, Number($("brush-size").value) || 1);
    stroke = { obj: selected, erase: tool === "eraser", radius: size / 2, points: [[x, y]] };
    o.strokes.push(stroke);
    history.push({ obj: selected, kind: "stroke" });
    paintSegment(o.mask, stroke, x, y, x, y);
    brushed(event.timeStamp);
    return;
  }
  drag = { x0: x, y0: y, x, y, cx: event.offsetX, cy: event.offsetY, moved: false,
           background: event.button === 2 || event.shiftKey };
});

canvas.addEventListener("mousemove", (event) => {
  if (stroke) {
    const [x, y] = imagePoint(event);
    const [xa, ya] = stroke.points[stroke.points.length - 1];
    stroke.points.push([x, y]);
    paintSegment(objects[stroke.obj].mask, stroke, xa, ya, x, y);
    brushed(event.timeStamp);
    return;
  }
  if (!drag) return;
  [drag.x, drag.y] = imagePoint(event);
  drag.moved = drag.moved ||
    Math.hypot(event.offsetX - drag.cx, event.offsetY - drag.cy) > DRAG_PX;
  if (drag.moved) redraw();
});

window.addEventListener("mouseup", (event) => {
  if (stroke) { stroke = null; renderObjects(); return; }
  if (!drag) return;
  const startedAt = performance.now();
  const d = drag;
  drag = null;
  if (event.target === canvas) [d.x, d.y] = imagePoint(event);
  const index = Math.min(selected, objects.length - 1);
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
  object.dirty = true;
  renderObjects();
  redraw();
  predict(startedAt);
});

// A test and benchmark hook: the strokes of every object, in image pixels.
window.segkitStrokes = () => objects.map((o) => o.strokes.map(
  (s) => ({ erase: s.erase, radius: s.radius, points: s.points })));

// -- actions ---------------------------------------------------------------------------------

function undo() {
  const last = history.pop();
  if (!last) return;
  const object = objects[last.obj];
  selected = last.obj;
  if (last.kind === "stroke") {
    object.strokes.pop();
    rebuild(object);
    changed();
    brushed(performance.now());
    return;
  }
  if (last.kind === "point") { object.points.pop(); object.labels.pop(); }
  else object.box = last.previous;
  object.dirty = true;
  if (isEmpty(object)) object.strokes = [];
  while (objects.length > last.obj + 1 && isEmpty(objects[objects.length - 1])) objects.pop();
  selected = Math.min(selected, objects.length - 1);
  history = history.filter((h) => h.obj < objects.length);
  renderObjects();
  predict(performance.now());
}

function clearPrompts() {
  objects = [emptyObject()];
  selected = 0;
  history = [];
  changed();
  predict(performance.now());
}

function newObject() {
  if (!isEmpty(objects[objects.length - 1])) objects.push(emptyObject());
  selected = objects.length - 1;
  changed();
  say(`object ${objects.length}: click or drag to prompt it`);
}

function setTool(name) {
  tool = tool === name ? null : name;
  $("brush").classList.toggle("active", tool === "brush");
  $("eraser").classList.toggle("active", tool === "eraser");
  canvas.classList.toggle("painting", tool !== null);
}

async function act(action) {
  if (busy || current === null) return;
  busy = true;
  const name = current;
  try {
    if (action === "accept") {
      await pending; // the masks shown are those of the latest prompts
      const prompted = promptedObjects();
      if (prompted.length === 0) throw new Error("Add a point or a box first, or skip the image (s).");
      const body = prompted.map((o) => {
        const out = wire(o);
        if (o.mask && !o.dirty) out.mask_png = maskPng(o.mask);
        return out;
      });
      const answer = await (await api("POST", "/api/accept", { image: name, objects: body }))
        .json();
      const item = images.find((i) => i.name === name);
      if (item && answer.origin) {
        item.origin = answer.origin;
        item.changed_fraction = answer.changed_fraction;
      }
      setStatus(name, "labelled");
    } else {
      await api("POST", "/api/skip", { image: name });
      setStatus(name, "skipped");
    }
    refreshProgress();
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
$("brush").addEventListener("click", () => setTool("brush"));
$("eraser").addEventListener("click", () => setTool("eraser"));

document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  const target = event.target.tagName;
  if (target === "INPUT" || target === "SELECT") return; // typing a brush size, say
  const keys = {
    Enter: () => act("accept"), z: undo, Escape: clearPrompts, n: newObject,
    s: () => act("skip"), ArrowRight: () => step(1), ArrowLeft: () => step(-1),
    b: () => setTool("brush"), e: () => setTool("eraser"),
    Delete: () => deleteObject(selected),
  };
  let handler = keys[event.key];
  const digit = Number(event.key);
  if (!handler && Number.isInteger(digit) && digit >= 1 && digit <= classes.length) {
    handler = () => pickClass(classes[digit - 1].name);
  }
  if (handler) { event.preventDefault(); handler(); }
});

async function start() {
  try {
    classes = await (await api("GET", "/api/classes")).json();
    currentClass = classes.length ? classes[0].name : null;
    images = await (await api("GET", "/api/images")).json();
    const first = nextTodo(null) ?? (images.length ? images[0].name : null);
    renderList();
    refreshProgress();
    await openImage(first);
  } catch (err) {
    say(err.message);
  }
}

start();
