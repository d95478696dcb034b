// descentlab playground: the page. It holds no update rule — every path, trace and map
// comes from the server, which runs the library's optimizers through the lab's engine.
// Controls are built from /api/optimizers (optim.describe), so new optimizers and options
// appear here without changes to this file.
"use strict";

const OUTCOME = {global: "#2ca02c", local: "#ff9f1c", moving: "#c7c7c7", diverged: "#222222"};
const OUTCOME_TEXT = {global: "global minimum", local: "local minimum", moving: "still moving",
  diverged: "diverged"};
const TICK_PX = 15;  // tick text in canvas pixels: ≥ 14 CSS px on the usual layout (projectors)
const M = {l: 62, r: 14, t: 12, b: 44};  // plot margins in canvas pixels

const $ = (id) => document.getElementById(id);
const meta = {describe: {}, names: [], problems: [], limits: {}, features: {}};
let state = {surface: {problem: "bowl"}, steps: 30, start: null, racers: [
  {name: "sgd", hyper: {lr: 0.95}, options: {}},
  {name: "momentum", hyper: {lr: 0.1}, options: {}},
  {name: "rmsprop", hyper: {lr: 0.3}, options: {}},
  {name: "adam", hyper: {lr: 0.3}, options: {}},
]};
let surf = null;          // /api/surface answer
let result = null;        // /api/race answer
let paths = [];           // per racer: array of points drawn now
let field = null;         // the drag field: {key, axes, n, steps, dim, data: [Float32Array]}
let frame = 0, playing = false, lastTick = 0;
let hover = null, pinned = null;
let background = null;    // offscreen canvas with the filled contours
const traces = new Map();
let mapData = null;       // the last stability or start map
let stale = false;        // the last race request failed: the paths drawn are older settings
// What the browser test reads: redraw timings (ms) and whether work is pending.
window.__playground = {redraws: [], pending: 0, fieldReady: false, errors: [], lastExport: null,
  state: () => state, paths: () => paths, result: () => result, surface: () => surf,
  map: () => mapData, stale: () => stale, background: () => background, plot: () => plotBox(),
  tickPx: () => TICK_PX * canvas.getBoundingClientRect().width / canvas.width,  // CSS px
  toPage: (pt) => {  // viewport coordinates of a world point on the map (for drivers)
    const r = canvas.getBoundingClientRect(), [px, py] = toPx(shown(pt));
    return [r.left + px * r.width / canvas.width, r.top + py * r.height / canvas.height];
  }};

// ------------------------------------------------------------------ server
async function api(path, body) {
  window.__playground.pending++;
  $("busy").hidden = false;
  try {
    let r;
    // A busy server (503: its worker lanes are full, or a request ran past the wall-clock
    // backstop) says when to come back: retry a few times, as it asks, before showing an
    // error. A 503 naming a field (the request used up its CPU budget) would be the same
    // again: shown at once.
    for (let attempt = 0; ; attempt++) {
      r = await fetch(path, body === undefined ? {} : {method: "POST",
        headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
      if (r.status !== 503 || attempt >= 4) break;
      if ((await r.clone().json().catch(() => ({}))).field) break;
      const wait = Math.min(10, Number(r.headers.get("Retry-After")) || 1);
      await new Promise((done) => setTimeout(done, wait * 1000));
    }
    const data = await r.json();
    if (!r.ok) {
      const err = new Error(data.error || JSON.stringify(data.detail || data));
      err.field = data.field || null;
      throw err;
    }
    return data;
  } finally {
    window.__playground.pending--;
    $("busy").hidden = window.__playground.pending === 0;
  }
}

function surfaceBody() { return state.surface; }
function racerBody(r) { return {name: r.name, hyper: r.hyper, options: r.options}; }

// Latest-wins request slots: while one request is in flight, newer inputs wait, and only
// the newest of them is sent.
function slot(run) {
  let busy = false, queued = false;
  return async function trigger() {
    if (busy) { queued = true; return; }
    busy = true;
    try { await run(); } finally {
      busy = false;
      if (queued) { queued = false; trigger(); }
    }
  };
}

// ------------------------------------------------------------------ state ↔ URL
function saveURL() {
  const text = encodeURIComponent(JSON.stringify(state));
  history.replaceState(null, "", "#" + text);
}
function loadURL() {
  if (location.hash.length < 2) return;
  try {
    const s = JSON.parse(decodeURIComponent(location.hash.slice(1)));
    if (s && s.surface && Array.isArray(s.racers)) state = Object.assign(state, s);
  } catch (e) { showMessage("the link's state could not be read: " + e.message); }
}

// ------------------------------------------------------------------ geometry
const canvas = $("map"), ctx = canvas.getContext("2d");
function plotBox() { return {x0: M.l, y0: M.t, w: canvas.width - M.l - M.r, h: canvas.height - M.t - M.b}; }
function yRange() {  // 1-D: the f axis
  if (!surf) return [0, 1];
  const v = surf.values.filter((x) => x !== null).sort((a, b) => a - b);
  const lo = v[0], hi = v[Math.floor(0.98 * (v.length - 1))];
  const pad = 0.06 * (hi - lo || 1);
  return [lo - pad, hi + pad];
}
function toPx(pt) {
  const b = plotBox(), W = surf.window;
  const px = b.x0 + (pt[0] - W[0][0]) / (W[0][1] - W[0][0]) * b.w;
  let py;
  if (surf.dim === 2) py = b.y0 + (W[1][1] - pt[1]) / (W[1][1] - W[1][0]) * b.h;
  else { const [lo, hi] = yRange(); py = b.y0 + (hi - pt[1]) / (hi - lo) * b.h; }
  return [px, py];
}
function toWorld(px, py) {
  const b = plotBox(), W = surf.window;
  const x = W[0][0] + (px - b.x0) / b.w * (W[0][1] - W[0][0]);
  const y = surf.dim === 2 ? W[1][1] - (py - b.y0) / b.h * (W[1][1] - W[1][0]) : null;
  const clamp = (v, w) => Math.min(w[1], Math.max(w[0], v));
  return surf.dim === 2 ? [clamp(x, W[0]), clamp(y, W[1])] : [clamp(x, W[0])];
}
function fAt(x) {  // 1-D: f on the curve by interpolation (drawing only; paths carry f)
  const xs = surf.axes[0], v = surf.values;
  const t = (x - xs[0]) / (xs[xs.length - 1] - xs[0]) * (xs.length - 1);
  const i = Math.max(0, Math.min(xs.length - 2, Math.floor(t)));
  return v[i] + (v[i + 1] - v[i]) * (t - i);
}
function eventPoint(ev) {
  const r = canvas.getBoundingClientRect();
  return [(ev.clientX - r.left) * canvas.width / r.width, (ev.clientY - r.top) * canvas.height / r.height];
}

// ------------------------------------------------------------------ drawing
const CURVE = "#3b4a66", FRAME = "#98a2b3";  // 1-D: the curve f(x); the plot frame
const STOPS = [[0, [92, 141, 196]], [0.3, [170, 205, 228]], [0.62, [236, 242, 240]], [1, [250, 226, 196]]];
function ramp(t) {
  for (let i = 1; i < STOPS.length; i++) {
    if (t <= STOPS[i][0]) {
      const [a, ca] = STOPS[i - 1], [b, cb] = STOPS[i], u = (t - a) / (b - a);
      return ca.map((c, k) => c + (cb[k] - c) * u);
    }
  }
  return STOPS[STOPS.length - 1][1];
}
function levelScale(values) {
  const v = values.filter((x) => x !== null && isFinite(x)).sort((a, b) => a - b);
  const lo = v[0], hi = v[Math.floor(0.97 * (v.length - 1))], med = v[Math.floor(v.length / 2)];
  const s = Math.max((med - lo) / 3, 1e-12 * Math.max(1, Math.abs(lo)));
  const top = Math.log1p((hi - lo) / s) || 1;
  return (f) => Math.min(1, Math.max(0, Math.log1p(Math.max(0, f - lo) / s) / top));
}
function renderBackground() {
  const b = plotBox();
  background = document.createElement("canvas");
  background.width = canvas.width; background.height = canvas.height;
  const g = background.getContext("2d");
  g.fillStyle = "#fff"; g.fillRect(0, 0, canvas.width, canvas.height);
  if (surf.dim === 2) {
    const nx = surf.axes[0].length, ny = surf.axes[1].length, flat = surf.values.flat();
    const level = levelScale(flat), bands = 18;
    const img = g.createImageData(b.w, b.h), band = new Int16Array(b.w * b.h);
    for (let py = 0; py < b.h; py++) {
      const ty = (1 - py / (b.h - 1)) * (ny - 1), j = Math.min(ny - 2, Math.floor(ty)), v = ty - j;
      for (let px = 0; px < b.w; px++) {
        const tx = px / (b.w - 1) * (nx - 1), i = Math.min(nx - 2, Math.floor(tx)), u = tx - i;
        const a = surf.values[j][i], c = surf.values[j][i + 1], d = surf.values[j + 1][i], e = surf.values[j + 1][i + 1];
        const f = (a === null || c === null || d === null || e === null) ? null
          : (a * (1 - u) + c * u) * (1 - v) + (d * (1 - u) + e * u) * v;
        band[py * b.w + px] = f === null ? -1 : Math.min(bands - 1, Math.floor(level(f) * bands));
      }
    }
    for (let k = 0; k < band.length; k++) {
      const q = band[k], o = 4 * k;
      const edge = (k % b.w < b.w - 1 && band[k + 1] !== q) || (k + b.w < band.length && band[k + b.w] !== q);
      const col = q < 0 ? [255, 255, 255] : ramp((q + 0.5) / bands);
      const dark = edge ? 0.86 : 1;
      img.data[o] = col[0] * dark; img.data[o + 1] = col[1] * dark; img.data[o + 2] = col[2] * dark;
      img.data[o + 3] = 255;
    }
    g.putImageData(img, b.x0, b.y0);
  } else {
    g.save(); g.beginPath(); g.rect(b.x0, b.y0, b.w, b.h); g.clip();  // the curve inside the frame
    g.strokeStyle = CURVE; g.lineWidth = 2; g.beginPath();
    let gap = true;  // a point where f is undefined breaks the curve
    surf.axes[0].forEach((x, i) => {
      if (surf.values[i] === null) { gap = true; return; }
      const [px, py] = toPx([x, surf.values[i]]);
      if (gap) g.moveTo(px, py); else g.lineTo(px, py);
      gap = false;
    });
    g.stroke(); g.restore();
  }
  // axes and ticks
  g.strokeStyle = FRAME; g.lineWidth = 1; g.strokeRect(b.x0 + 0.5, b.y0 + 0.5, b.w - 1, b.h - 1);
  g.fillStyle = "#475467"; g.font = `${TICK_PX}px system-ui, sans-serif`;
  const W = surf.window, yr = surf.dim === 2 ? W[1] : yRange();
  for (const [axis, [lo, hi]] of [[0, W[0]], [1, yr]]) {
    for (const t of ticks(lo, hi, axis === 0 ? 8 : 6)) {
      if (axis === 0) { const [px] = toPx([t, surf.dim === 2 ? W[1][0] : yr[0]]);
        g.textAlign = "center"; g.fillText(fmt(t), px, b.y0 + b.h + TICK_PX + 3);
        g.fillRect(px, b.y0 + b.h, 1, 4); }
      else { const py = surf.dim === 2 ? toPx([W[0][0], t])[1] : toPx([W[0][0], t])[1];
        g.textAlign = "right"; g.fillText(fmt(t), b.x0 - 6, py + TICK_PX / 3); g.fillRect(b.x0 - 4, py, 4, 1); }
    }
  }
  g.textAlign = "left";
  g.fillText(surf.dim === 2 ? "x → , y ↑" : "x → , f ↑", b.x0 + 4, b.y0 + b.h + 2 * TICK_PX + 9);
  for (const m of surf.minima) {  // minima: + (global) or × (local)
    const [px, py] = toPx(surf.dim === 2 ? m.point : [m.point[0], m.value]);
    const r = m.kind === "global" ? 7 : 5;
    g.lineWidth = 4; g.strokeStyle = "#fff"; cross(g, px, py, r, m.kind);
    g.lineWidth = 2; g.strokeStyle = "#111"; cross(g, px, py, r, m.kind);
  }
}
function cross(g, x, y, r, kind) {
  g.beginPath();
  if (kind === "global") { g.moveTo(x - r, y); g.lineTo(x + r, y); g.moveTo(x, y - r); g.lineTo(x, y + r); }
  else { g.moveTo(x - r, y - r); g.lineTo(x + r, y + r); g.moveTo(x + r, y - r); g.lineTo(x - r, y + r); }
  g.stroke();
}
function ticks(lo, hi, n) {
  const step0 = (hi - lo) / n, mag = Math.pow(10, Math.floor(Math.log10(step0)));
  const step = [1, 2, 2.5, 5, 10].map((s) => s * mag).find((s) => s >= step0) || step0;
  const out = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + 1e-9 * step; t += step) out.push(Math.abs(t) < step * 1e-9 ? 0 : t);
  return out;
}
function fmt(v) {
  if (v === null || v === undefined) return "–";
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(2) : String(+v.toPrecision(4));
}
function colourOf(i) { return result && result.racers[i] ? result.racers[i].colour : "#888"; }
function shown(pt) { return surf.dim === 2 ? pt : [pt[0], fAt(pt[0])]; }

function draw() {
  if (!surf || !background) return;
  const b = plotBox();
  ctx.drawImage(background, 0, 0);
  ctx.save(); ctx.beginPath(); ctx.rect(b.x0, b.y0, b.w, b.h); ctx.clip();
  paths.forEach((path, i) => {
    if (!path || !path.length) return;
    const col = colourOf(i), alpha = stale ? 0.35 : 0.95;  // stale: older settings, faded
    ctx.strokeStyle = col; ctx.fillStyle = col; ctx.lineWidth = 1.8; ctx.globalAlpha = alpha;
    ctx.setLineDash(stale ? [6, 4] : []);
    ctx.beginPath();
    path.forEach((pt, k) => { const [x, y] = toPx(shown(pt)); k ? ctx.lineTo(x, y) : ctx.moveTo(x, y); });
    ctx.stroke();
    const every = Math.max(1, Math.floor(path.length / 120));
    path.forEach((pt, k) => {
      if (k % every) return;
      const [x, y] = toPx(shown(pt)); ctx.beginPath(); ctx.arc(x, y, 2.2, 0, 7); ctx.fill();
    });
    const k = Math.min(frame, path.length - 1), [x, y] = toPx(shown(path[k]));
    ctx.globalAlpha = stale ? alpha : 1; ctx.setLineDash([]);
    ctx.beginPath(); ctx.arc(x, y, 6, 0, 7); ctx.fill();
    ctx.lineWidth = 2; ctx.strokeStyle = "#fff"; ctx.stroke();
  });
  ctx.globalAlpha = 1;
  const start = state.start || (surf ? surf.start : null);
  if (start) {
    const [x, y] = toPx(shown(start));
    ctx.lineWidth = 2.5; ctx.strokeStyle = "#111"; ctx.beginPath(); ctx.arc(x, y, 8, 0, 7); ctx.stroke();
    ctx.lineWidth = 1; ctx.strokeStyle = "#fff"; ctx.beginPath(); ctx.arc(x, y, 10, 0, 7); ctx.stroke();
  }
  const mark = pinned || hover;
  if (mark && paths[mark.racer] && paths[mark.racer][mark.k]) {
    const [x, y] = toPx(shown(paths[mark.racer][mark.k]));
    ctx.strokeStyle = "#111"; ctx.lineWidth = 2; ctx.beginPath(); ctx.arc(x, y, 9, 0, 7); ctx.stroke();
  }
  ctx.restore();
}

// ------------------------------------------------------------------ surface
function buildProblemSelect() {
  const sel = $("problem");
  fillSelect(sel, [...meta.problems.map((p) => ({value: p.name, long: `${p.name} — ${p.formula}`,
    short: p.name})), {value: "__formula__", long: "your own formula…", short: "your own formula…"}]);
  sel.onchange = () => {
    if (sel.value === "__formula__") {
      state.surface = {formula: $("formula").value || "x**2/20 + y**2", window: [[-10, 10], [-5, 5]]};
      keepStart(state.surface.window);  // your own formula: the start stays where it was
    } else { state.surface = {problem: sel.value}; state.start = null; }
    syncSurfaceControls(); loadSurface();
  };
  const onFormula = async () => {
    const formula = $("formula").value;
    let parsed;
    try { parsed = await api("/api/parse", {formula}); } catch (e) { parsed = {ok: false, error: e.message}; }
    if (formula !== $("formula").value) return;  // typed on meanwhile
    if (!parsed.ok) { formulaError(parsed.error); return; }
    const w = [[+$("wx0").value, +$("wx1").value]];
    if (parsed.dim === 2) w.push($("wy-row").hidden ? [-5, 5] : [+$("wy0").value, +$("wy1").value]);
    state.surface = {formula, window: w};
    keepStart(w);
    loadSurface();
  };
  let timer = null;
  $("formula").oninput = () => { clearTimeout(timer); timer = setTimeout(onFormula, 350); };
  for (const id of ["wx0", "wx1", "wy0", "wy1"]) $(id).onchange = onFormula;
}
function keepStart(window) {  // the start survives a new formula if it is inside its window
  const s = state.start;
  if (!s || s.length !== window.length || s.some((c, i) => c < window[i][0] || c > window[i][1])) state.start = null;
}
function syncSurfaceControls() {
  const s = state.surface, isF = s.formula !== undefined && s.formula !== null;
  $("problem").value = isF ? "__formula__" : s.problem;
  $("formula-box").hidden = !isF;
  if (isF) {
    $("formula").value = s.formula;
    const w = s.window || [[-5, 5], [-5, 5]];
    $("wx0").value = w[0][0]; $("wx1").value = w[0][1];
    $("wy-row").hidden = w.length < 2;
    if (w.length > 1) { $("wy0").value = w[1][0]; $("wy1").value = w[1][1]; }
  }
}
function formulaError(text) {
  $("formula-error").textContent = text || "";
  $("formula").classList.toggle("bad", !!text);
}
async function loadSurface() {
  formulaError("");
  try {
    surf = await api("/api/surface", {surface: surfaceBody(), resolution: 140});
  } catch (e) {
    if (state.surface.formula !== undefined) formulaError(e.message); else showMessage(e.message);
    return;
  }
  $("wy-row").hidden = surf.dim < 2;
  const mins = surf.minima.map((m) => `${m.kind} (${m.point.map(fmt).join(", ")})`).join("; ");
  $("problem-info").textContent = `${surf.dim}-D · f = ${surf.formula} · ∇f = ${surf.gradient}` +
    (mins ? ` · minima: ${mins}` : " · no minima listed");
  renderBackground();
  field = null; traces.clear(); hover = pinned = null;
  clearMap();  // a map of the previous surface would mislead
  $("internals").innerHTML = "";
  raceNow();
}

// ------------------------------------------------------------------ racers
function defaultsOf(name) {
  const d = meta.describe[name], h = {}, o = {};
  for (const p of d.hyperparameters) h[p.name] = p.default;
  for (const p of d.options) o[p.name] = p.default;
  return {h, o};
}
function sliderRange(p, value) {
  if (p.log) {
    const v = value > 0 ? value : (p.default > 0 ? p.default : 1e-3);
    return {log: true, lo: v / 1000, hi: v * 1000};
  }
  const lo = p.lo !== null ? p.lo : Math.min(-1, 2 * (value || 0));
  let hi = p.hi !== null ? p.hi : Math.max(1, 4 * Math.abs(value || 0), 4 * Math.abs(p.default || 0));
  if (p.hi !== null && p.hi_open) hi = p.hi - 1e-3;
  return {log: false, lo, hi};
}
function renderRacers() {
  const box = $("racers");
  box.innerHTML = "";
  state.racers.forEach((r, i) => {
    const d = meta.describe[r.name];
    const card = document.createElement("div");
    card.className = "racer"; card.style.borderLeftColor = colourOf(i);
    card.dataset.index = i;
    if (!d) {
      card.innerHTML = `<div class="bad-racer">unknown optimizer ${r.name}</div>`;
      box.appendChild(card); return;
    }
    const head = document.createElement("div"); head.className = "racer-head";
    head.innerHTML = `<span class="swatch" style="background:${colourOf(i)}"></span>` +
      `<strong>${r.name}</strong><span class="cls">${d.class}</span>`;
    const rm = document.createElement("button"); rm.textContent = "×"; rm.title = "remove";
    rm.className = "remove"; rm.disabled = state.racers.length < 2;
    rm.onclick = () => { state.racers.splice(i, 1); renderRacers(); raceNow(); };
    head.appendChild(rm); card.appendChild(head);
    const {h, o} = defaultsOf(r.name);
    for (const p of d.hyperparameters) {
      if (!p.settable) continue;
      const value = r.hyper[p.name] !== undefined ? r.hyper[p.name] : h[p.name];
      card.appendChild(hyperRow(r, p, value));
    }
    const own = d.options.filter((p) => !p.shared), shared = d.options.filter((p) => p.shared);
    for (const p of own) card.appendChild(optionRow(r, p, r.options[p.name] !== undefined ? r.options[p.name] : o[p.name]));
    const more = document.createElement("details");
    more.innerHTML = `<summary>shared options, equations</summary>`;
    for (const p of shared) more.appendChild(optionRow(r, p, r.options[p.name] !== undefined ? r.options[p.name] : o[p.name]));
    for (const line of d.equations) {
      const eq = document.createElement("div"); eq.className = "eq"; eq.textContent = line; more.appendChild(eq);
    }
    card.appendChild(more);
    box.appendChild(card);
  });
  fillMapRacers();
}
function setSetting(r, group, name, value, dflt) {
  if (value === dflt) delete r[group][name]; else r[group][name] = value;
}
function hyperRow(r, p, value) {
  const row = document.createElement("div"); row.className = "row";
  row.title = `${p.doc} (${p.range}; default ${p.default})`;
  const label = document.createElement("label"); label.textContent = p.name;
  const range = document.createElement("input"); range.type = "range"; range.min = 0; range.max = 1000;
  range.setAttribute("aria-label", `${r.name} ${p.name}`);
  const num = document.createElement("input"); num.type = "number"; num.step = "any";
  num.value = value === null ? "" : value; num.dataset.hyper = p.name;
  const sr = sliderRange(p, value);
  const toSlider = (v) => sr.log ? 1000 * Math.log(v / sr.lo) / Math.log(sr.hi / sr.lo)
    : 1000 * (v - sr.lo) / (sr.hi - sr.lo);
  const fromSlider = (s) => sr.log ? sr.lo * Math.pow(sr.hi / sr.lo, s / 1000) : sr.lo + (sr.hi - sr.lo) * s / 1000;
  range.value = value === null ? 0 : toSlider(value);
  const apply = (v) => { edited(num); setSetting(r, "hyper", p.name, v, p.default); raceNow(); };
  range.oninput = () => { const v = +fromSlider(+range.value).toPrecision(4); num.value = v; apply(v); };
  num.onchange = () => {
    if (num.value === "" || !isFinite(+num.value)) {
      num.classList.add("bad"); showMessage(`${r.name} ${p.name}: enter a number`); return;
    }
    num.classList.remove("bad"); range.value = toSlider(+num.value); apply(+num.value);
  };
  row.append(label, range, num);
  return row;
}
function optionRow(r, p, value) {
  const row = document.createElement("div"); row.className = "row";
  row.title = p.doc || p.name;
  const label = document.createElement("label"); label.textContent = p.name;
  let input;
  if (p.kind === "bool") {
    input = document.createElement("input"); input.type = "checkbox"; input.checked = !!value;
    input.onchange = () => { edited(input); setSetting(r, "options", p.name, input.checked, p.default); raceNow(); };
  } else if (p.kind === "choice") {
    input = document.createElement("select");
    if (p.nullable) input.add(new Option("none", ""));  // None: the option is off
    for (const a of p.allowed) input.add(new Option(a, a));
    input.value = value === null ? "" : value;
    input.onchange = () => {
      edited(input);
      setSetting(r, "options", p.name, input.value === "" ? null : input.value, p.default); raceNow();
    };
  } else if (p.kind === "numbers") {  // a tuple (Muon's ns_coefficients): shown, set from Python
    input = document.createElement("input"); input.type = "text"; input.disabled = true;
    input.value = (value || []).join(", ");
    row.title = `${row.title} (a tuple of ${p.count} numbers: set it from Python)`;
  } else if (p.kind !== "number" && p.kind !== "count") {  // a structured value (GaLore's base_settings)
    input = document.createElement("input"); input.type = "text"; input.disabled = true;
    input.value = value === null || value === undefined ? "" : JSON.stringify(value);
    row.title = `${row.title} (set it from Python)`;
  } else {
    input = document.createElement("input"); input.type = "number"; input.step = "any";
    input.placeholder = p.nullable ? "off" : ""; input.value = value === null ? "" : value;
    input.onchange = () => {
      const v = input.value === "" ? (p.nullable ? null : p.default) : +input.value;
      edited(input); setSetting(r, "options", p.name, v, p.default); raceNow();
    };
  }
  input.setAttribute("aria-label", `${r.name} ${p.name}`);
  input.dataset.option = p.name;
  row.append(label, input);
  return row;
}
// Menus never show a clipped label: each option reads "long" when it fits the closed menu,
// else "short"; its title holds the whole text.
function fillSelect(sel, items) {  // items: [{value, long, short, title}]
  sel.innerHTML = "";
  const g = document.createElement("canvas").getContext("2d"), css = getComputedStyle(sel);
  g.font = css.font;
  const room = sel.clientWidth - parseFloat(css.paddingLeft) - parseFloat(css.paddingRight) - 24;  // 24: the arrow
  for (const it of items) {
    const o = new Option(g.measureText(it.long).width <= room ? it.long : it.short, it.value);
    o.title = it.title || it.long; sel.add(o);
  }
}
// The add menu: "name — short title" or the name; the chosen one's summary is shown below it.
function shortTitle(summary) { return summary.split(/ \(|, |: |; /)[0]; }
function buildAddSelect() {
  const sel = $("add-name");
  fillSelect(sel, meta.names.map((n) => ({value: n, short: n,
    long: `${n} — ${shortTitle(meta.describe[n].summary)}`, title: meta.describe[n].summary})));
  sel.value = "nesterov";
  const info = () => { $("add-info").textContent = meta.describe[sel.value].summary; };
  sel.onchange = info; info();
  $("add").onclick = () => {
    if (state.racers.length >= meta.limits.racers) { showMessage(`at most ${meta.limits.racers} racers`); return; }
    state.racers.push({name: sel.value, hyper: {}, options: {}});
    renderRacers(); raceNow();
  };
}

// ------------------------------------------------------------------ races and the drag field
function noisy() { const n = state.noise; return !!n && (n.sigma > 0 || n.spread > 0); }
function noiseBody() { return noisy() ? state.noise : null; }
function raceBody() {
  return {surface: surfaceBody(), racers: state.racers.map(racerBody), start: state.start,
    steps: state.steps, noise: noiseBody()};
}
function fieldKey() { return JSON.stringify([state.surface, state.racers.map(racerBody), state.steps, noiseBody()]); }
const raceNow = slot(async () => {
  if (!surf) return;
  saveURL();
  const body = raceBody();
  try {
    const r = await api("/api/race", body);
    if (JSON.stringify(body) !== JSON.stringify(raceBody())) return;  // a newer input waits
    result = r; showMessage(""); markStale(false);
    paths = r.racers.map((x) => x.path);
    if (!state.start) state.start = r.start;
    $("start-info").textContent = `start (${r.start.map(fmt).join(", ")}) · click or drag on the map`;
    frame = Math.min(frame, state.steps); if (!playing) frame = state.steps;
    syncPlayer(); recolour(); summary(); draw(); refreshInternals();
    fieldNow();
  } catch (e) {
    if (JSON.stringify(body) !== JSON.stringify(raceBody())) return;  // a newer input waits
    showMessage(e.message + (paths.length ? " — the faded paths are from the last settings " +
      "that ran" : ""));
    markStale(true, e.message);
  }
});
// A refused race: the paths on the map no longer match the controls. Fade them and mark the
// control changed last (the value the server refused) until a race succeeds.
let lastInput = null;
function edited(input) { lastInput = input; }
function markStale(on, why) {
  stale = on;
  document.querySelectorAll(".stale").forEach((el) => {
    el.classList.remove("stale", "bad"); el.removeAttribute("title");
  });
  if (on && lastInput && lastInput.isConnected) {
    lastInput.classList.add("stale", "bad"); lastInput.title = why;
  }
  $("canvas-wrap").classList.toggle("stale", on);
  draw();
}
const fieldNow = slot(async () => {
  const key = fieldKey();
  if (field && field.key === key) return;
  window.__playground.fieldReady = false;
  if (noisy() && state.noise.spread > 0) { field = null; return; }  // each start is drawn: ask per move
  try {
    const f = await api("/api/field", {surface: surfaceBody(), racers: state.racers.map(racerBody),
      steps: state.steps, noise: noiseBody()});
    if (key !== fieldKey()) { fieldNow(); return; }
    field = {key, axes: f.axes, n: f.axes[0].length, steps: f.steps, dim: f.dim,
      data: f.paths.map((b64) => { const s = atob(b64), u = new Uint8Array(s.length);
        for (let i = 0; i < s.length; i++) u[i] = s.charCodeAt(i);
        return new Float32Array(u.buffer); })};
    window.__playground.fieldReady = true;
  } catch (e) { showMessage(e.message); }
});
function nearestIndex(axis, v) {
  const a = axis, step = (a[a.length - 1] - a[0]) / (a.length - 1);
  return Math.max(0, Math.min(a.length - 1, Math.round((v - a[0]) / step)));
}
function fieldPaths(point) {  // the lattice start nearest `point` and every racer's path from it
  const i = nearestIndex(field.axes[0], point[0]);
  const j = field.dim === 2 ? nearestIndex(field.axes[1], point[1]) : 0;
  const s = j * field.n + i, len = (field.steps + 1) * field.dim;
  const start = field.dim === 2 ? [field.axes[0][i], field.axes[1][j]] : [field.axes[0][i]];
  const out = field.data.map((arr) => {
    const path = [];
    for (let k = 0; k <= field.steps; k++) {
      const o = s * len + k * field.dim, pt = [arr[o]];
      if (field.dim === 2) pt.push(arr[o + 1]);
      if (pt.some((c) => !Number.isFinite(c))) break;
      path.push(pt);
    }
    return path;
  });
  return {start, paths: out};
}

// ------------------------------------------------------------------ pointer input
let dragging = false, moved = false;
canvas.addEventListener("pointerdown", (ev) => {
  if (!surf) return;
  const h = nearestVertex(...eventPoint(ev));
  if (h && h.k > 0) { pinned = h; draw(); refreshInternals(); return; }  // pin a path point
  dragging = true; moved = false; canvas.setPointerCapture(ev.pointerId);
  pinned = null;
  moveStart(ev);
});
canvas.addEventListener("pointermove", (ev) => {
  if (!surf) return;
  if (dragging) { moved = true; moveStart(ev); return; }
  const [px, py] = eventPoint(ev);
  const h = nearestVertex(px, py);
  if ((h && (!hover || h.racer !== hover.racer || h.k !== hover.k)) || (!h && hover)) {
    hover = h; draw(); if (!pinned) refreshInternals();
  }
});
canvas.addEventListener("pointerup", (ev) => {
  if (!dragging) return;
  dragging = false;
  state.start = toWorld(...eventPoint(ev));
  raceNow();
});
function moveStart(ev) {
  const t0 = ev.timeStamp;
  const point = toWorld(...eventPoint(ev));
  if (field && field.key === fieldKey() && window.__playground.fieldReady) {
    const f = fieldPaths(point);
    state.start = f.start; paths = f.paths; frame = state.steps;
    draw();
    const ms = performance.now() - t0;
    window.__playground.redraws.push(ms);
  } else {
    state.start = point; draw(); raceNow();
  }
}
function nearestVertex(px, py) {
  let best = null, bestD = 10 * 10;
  paths.forEach((path, i) => (path || []).forEach((pt, k) => {
    const [x, y] = toPx(shown(pt)), d = (x - px) ** 2 + (y - py) ** 2;
    if (d < bestD) { bestD = d; best = {racer: i, k}; }
  }));
  return best;
}

// ------------------------------------------------------------------ player
function syncPlayer() {
  $("scrub").max = state.steps; $("scrub").value = frame;
  $("frame").textContent = `step ${frame} / ${state.steps}`;
  $("steps").value = state.steps; $("steps-range").value = state.steps;
}
function tick(now) {
  if (!playing) return;
  const rate = Math.max(8, state.steps / 5);  // frames per second: a whole run in ~5 s
  if (now - lastTick >= 1000 / rate) {
    lastTick = now; frame = frame >= state.steps ? 0 : frame + 1;
    syncPlayer(); draw();
    if (frame >= state.steps) { playing = false; $("play").textContent = "▶"; }
  }
  requestAnimationFrame(tick);
}
$("play").onclick = () => {
  playing = !playing; $("play").textContent = playing ? "❚❚" : "▶";
  if (playing) { if (frame >= state.steps) frame = 0; lastTick = 0; requestAnimationFrame(tick); }
};
$("back").onclick = () => { playing = false; frame = Math.max(0, frame - 1); syncPlayer(); draw(); };
$("fwd").onclick = () => { playing = false; frame = Math.min(state.steps, frame + 1); syncPlayer(); draw(); };
$("scrub").oninput = () => { playing = false; frame = +$("scrub").value; syncPlayer(); draw(); };
function setSteps(v) {
  v = Math.max(1, Math.min(meta.limits.steps || 1000, Math.round(+v) || 1));
  edited(null); state.steps = v; frame = v; syncPlayer(); traces.clear(); raceNow();
}
$("steps-range").oninput = () => setSteps($("steps-range").value);
$("steps").onchange = () => setSteps($("steps").value);

// ------------------------------------------------------------------ summary, internals
function recolour() {
  document.querySelectorAll(".racer").forEach((card) => {
    const i = +card.dataset.index; card.style.borderLeftColor = colourOf(i);
    const sw = card.querySelector(".swatch"); if (sw) sw.style.background = colourOf(i);
  });
}
function summary() {
  const tb = $("summary").querySelector("tbody");
  tb.innerHTML = "";
  for (const r of result.racers) {
    const last = r.path[r.path.length - 1], tr = document.createElement("tr");
    tr.innerHTML = `<td><span class="swatch" style="background:${r.colour}"></span></td><td>${r.label}</td>` +
      `<td>(${last.map(fmt).join(", ")})</td><td>${fmt(r.f[r.f.length - 1])}</td>` +
      `<td><span class="swatch" style="background:${OUTCOME[r.outcome]}"></span> ${OUTCOME_TEXT[r.outcome]}${r.bounced ? " (bounced)" : ""}</td>` +
      `<td>${r.nearest_minimum}</td><td>${r.diverged_at === null ? "–" : "step " + r.diverged_at}</td>`;
    tb.appendChild(tr);
  }
}
async function refreshInternals(exact = false) {
  const box = $("internals"), mark = pinned || hover;
  if (!mark || !result || !result.racers[mark.racer]) { if (!pinned) box.innerHTML = ""; return; }
  const r = state.racers[mark.racer], info = result.racers[mark.racer], k = mark.k;
  const pt = paths[mark.racer][k];
  let html = `<div class="title"><span class="swatch" style="background:${info.colour}"></span> ${info.label} · step ${k}</div>`;
  html += `<div>point (${pt.map(fmt).join(", ")})</div>`;
  if (k === 0) { box.innerHTML = html + "<div class='info'>the start</div>"; return; }
  if (noisy()) { box.innerHTML = html + "<div class='info'>internals are traced without noise: set σ and spread to 0</div>"; return; }
  const steps = Math.min(state.steps, exact ? meta.limits.exact_steps : meta.limits.trace_steps);
  if (k > steps) { box.innerHTML = html + `<div class="info">internals are traced for the first ${steps} steps</div>`; return; }
  const key = JSON.stringify([state.surface, racerBody(r), state.start, steps, exact]);
  let t = traces.get(key);
  try {
    if (!t) {
      t = await api("/api/trace", {surface: surfaceBody(), racer: racerBody(r), start: state.start, steps, exact});
      traces.set(key, t);
    }
  } catch (e) { box.innerHTML = html + `<div class="error">${e.message}</div>`; return; }
  const now = pinned || hover;
  if (!now || now.racer !== mark.racer || now.k !== k) return;
  const s = t.steps[k - 1];
  if (!s) { box.innerHTML = html + "<div class='info'>the trace stopped before this step</div>"; return; }
  const names = surf.dim === 2 ? ["x", "y"] : ["x"];
  html += `<table><tr><th></th>${names.map((n) => `<th>${n}</th>`).join("")}</tr>`;
  for (const [q, vals] of Object.entries(s.values)) {
    html += `<tr><td>${q}</td>` + vals.map((v, i) => {
      const e = s.exact && s.exact[q] ? s.exact[q][i] : null;
      return `<td>${e !== null && e !== undefined ? e : fmt(v)}</td>`;
    }).join("") + "</tr>";
  }
  html += "</table>";
  if (t.note) html += `<div class="info">${t.note.replace(/\n/g, "<br>")}</div>`;
  if (!exact) html += `<div class="row"><button id="exact">exact values (ε → 0)</button></div>`;
  box.innerHTML = html;
  const b = $("exact"); if (b) b.onclick = () => { pinned = pinned || hover; refreshInternals(true); };
}

// ------------------------------------------------------------------ maps
function fillMapRacers() {
  const sel = $("map-racer"), keep = sel.value;
  sel.innerHTML = "";
  state.racers.forEach((r, i) => sel.add(new Option(`${i + 1}. ${r.name}`, i)));
  sel.value = keep && +keep < state.racers.length ? keep : 0;
  fillAxes();
}
function fillAxes() {
  const r = state.racers[+$("map-racer").value]; if (!r) return;
  const d = meta.describe[r.name], sel = $("map-axis"), keep = sel.value;
  sel.innerHTML = ""; sel.add(new Option("none (lr only)", ""));
  for (const p of d.hyperparameters) if (p.name !== "lr" && p.settable) sel.add(new Option(p.name, p.name));
  sel.value = [...sel.options].some((o) => o.value === keep) ? keep : (d.hyperparameters.some((p) => p.name === "beta2") ? "beta2" : (d.hyperparameters.some((p) => p.name === "momentum") ? "momentum" : ""));
  const lr = r.hyper.lr !== undefined ? r.hyper.lr : defaultsOf(r.name).h.lr;
  $("lr-lo").value = +(lr / 30).toPrecision(2); $("lr-hi").value = +(lr * 30).toPrecision(2);
  axisRange();
}
function axisRange() {
  const r = state.racers[+$("map-racer").value], name = $("map-axis").value;
  $("axis-range-row").hidden = !name; if (!name) return;
  const p = meta.describe[r.name].hyperparameters.find((h) => h.name === name);
  const sr = sliderRange(p, p.default);
  $("ax-lo").value = p.log ? +(p.default / 100).toPrecision(2) : +sr.lo.toPrecision(3);
  $("ax-hi").value = p.log ? +(p.default * 100).toPrecision(2) : (p.hi === 1 ? 0.999 : +sr.hi.toPrecision(3));
}
$("map-racer").onchange = fillAxes;
$("map-axis").onchange = axisRange;
$("stability").onclick = async () => {
  const i = +$("map-racer").value, r = state.racers[i], axis = $("map-axis").value || null;
  const p = axis ? meta.describe[r.name].hyperparameters.find((h) => h.name === axis) : null;
  const body = {surface: surfaceBody(), racer: racerBody(r), start: state.start, steps: state.steps,
    lr: {lo: +$("lr-lo").value, hi: +$("lr-hi").value, n: 32, log: true}, axis,
    axis_range: axis ? {lo: +$("ax-lo").value, hi: +$("ax-hi").value, n: 16, log: !!p.log} : null};
  try {
    const m = await api("/api/map", body);
    if (JSON.stringify(body.surface) !== JSON.stringify(surfaceBody())) return;  // surface changed
    mapData = {kind: "stability", racer: i, ...m};
    drawMapGrid();
    const th = m.thresholds.map((t) => (t.value === null ? "" : `${axis} = ${fmt(t.value)}: `) +
      `first lr at the global minimum ${fmt(t.first_global)}, first bounce ${fmt(t.first_bounce)}`);
    $("map-info").textContent = th.slice(0, 3).join(" · ") + " — click a cell to load it";
  } catch (e) { $("map-info").textContent = e.message; }
};
$("starts").onclick = async () => {
  const i = +$("map-racer").value, r = state.racers[i], asked = JSON.stringify(surfaceBody());
  try {
    const m = await api("/api/starts", {surface: surfaceBody(), racer: racerBody(r), steps: state.steps,
      n: surf.dim === 2 ? 24 : 64});
    if (asked !== JSON.stringify(surfaceBody())) return;  // the surface changed meanwhile
    mapData = {kind: "starts", racer: i, ...m};
    drawMapGrid();
    $("map-info").textContent = `${(100 * m.success_rate).toFixed(0)} % of starts end at a global minimum — click a cell to start there`;
  } catch (e) { $("map-info").textContent = e.message; }
};
function clearMap() {
  mapData = null;
  const c = $("mapgrid"); c.getContext("2d").clearRect(0, 0, c.width, c.height);
  $("map-legend").innerHTML = ""; $("map-info").textContent = "";
}
function mapCells() {  // [{x, y, w, h, outcome, bounced, pick}]
  const c = $("mapgrid"), W = c.width, H = c.height, out = [];
  if (mapData.kind === "stability") {
    const rows = mapData.outcome.length, cols = mapData.lr.length;
    for (let j = 0; j < rows; j++) for (let i = 0; i < cols; i++)
      out.push({x: i * W / cols, y: (rows - 1 - j) * H / rows, w: W / cols, h: H / rows,
        outcome: mapData.outcome[j][i], bounced: mapData.bounced[j][i], i, j});
  } else {
    const n = mapData.n, rows = surf.dim === 2 ? n : 1;
    mapData.outcome.forEach((o, s) => {
      const i = s % n, j = Math.floor(s / n);
      out.push({x: i * W / n, y: (rows - 1 - j) * H / rows, w: W / n, h: H / rows, outcome: o,
        bounced: mapData.bounced[s], s});
    });
  }
  return out;
}
function drawMapGrid() {
  const c = $("mapgrid"), g = c.getContext("2d");
  g.clearRect(0, 0, c.width, c.height);
  for (const cell of mapCells()) {
    g.fillStyle = OUTCOME[cell.outcome]; g.fillRect(cell.x, cell.y, Math.ceil(cell.w), Math.ceil(cell.h));
    if (cell.bounced) { g.fillStyle = "#fff"; g.beginPath();
      g.arc(cell.x + cell.w / 2, cell.y + cell.h / 2, Math.min(cell.w, cell.h) / 5, 0, 7); g.fill(); }
  }
  $("map-legend").innerHTML = Object.entries(OUTCOME).map(([k, v]) =>
    `<span><span class="swatch" style="background:${v}"></span> ${OUTCOME_TEXT[k]}</span>`).join("") +
    "<span>○ bounced</span>" + (mapData.kind === "stability" ? `<span>x: lr (log) ${fmt(mapData.lr[0])} … ${fmt(mapData.lr[mapData.lr.length - 1])}` +
      (mapData.axis ? `, y: ${mapData.axis} ${fmt(mapData.axis_values[0])} … ${fmt(mapData.axis_values[mapData.axis_values.length - 1])}` : "") + "</span>" : "");
}
$("mapgrid").onclick = (ev) => {
  if (!mapData) return;
  const c = $("mapgrid"), r = c.getBoundingClientRect();
  const x = (ev.clientX - r.left) * c.width / r.width, y = (ev.clientY - r.top) * c.height / r.height;
  const cell = mapCells().find((q) => x >= q.x && x < q.x + q.w && y >= q.y && y < q.y + q.h);
  if (!cell) return;
  const racer = state.racers[mapData.racer];
  if (!racer) return;
  if (mapData.kind === "stability") {
    racer.hyper.lr = mapData.lr[cell.i];
    if (mapData.axis) racer.hyper[mapData.axis] = mapData.axis_values[cell.j];
  } else state.start = mapData.starts[cell.s];
  renderRacers(); raceNow();
};

// ------------------------------------------------------------------ share, export, messages
function showMessage(text) { $("message").textContent = text || ""; }
function toast(html, ms = 6000) {
  const t = $("toast"); t.innerHTML = html; t.hidden = false;
  clearTimeout(toast.timer); toast.timer = setTimeout(() => { t.hidden = true; }, ms);
}
$("share").onclick = async () => {
  saveURL();
  try { await navigator.clipboard.writeText(location.href); toast("link copied: it carries the whole state"); }
  catch (e) { toast("copy this link: the address bar carries the whole state"); }
};
$("export").onclick = async () => {
  try {
    const r = await api("/api/export", {...raceBody(), animate: true});
    window.__playground.lastExport = r;
    const links = r.files.map((f) => `<a style="color:#9cc3ff" href="/exports/${r.folder}/${f}" target="_blank">${f}</a>`).join(" ");
    toast(`wrote ${r.path}/: ${links}<br>reproduce: <code>${r.command} --out DIR</code>`, 12000);
  } catch (e) { showMessage(e.message); }
};
window.addEventListener("error", (e) => window.__playground.errors.push(String(e.message)));
window.addEventListener("hashchange", () => {  // a link pasted into this tab
  loadURL(); syncSurfaceControls(); renderRacers(); syncPlayer(); loadSurface();
});

// ------------------------------------------------------------------ noise and seeds
function setupNoise() {
  if (!meta.features.noise) return;
  $("noise-box").hidden = false;
  $("noise-info").textContent = "seeded: the same seed gives the same noise and start; " +
    "σ adds Gaussian noise to every gradient, spread draws the start around yours";
  const n = state.noise || {sigma: 0, spread: 0, seed: 0};
  $("noise-sigma").value = n.sigma; $("noise-spread").value = n.spread; $("noise-seed").value = n.seed;
  for (const id of ["noise-sigma", "noise-spread", "noise-seed"]) {
    $(id).onchange = () => {
      const v = {sigma: +$("noise-sigma").value, spread: +$("noise-spread").value, seed: Math.round(+$("noise-seed").value)};
      if (![v.sigma, v.spread, v.seed].every((x) => Number.isFinite(x) && x >= 0)) { $(id).classList.add("bad"); return; }
      $(id).classList.remove("bad");
      state.noise = v; traces.clear(); raceNow();
    };
  }
}

// ------------------------------------------------------------------ start
async function main() {
  loadURL();
  const [opts, probs, limits, features] = await Promise.all([api("/api/optimizers"),
    api("/api/problems"), api("/api/limits"), api("/api/features")]);
  meta.describe = opts.describe; meta.names = opts.names; meta.problems = probs; meta.limits = limits;
  meta.features = features;
  if (!features.noise) delete state.noise;
  setupNoise();
  $("steps").max = limits.steps; $("steps-range").max = Math.min(limits.steps, 500);
  buildProblemSelect(); buildAddSelect(); syncSurfaceControls(); renderRacers(); syncPlayer();
  await loadSurface();
}
main().catch((e) => showMessage(e.message));
