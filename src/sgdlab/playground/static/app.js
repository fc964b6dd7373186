// The page: controls -> POST /api/runs -> server-sent events -> plots. Every control's name is
// the sgdlab train option's long name; the body is those names as --config keys.
"use strict";
const MAX_RUNS = 6;
const state = { meta: null, runs: [], current: null, colorIndex: 0, pendingDots: null, frame: 0, frameDelayed: false, lastDraw: 0 };
// While a run trains, redraw at most every MIN_FRAME_MS: each plotly redraw costs tens of ms of
// the same cores the training uses. The first points and the finished run are drawn at once.
const MIN_FRAME_MS = 250;
window.__sgdlab = { marks: {}, state };  // for tests and the latency benchmark

const $ = (sel) => document.querySelector(sel);
const form = $("#controls");

// log-scale sliders: batch size 1..60,000, lr 1e-5..1
const LOG = { "batch-size": [1, 60000, true], lr: [1e-5, 1, false] };
function sliderToValue(name, pos) {
  const [lo, hi, integer] = LOG[name];
  const v = Math.exp(Math.log(lo) + (Math.log(hi) - Math.log(lo)) * pos / 1000);
  return integer ? Math.round(v) : Number(v.toPrecision(2));
}
function valueToSlider(name, v) {
  const [lo, hi] = LOG[name];
  return Math.round(1000 * (Math.log(Math.max(lo, Math.min(hi, v))) - Math.log(lo)) / (Math.log(hi) - Math.log(lo)));
}
function syncSliders() {
  for (const s of document.querySelectorAll("[data-log]")) s.value = valueToSlider(s.dataset.log, Number(form.elements[s.dataset.log].value) || 1);
  for (const s of document.querySelectorAll("[data-lin]")) s.value = form.elements[s.dataset.lin].value;
  form.elements["batch-size"].disabled = form.elements.method.checked;
  $("#b-slider").disabled = form.elements.method.checked;
}

// the form as --config keys: only what differs from sgdlab train's defaults is sent
function body() {
  const d = state.meta.defaults, out = {};
  const gd = form.elements.method.checked;
  if (gd) out.method = "gd";
  for (const name of ["batch-size", "lr", "momentum", "weight-decay", "epochs", "seed", "validation"]) {
    if (name === "batch-size" && gd) continue;
    const raw = form.elements[name].value.trim();
    const v = raw === "" ? raw : Number(raw);
    if (v !== d[name]) out[name] = raw === "" || Number.isNaN(v) ? raw : v;
  }
  if (form.elements.nesterov.checked) out.nesterov = true;
  if (form.elements.schedule.value !== d.schedule) out.schedule = form.elements.schedule.value;
  return out;
}

function label(cfg) {
  const b = cfg.method === "gd" ? "full" : cfg.batch_size;
  let s = `b=${b} lr=${cfg.lr}`;
  if (cfg.momentum) s += ` μ=${cfg.momentum}${cfg.nesterov ? " N" : ""}`;
  if (cfg.weight_decay) s += ` λ=${cfg.weight_decay}`;
  if (cfg.schedule !== "constant") s += ` ${cfg.schedule}`;
  return s;
}

function showErrors(message, key) {
  for (const el of document.querySelectorAll(".error")) el.textContent = "";
  if (!message) return;
  const el = (key && document.querySelector(`.error[data-for="${key}"]`)) || $("#form-error");
  el.textContent = message;
  const input = key && form.elements[key];
  if (input && input.focus) input.setAttribute("aria-invalid", "true");
}

function setStatus(run, key, vars) {
  if (run === state.current) $("#status").textContent = t(key, vars);
}

async function startRun(cfgBody) {
  const compare = $("#compare").checked;
  if (!compare) for (const r of state.runs) stopRun(r);
  let resp;
  try {
    resp = await fetch("/api/runs", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(cfgBody) });
  } catch (e) {
    showErrors(t("network"));
    return null;
  }
  const doc = await resp.json();
  if (resp.status !== 201) {
    showErrors(doc.error, doc.key);
    return null;
  }
  showErrors(null);
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  const run = {
    id: doc.id, body: cfgBody, label: "", color: COLORS[state.colorIndex++ % COLORS.length],
    history: [], dotSteps: [], dotCosts: [], status: "queued", total: 0, source: null,
  };
  if (compare) {
    state.runs.push(run);
    while (state.runs.length > MAX_RUNS) stopRun(state.runs.shift());
  } else {
    state.runs = [run];
  }
  state.current = run;
  run.label = label({ ...snakeDefaults(), ...snake(cfgBody) });
  renderLegend();
  Plots.resetDots(run);
  listen(run);
  return run;
}

const snake = (o) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k.replaceAll("-", "_"), v]));
const snakeDefaults = () => snake(state.meta.defaults);

function stopRun(run) {
  if (run.source) run.source.close();
  run.source = null;
  if (run.status === "queued" || run.status === "running") {
    run.status = "cancelled";
    fetch(`/api/runs/${run.id}`, { method: "DELETE" }).catch(() => {});
  }
}

function listen(run) {
  const es = new EventSource(`/api/runs/${run.id}/events`);
  run.source = es;
  const on = (kind, fn) => es.addEventListener(kind, (ev) => { if (run.source === es) fn(JSON.parse(ev.data)); });
  on("queued", (d) => setStatus(run, "queued", { p: d.position }));
  on("start", (d) => { run.status = "running"; run.total = d.total_steps; setStatus(run, "running", { s: 0, t: d.total_steps.toLocaleString("en") }); });
  on("steps", (d) => {
    run.dotSteps.push(...d.step);
    run.dotCosts.push(...d.cost);
    if (run !== state.current) return;
    setStatus(run, "running", { s: (d.step.at(-1) ?? 0).toLocaleString("en"), t: run.total.toLocaleString("en") });
    const p = state.pendingDots || (state.pendingDots = { steps: [], costs: [] });
    p.steps.push(...d.step);
    p.costs.push(...d.cost);
    schedule();
  });
  on("weights", (d) => { if (run === state.current) { run.weights = d; schedule(); } });
  on("confusion", (d) => { if (run === state.current) { run.confusion = d; schedule(); } });
  on("epoch", (d) => { run.history.push(d); run.dirty = true; schedule(); });
  on("done", (d) => {
    es.close();
    run.source = null;
    run.status = d.status;
    if (d.status === "done") {
      const last = run.history.at(-1);
      setStatus(run, "done", { sec: last ? last.seconds.toFixed(2) : "0" });
      if (run === state.current && last) {
        const el = $("[data-metric=test_accuracy]");
        el.textContent = `${(100 * last.test_accuracy).toFixed(2)}%`;
        el.dataset.value = String(last.test_accuracy);
        el.dataset.run = run.id;
      }
    } else {
      setStatus(run, d.status, { e: d.error || "" });
    }
    run.finished = true;
    schedule();
  });
  es.onerror = () => { if (run.source === es && run.status !== "done") { es.close(); run.source = null; } };
}

// draw whatever arrived since the last drawing, in the next frame (throttled while training)
function schedule() {
  const run = state.current;
  const urgent = !run || run.finished || !run.drawn;
  if (state.frame && !(urgent && state.frameDelayed)) return;
  if (state.frame) clearTimeout(state.frame);
  const wait = urgent ? 0 : Math.max(0, state.lastDraw + MIN_FRAME_MS - performance.now());
  state.frameDelayed = wait > 0;
  state.frame = setTimeout(() => requestAnimationFrame(draw), wait);
}

async function draw() {
  state.frame = 0;
  state.frameDelayed = false;
  state.lastDraw = performance.now();
  const run = state.current, marks = window.__sgdlab.marks;
  const p = state.pendingDots;
  state.pendingDots = null;
  const jobs = [];
  if (p && p.steps.length) {
    jobs.push(Plots.extendDots(p.steps, p.costs));
    if (run) run.drawn = true;
  }
  if (state.runs.some((r) => r.dirty)) {
    state.runs.forEach((r) => { r.dirty = false; });
    jobs.push(Plots.curves(state.runs, $("#xaxis").value));
    if (run) jobs.push(Plots.exactCost(run));
  }
  if (run && run.weights) { Plots.templates(run.weights.w, run.weights.scale, names()); run.weights = null; }
  if (run && run.confusion) { Plots.confusion(run.confusion.matrix, names()); Plots.misclassified(run.confusion.misclassified, names()); run.confusion = null; }
  await Promise.all(jobs);
  if (p && p.steps.length && marks.click !== undefined && marks.first_point === undefined) marks.first_point = performance.now();
  if (run && run.finished && marks.click !== undefined && marks.drawn === undefined && run.id === marks.run) marks.drawn = performance.now();
}

const names = () => (document.documentElement.lang === "he" ? I18N.he.classes : state.meta.class_names);

function renderLegend() {
  const ul = $("#legend");
  ul.replaceChildren(...state.runs.map((run) => {
    const li = document.createElement("li");
    const sw = document.createElement("span");
    sw.className = "swatch";
    sw.style.background = run.color;
    const text = document.createElement("span");
    text.className = "ltr";
    text.textContent = run.label;
    const x = document.createElement("button");
    x.type = "button";
    x.textContent = "×";
    x.title = "remove";
    x.addEventListener("click", () => {
      stopRun(run);
      state.runs = state.runs.filter((r) => r !== run);
      if (state.current === run) state.current = state.runs.at(-1) || null;
      renderLegend();
      Plots.curves(state.runs, $("#xaxis").value);
      Plots.resetDots(state.current);
    });
    li.append(sw, text, x);
    return li;
  }));
}

async function trainClicked(ev) {
  if (ev) ev.preventDefault();
  window.__sgdlab.marks = { click: performance.now() };
  const run = await startRun(body());
  if (run) window.__sgdlab.marks.run = run.id;
}

async function runPreset(name) {
  const list = state.meta.presets[name] || [];
  $("#compare").checked = list.length > 1 || $("#compare").checked;
  if (list.length > 1) { for (const r of state.runs) stopRun(r); state.runs = []; }
  for (const cfg of list) await startRun(cfg);
}

let debounce = 0;
function changed(ev) {
  if (ev.target.dataset.log) form.elements[ev.target.dataset.log].value = sliderToValue(ev.target.dataset.log, Number(ev.target.value));
  else if (ev.target.dataset.lin) form.elements[ev.target.dataset.lin].value = ev.target.value;
  syncSliders();
  if (!$("#live").checked || ev.target.id === "live") return;
  clearTimeout(debounce);
  debounce = setTimeout(() => trainClicked(), 150);
}

async function init() {
  applyLanguage(document.documentElement.lang);
  state.meta = await (await fetch("/api/meta")).json();
  if (state.meta.is_sample) $(".sub").textContent += ` (${t("sample")})`;
  Plots.init();
  syncSliders();
  form.addEventListener("submit", trainClicked);
  form.addEventListener("input", (ev) => { if (ev.target.type === "range") changed(ev); });
  form.addEventListener("change", (ev) => { if (ev.target.type !== "range") changed(ev); else syncSliders(); });
  for (const b of document.querySelectorAll("[data-preset]")) b.addEventListener("click", () => runPreset(b.dataset.preset));
  $("#xaxis").addEventListener("change", () => Plots.curves(state.runs, $("#xaxis").value));
  $("#lang-toggle").addEventListener("click", () => {
    applyLanguage(document.documentElement.lang === "he" ? "en" : "he");
    if (state.meta.is_sample) $(".sub").textContent += ` (${t("sample")})`;
    Plots.curves(state.runs, $("#xaxis").value);
    Plots.resetDots(state.current);
  });
  window.addEventListener("pagehide", () => { for (const r of state.runs) stopRun(r); });
  document.body.dataset.ready = "1";
}
init();
