// Drawing: plotly.js curves and dots, canvases for the templates and the misclassified strip,
// an HTML table for the confusion matrix. No state of its own beyond the plot elements.
"use strict";
const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf"];
// plotly draws SVG text left to right: a Hebrew label is wrapped in a right-to-left embedding
// (U+202B ... U+202C) so that its Latin words (minibatch, epochs) stay where Hebrew puts them
const tp = (key) => (document.documentElement.lang === "he" ? `\u202B${t(key)}\u202C` : t(key));
const PLOT_CONFIG = { responsive: true, displaylogo: false, modeBarButtonsToRemove: ["lasso2d", "select2d"] };

function baseLayout(ytitle, extra) {
  return Object.assign({
    margin: { l: 58, r: 12, t: 30, b: 44 },
    height: 300,
    font: { size: 12 },
    legend: { orientation: "h", y: -0.25, font: { size: 11 } },
    yaxis: { title: { text: ytitle } },
    xaxis: {},
    paper_bgcolor: "rgba(0,0,0,0)",
    uirevision: "keep",
  }, extra || {});
}

const Plots = {
  init() {
    for (const id of ["plot-cost", "plot-accuracy", "plot-noise"]) {
      Plotly.newPlot(id, [], baseLayout(""), PLOT_CONFIG);
    }
    this.resetDots(null);
  },

  // cost and accuracy against epochs, steps or seconds, every kept run overlaid
  curves(runs, xkey) {
    const cost = [], acc = [];
    for (const run of runs) {
      const h = run.history, x = h.map((r) => r[xkey]);
      const held = h.length && "val_cost" in h[0] ? "val" : "test";
      const heldName = tp(held === "val" ? "val_set" : "test_set");
      const line = (dash) => ({ color: run.color, dash, width: 2 });
      const common = { x, mode: "lines+markers", marker: { size: 5, color: run.color } };
      cost.push({ ...common, y: h.map((r) => r.train_cost), name: `${run.label} · ${tp("train_set")}`, line: line("solid") });
      cost.push({ ...common, y: h.map((r) => r[held + "_cost"]), name: `${run.label} · ${heldName}`, line: line("dot") });
      acc.push({ ...common, y: h.map((r) => r.train_accuracy), name: `${run.label} · ${tp("train_set")}`, line: line("solid") });
      acc.push({ ...common, y: h.map((r) => r[held + "_accuracy"]), name: `${run.label} · ${heldName}`, line: line("dot") });
    }
    const xt = { title: { text: tp("x_" + xkey) } };
    if (xkey === "epoch" && Math.max(0, ...runs.map((r) => r.history.length)) <= 12) xt.dtick = 1;
    const one = runs.length <= 1;  // several runs: the page's legend names them (colours)
    const title = (key) => ({ text: `${tp(key)} · ${tp("line_styles")}`, font: { size: 13 } });
    Plotly.react("plot-cost", cost, baseLayout(tp("cost"), { xaxis: xt, title: title("cost"), showlegend: one }), PLOT_CONFIG);
    Plotly.react("plot-accuracy", acc, baseLayout(tp("accuracy"), { xaxis: xt, title: title("accuracy"), showlegend: one, yaxis: { tickformat: ".1%" } }), PLOT_CONFIG);
  },

  // the latest run's minibatch costs (dots) over the exact train C at each epoch's end
  resetDots(run) {
    const color = run ? run.color : COLORS[0];
    const data = [
      { x: run ? run.dotSteps.slice() : [], y: run ? run.dotCosts.slice() : [], type: "scattergl", mode: "markers",
        marker: { size: 3, color, opacity: 0.35 }, name: tp("minibatch_cost") },
      { x: run ? run.history.map((r) => r.steps) : [], y: run ? run.history.map((r) => r.train_cost) : [],
        mode: "lines+markers", line: { color: "#000", width: 2 }, name: tp("exact_train") },
    ];
    const layout = baseLayout(tp("cost"), { title: { text: tp("noise"), font: { size: 13 } }, xaxis: { title: { text: tp("x_steps") } }, yaxis: { range: [0, 2.5], title: { text: tp("cost") } } });
    return Plotly.react("plot-noise", data, layout, PLOT_CONFIG);
  },

  extendDots(steps, costs) {
    return Plotly.extendTraces("plot-noise", { x: [steps], y: [costs] }, [0]);
  },

  exactCost(run) {
    return Plotly.restyle("plot-noise", { x: [run.history.map((r) => r.steps)], y: [run.history.map((r) => r.train_cost)] }, [1]);
  },

  // z.weight (base64 float32, 10×784) as ten 28×28 images, red positive, blue negative
  templates(b64, scale, names) {
    const w = new Float32Array(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)).buffer);
    const box = document.getElementById("templates");
    if (box.children.length !== 10) {
      box.replaceChildren(...names.map((name) => {
        const fig = document.createElement("figure");
        const c = document.createElement("canvas");
        c.width = c.height = 28;
        const cap = document.createElement("figcaption");
        fig.append(c, cap);
        return fig;
      }));
    }
    const s = scale > 0 ? scale : 1;
    [...box.children].forEach((fig, p) => {
      fig.querySelector("figcaption").textContent = names[p];
      const ctx = fig.querySelector("canvas").getContext("2d");
      const img = ctx.createImageData(28, 28);
      for (let q = 0; q < 784; q++) {
        const v = Math.max(-1, Math.min(1, w[p * 784 + q] / s));
        const k = q * 4;
        img.data[k] = v > 0 ? 255 : Math.round(255 * (1 + v));
        img.data[k + 1] = Math.round(255 * (1 - Math.abs(v)));
        img.data[k + 2] = v < 0 ? 255 : Math.round(255 * (1 - v));
        img.data[k + 3] = 255;
      }
      ctx.putImageData(img, 0, 0);
    });
  },

  confusion(matrix, names) {
    const max = Math.max(...matrix.map((row, i) => Math.max(...row.filter((_, j) => j !== i))), 1);
    const table = document.createElement("table");
    table.className = "confusion ltr";
    const head = table.createTHead().insertRow();
    head.insertCell().textContent = "";
    names.forEach((_, j) => { const th = document.createElement("th"); th.textContent = j; th.title = names[j]; head.append(th); });
    const body = table.createTBody();
    matrix.forEach((row, i) => {
      const tr = body.insertRow();
      const th = document.createElement("th");
      th.textContent = `${i} ${names[i]}`;
      tr.append(th);
      row.forEach((n, j) => {
        const td = tr.insertCell();
        td.textContent = n;
        const a = i === j ? 0 : n / max;
        td.style.background = i === j ? "#e3f1e3" : `rgba(214, 39, 40, ${a.toFixed(3)})`;
        if (a > 0.6) td.style.color = "#fff";
        td.title = `${names[i]} → ${names[j]}: ${n}`;
      });
    });
    document.getElementById("confusion").replaceChildren(table);
  },

  misclassified(items, names) {
    document.getElementById("misclassified").replaceChildren(...items.map((it) => {
      const fig = document.createElement("figure");
      const c = document.createElement("canvas");
      c.width = c.height = 28;
      const px = Uint8Array.from(atob(it.pixels), (ch) => ch.charCodeAt(0));
      const ctx = c.getContext("2d"), img = ctx.createImageData(28, 28);
      for (let q = 0; q < 784; q++) {
        const v = 255 - px[q];
        img.data.set([v, v, v, 255], q * 4);
      }
      ctx.putImageData(img, 0, 0);
      const cap = document.createElement("figcaption");
      cap.textContent = `${names[it.true]} → ${names[it.predicted]}`;
      fig.append(c, cap);
      return fig;
    }));
  },
};
