// Map: the records in 2D (PCA of the raw or the tuned embeddings, src/measure/projection.rs, computed
// in a worker), coloured by label, unlabelled grey, predicted labels as faint colour (those
// whose confidence passes the threshold). A toggle moves the points from the raw to the tuned
// map (animated). Drag pans, the wheel zooms, hover shows the text, a click opens the record
// (label it, its similar records, compare), shift+drag (or the Lasso button) draws a lasso
// that selects records to label in bulk: their texts are listed to read first, each with a
// tick to leave it out.
//
// Drawn on a 2D canvas by writing the points' pixels (ImageData): 20,000 points take a few
// ms a frame (the test measures it). Not regl-scatterplot: regl generates code at run time (new Function), which
// the page's CSP (no 'unsafe-eval') forbids; a WebGL view would also fail where WebGL is off.
import { h, clear, download, baseName } from "../dom.js";
import { createLabelBar } from "./labelbar.js";

/** Records drawn at most (a stride sample beyond). */
export const MAX_POINTS = 50_000;
const HIT_PX = 8;
/** Selected records listed with their text (a larger lasso labels the rest unread). */
const LIST_MAX = 200;
const ANIMATE_MS = 500;

export const PALETTE = ["#2f6fde", "#e4572e", "#29a36a", "#9b5de5", "#f3a712", "#17becf", "#d62f84", "#8c564b", "#7f7f00", "#1b3a6b"];
/** A label's colour on the maps (here and on the results card); unlabelled grey. */
export const colourOf = (label) => (label < 0 ? "#c3c8d0" : PALETTE[label % PALETTE.length]);

/** Records on a map: all, or an even stride through them. */
export function mapRows(n, max) {
  const step = Math.max(1, n / max);
  const rows = [];
  for (let x = 0; Math.floor(x) < n && rows.length < max; x += step) rows.push(Math.floor(x));
  return rows;
}

/** [x0, x1, y0, y1] of (n * 2) coordinates. */
export function bounds(xy) {
  let [x0, x1, y0, y1] = [Infinity, -Infinity, Infinity, -Infinity];
  for (let i = 0; i < xy.length; i += 2) {
    x0 = Math.min(x0, xy[i]);
    x1 = Math.max(x1, xy[i]);
    y0 = Math.min(y0, xy[i + 1]);
    y1 = Math.max(y1, xy[i + 1]);
  }
  return [x0, x1, y0, y1];
}

/** Point-in-polygon (even-odd rule); `poly` = [[x, y], ...]. */
export function inside(x, y, poly) {
  let c = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [xi, yi] = poly[i];
    const [xj, yj] = poly[j];
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) c = !c;
  }
  return c;
}

/** Coordinates scaled into [-1, 1] around their centre, one scale for both axes. */
function normalise(xy) {
  const [x0, x1, y0, y1] = bounds(xy);
  const s = 2 / (Math.max(x1 - x0, y1 - y0) || 1);
  const [cx, cy] = [(x0 + x1) / 2, (y0 + y1) / 2];
  const out = new Float32Array(xy.length);
  for (let i = 0; i < xy.length; i += 2) {
    out[i] = (xy[i] - cx) * s;
    out[i + 1] = (xy[i + 1] - cy) * s;
  }
  return out;
}

export function createMapView(root, app) {
  const p = app.project;
  const rawBtn = h("button", { type: "button", id: "map-raw", class: "toggle", "aria-pressed": "true" }, "Raw");
  const tunedBtn = h("button", { type: "button", id: "map-tuned", class: "toggle", "aria-pressed": "false" }, "Tuned");
  const lassoBtn = h("button", { type: "button", id: "map-lasso", class: "toggle", "aria-pressed": "false", title: "Or hold Shift and drag" }, "Lasso");
  const threshold = h("input", { type: "range", id: "map-threshold", min: 0, max: 1, step: 0.05, value: 0.7 });
  const thresholdOut = h("output", { for: "map-threshold", id: "map-threshold-value" }, "0.70");
  const status = h("p", { class: "hint", id: "map-status", "aria-live": "polite" });
  const canvas = h("canvas", { id: "map-canvas", class: "map-canvas", tabindex: 0, "aria-label": "Map of the records" });
  const tip = h("div", { class: "map-tip", id: "map-tip", hidden: true });
  const legend = h("div", { class: "map-legend", id: "map-legend" });
  const selection = h("div", { class: "map-selection", id: "map-selection", hidden: true });
  const save = h("button", { type: "button", id: "map-download", class: "small" }, "Download coordinates (.csv)");
  const bar = createLabelBar(app, { idPrefix: "map", onPick: (id) => labelSelected(id), onCancel: () => canvas.focus() });
  root.append(
    h("div", { class: "toolbar" }, h("span", {}, "Space"), rawBtn, tunedBtn, lassoBtn, h("label", { for: "map-threshold" }, "show predictions with confidence ≥"), threshold, thresholdOut, save),
    status,
    h("div", { class: "map-wrap" }, canvas, tip),
    legend,
    selection,
  );

  let coords = null; // {raw, tuned}: normalised Float32Array (points * 2), tuned may be null
  let rows = []; // point -> record
  let pointOf = new Map(); // record -> point
  let predictions = null; // {label: Int32Array, confidence: Float32Array} per record (tuned when trained)
  let pending = null; // the promise of predictions under way (see predict)
  let space = "raw";
  let pos = null; // the positions drawn now (animated between the two)
  let view = { x: 0, y: 0, k: 1 }; // pan (css px) and zoom
  let selected = []; // records
  let unticked = new Set(); // selected records the person unticked in the selection's list
  let lassoPath = null;
  let stale = true;
  let computing = null;

  // the canvas's size, read once per frame (reading it per point forces a layout query each)
  let box = { w: 800, h: 560 };
  const measure = () => (box = { w: canvas.clientWidth || 800, h: canvas.clientHeight || 560 });
  const size = () => box;
  const toScreen = (x, y) => {
    const s = (Math.min(box.w, box.h) / 2) * 0.92 * view.k;
    return [box.w / 2 + view.x + x * s, box.h / 2 + view.y - y * s];
  };

  async function compute() {
    if (!p.embedded) {
      status.textContent = p.n ? "Waiting for the embeddings." : "Open a dataset first (step 1).";
      return;
    }
    const head = p.head;
    const run = (computing = {});
    rows = mapRows(p.n, MAX_POINTS);
    pointOf = new Map(rows.map((r, j) => [r, j]));
    status.textContent = `Projecting ${rows.length.toLocaleString("en")} records…`;
    const t0 = performance.now();
    try {
      const [raw, tuned = null] = await app.mapCoords(rows, head ? [null, head] : [null]);
      if (run !== computing) return;
      coords = { raw: normalise(raw), tuned: tuned ? normalise(tuned) : null };
      predict();
      stale = false;
      if (!coords.tuned && space === "tuned") setSpace("raw", false);
      pos = coords[space];
      status.textContent =
        `${rows.length.toLocaleString("en")} records${rows.length < p.n ? ` of ${p.n.toLocaleString("en")} (an even sample)` : ""}, projected in ${((performance.now() - t0) / 1000).toFixed(1)} s (PCA, first two components).` +
        (head ? "" : " Train a head (step 4) to see the tuned map.");
      tunedBtn.disabled = !coords.tuned;
      draw();
    } catch (e) {
      if (run === computing) app.error(e, "The map could not be computed");
    }
  }
  /** Sets `predictions` from the kept ones, or starts them (in slices between frames) and
   * redraws the legend and the points when they are ready. */
  function predict() {
    predictions = null;
    pending = null;
    const { labelled, classes } = p.counts();
    if (!labelled || classes < 2) return;
    const index = app.tunedIndex() ?? app.rawIndex();
    if (!index) return;
    predictions = app.readyPredictions(index);
    if (predictions) return;
    const promise = app.predictions(index);
    pending = promise;
    promise.then(
      (v) => {
        if (pending !== promise) return;
        pending = null;
        predictions = v;
        renderLegend();
        draw();
      },
      (e) => {
        if (pending !== promise) return;
        pending = null;
        renderLegend();
        app.error(e, "Predictions failed");
      },
    );
  }

  // points are written straight into the canvas's pixels (one 32-bit write per pixel): a
  // 20,000-point frame takes a few ms, where one canvas path per colour took ~28 ms
  let image = null;
  const rgba = (hex, alpha = 1) => {
    const n = parseInt(hex.slice(1), 16);
    const mix = (c) => Math.round(c * alpha + 255 * (1 - alpha));
    // ImageData is RGBA in memory: a little-endian u32 reads ABGR
    return (255 << 24) | (mix(n & 255) << 16) | (mix((n >> 8) & 255) << 8) | mix(n >> 16);
  };
  const colours = new Map();
  const colourKey = (key) => {
    let c = colours.get(key);
    if (c === undefined) {
      c = key === "u" ? rgba("#c3c8d0") : rgba(colourOf(Number(key.slice(1))), key.startsWith("p") ? 0.4 : 1);
      colours.set(key, c);
    }
    return c;
  };

  function draw() {
    const t0 = performance.now();
    measure();
    const dpr = devicePixelRatio || 1;
    const { w, h: hgt } = size();
    const [W, H] = [Math.round(w * dpr), Math.round(hgt * dpr)];
    if (canvas.width !== W) canvas.width = W;
    if (canvas.height !== H) canvas.height = H;
    const ctx = canvas.getContext("2d");
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    if (!image || image.width !== W || image.height !== H) image = ctx.createImageData(W, H);
    const px = new Uint32Array(image.data.buffer);
    px.fill(0xffffffff);
    if (pos) {
      const t = Number(threshold.value);
      const square = (x, y, r, c) => {
        const cx = Math.round(x * dpr);
        const cy = Math.round(y * dpr);
        const rr = Math.max(1, Math.round(r * dpr));
        for (let yy = Math.max(0, cy - rr); yy <= Math.min(H - 1, cy + rr); yy++) {
          const row = yy * W;
          for (let xx = Math.max(0, cx - rr); xx <= Math.min(W - 1, cx + rr); xx++) px[row + xx] = c;
        }
      };
      const sc = (Math.min(w, hgt) / 2) * 0.92 * view.k;
      // bigger points when there are few of them
      const big = rows.length <= 500 ? 2 : rows.length <= 5000 ? 1.5 : 1;
      const [ox, oy] = [w / 2 + view.x, hgt / 2 + view.y];
      // three passes: grey, faint predictions, labels on top
      for (const pass of [0, 1, 2]) {
        for (let j = 0; j < rows.length; j++) {
          const r = rows[j];
          const l = p.labels[r];
          const predicted = l < 0 && predictions && predictions.label[r] >= 0 && predictions.confidence[r] >= t;
          const kind = l >= 0 ? 2 : predicted ? 1 : 0;
          if (kind !== pass) continue;
          const x = ox + pos[2 * j] * sc;
          const y = oy - pos[2 * j + 1] * sc;
          if (x < -4 || y < -4 || x > w + 4 || y > hgt + 4) continue;
          if (kind === 2) square(x, y, 2 * big, colourKey(`l${l}`));
          else if (kind === 1) square(x, y, 1.5 * big, colourKey(`p${predictions.label[r]}`));
          else square(x, y, big, colourKey("u"));
        }
      }
    }
    ctx.putImageData(image, 0, 0);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    if (pos && selected.length) {
      ctx.strokeStyle = "#111";
      ctx.lineWidth = 1.2;
      ctx.beginPath();
      for (const r of selected) {
        const j = pointOf.get(r);
        if (unticked.has(r)) continue;
        if (j === undefined) continue;
        const [x, y] = toScreen(pos[2 * j], pos[2 * j + 1]);
        ctx.rect(x - 4.5, y - 4.5, 9, 9);
      }
      ctx.stroke();
    }
    if (lassoPath?.length > 1) {
      ctx.strokeStyle = "#111";
      ctx.setLineDash([4, 3]);
      ctx.beginPath();
      lassoPath.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
      ctx.closePath();
      ctx.stroke();
      ctx.setLineDash([]);
    }
    const ms = performance.now() - t0;
    canvas.dataset.drawMs = ms.toFixed(2);
    canvas.dataset.points = String(rows.length);
    canvas.dataset.space = space;
  }

  function renderLegend() {
    clear(legend);
    const { perLabel } = p.counts();
    let shown = 0;
    p.labelNames.forEach((name, l) => {
      if (!perLabel[l]) return;
      shown++;
      const passing = predictions ? countPassing(l) : 0;
      legend.append(
        h(
          "span",
          { class: "legend-item", dataset: { label: name, predicted: String(passing) } },
          h("span", { class: "swatch", style: null, dataset: { colour: colourOf(l) } }),
          `${name} (${perLabel[l]} labelled${predictions ? `, ${passing} predicted ≥ ${Number(threshold.value).toFixed(2)}` : ""})`,
        ),
      );
    });
    if (!shown) legend.append(h("span", { class: "hint" }, "No labels yet: unlabelled records are grey."));
    else if (pending) legend.append(h("span", { class: "hint", id: "map-predicting" }, "Predicting the other records' labels…"));
    else if (!predictions) legend.append(h("span", { class: "hint", id: "map-no-predictions" }, "No predicted labels: they need records labelled with at least two different labels (one label cannot be told apart from anything)."));
    for (const s of legend.querySelectorAll(".swatch")) s.style.background = s.dataset.colour;
    if (p.labelNames.length > PALETTE.length) legend.append(h("span", { class: "hint" }, ` Colours repeat after ${PALETTE.length} labels.`));
  }
  function countPassing(l) {
    const t = Number(threshold.value);
    let n = 0;
    for (let i = 0; i < p.n; i++) if (p.labels[i] < 0 && predictions.label[i] === l && predictions.confidence[i] >= t) n++;
    return n;
  }

  function nearest(mx, my) {
    if (!pos) return null;
    let best = null;
    let bd = HIT_PX * HIT_PX;
    for (let j = 0; j < rows.length; j++) {
      const [x, y] = toScreen(pos[2 * j], pos[2 * j + 1]);
      const d = (x - mx) ** 2 + (y - my) ** 2;
      if (d <= bd) (bd = d), (best = rows[j]);
    }
    return best;
  }

  function setSpace(s, animate = true) {
    if (s === "tuned" && !coords?.tuned) return;
    space = s;
    rawBtn.setAttribute("aria-pressed", String(s === "raw"));
    tunedBtn.setAttribute("aria-pressed", String(s === "tuned"));
    if (!coords) return;
    const from = pos ?? coords[s];
    const to = coords[s];
    if (!animate || from === to) {
      pos = to;
      return draw();
    }
    const t0 = performance.now();
    const mid = new Float32Array(to.length);
    const step = (now) => {
      const a = Math.min(1, (now - t0) / ANIMATE_MS);
      const e = a < 0.5 ? 2 * a * a : 1 - (-2 * a + 2) ** 2 / 2;
      for (let i = 0; i < to.length; i++) mid[i] = from[i] + (to[i] - from[i]) * e;
      pos = a < 1 ? mid : to;
      draw();
      if (a < 1) requestAnimationFrame(step);
    };
    requestAnimationFrame(step);
  }

  function showSelection() {
    clear(selection);
    selection.hidden = !selected.length;
    if (!selected.length) return;
    if (selected.length === 1) {
      const r = selected[0];
      const name = p.labelName(r);
      const pr = predictions && predictions.label[r] >= 0 && p.labels[r] < 0 ? ` · predicted ${p.labelNames[predictions.label[r]]} (${predictions.confidence[r].toFixed(2)})` : "";
      selection.append(
        h("p", {}, h("strong", {}, `#${r} `), h("span", { class: "text" }, p.texts[r])),
        h("p", { class: "hint" }, `label: ${name ?? "none"}${pr}`),
      );
    } else {
      // the records a lasso took, to read before labelling them in bulk: untick those that
      // are not what is meant (a lasso on a 2D map catches neighbours of other kinds)
      const count = h("strong", {}, "");
      const recount = () => (count.textContent = `${selected.length} records selected${unticked.size ? `, ${selected.length - unticked.size} ticked` : ""}`);
      recount();
      const list = h("ol", { class: "records map-selected-list", id: "map-selected-list", "aria-label": "Selected records" });
      for (const r of selected.slice(0, LIST_MAX)) {
        const name = p.labelName(r);
        const guess = !name && predictions && predictions.label[r] >= 0 ? `predicted ${p.labelNames[predictions.label[r]]}` : null;
        const box = h("input", { type: "checkbox", checked: !unticked.has(r), "aria-label": `Include #${r}` });
        box.addEventListener("change", () => {
          if (box.checked) unticked.delete(r);
          else unticked.add(r);
          recount();
          draw();
        });
        list.append(
          h("li", { class: "record", dataset: { index: String(r) } }, box, h("span", { class: "idx" }, `#${r}`), h("span", { class: "text" }, p.texts[r]), h("span", { class: `label${name ? "" : " none"}` }, name ?? guess ?? "unlabelled")),
        );
      }
      selection.append(h("p", { id: "map-selected" }, count, " — read them, untick any that do not belong, and label the ticked ones with a chip below (or press 1–9)."), list);
      if (selected.length > LIST_MAX) selection.append(h("p", { class: "hint" }, `The list shows the first ${LIST_MAX}; the other ${selected.length - LIST_MAX} are ticked. Zoom in and draw a smaller lasso to read each.`));
      list.addEventListener("keydown", (e) => {
        const d = Number(e.key);
        if (d >= 1 && d <= 9 && d <= p.labelNames.length) labelSelected(d - 1);
      });
    }
    selection.append(
      bar.el,
      h(
        "div",
        { class: "row" },
        selected.length === 1 ? h("button", { type: "button", class: "small", onclick: () => app.openSession(selected[0]) }, "Similar records") : null,
        selected.length === 1 ? h("button", { type: "button", class: "small", onclick: () => app.openCompare(selected[0]) }, "Compare") : null,
        h("button", { type: "button", class: "small", id: "map-clear", onclick: () => select([]) }, "Clear selection"),
      ),
    );
  }
  function select(records) {
    selected = records;
    unticked = new Set();
    showSelection();
    draw();
    if (records.length > 1) selection.scrollIntoView({ block: "nearest" });
  }
  function labelSelected(id) {
    const ticked = selected.filter((r) => !unticked.has(r));
    if (!ticked.length) return;
    const targets = ticked.filter((r) => !p.isCheck(r));
    p.setLabels(targets, id);
    const left = [ticked.length < selected.length ? `${selected.length - ticked.length} unticked` : null, targets.length < ticked.length ? `${ticked.length - targets.length} check records` : null].filter(Boolean);
    app.notify(`${targets.length} record${targets.length === 1 ? "" : "s"} labelled “${p.labelNames[id]}” on the map${left.length ? ` (${left.join(" and ")} left as they are)` : ""}.`);
    select([]);
  }

  // ---- pointer: pan, hover, click, lasso, zoom ------------------------------------------------
  let drag = null;
  const local = (e) => {
    const b = canvas.getBoundingClientRect();
    return [e.clientX - b.left, e.clientY - b.top];
  };
  canvas.addEventListener("pointerdown", (e) => {
    const [x, y] = local(e);
    try {
      canvas.setPointerCapture(e.pointerId);
    } catch {
      // a synthetic event has no pointer to capture
    }
    const lasso = e.shiftKey || lassoBtn.getAttribute("aria-pressed") === "true";
    drag = { x, y, vx: view.x, vy: view.y, moved: false, lasso };
    if (lasso) lassoPath = [[x, y]];
  });
  canvas.addEventListener("pointermove", (e) => {
    const [x, y] = local(e);
    if (drag) {
      if (Math.abs(x - drag.x) + Math.abs(y - drag.y) > 3) drag.moved = true;
      if (drag.lasso) lassoPath.push([x, y]);
      else {
        view.x = drag.vx + x - drag.x;
        view.y = drag.vy + y - drag.y;
      }
      tip.hidden = true;
      return draw();
    }
    const r = nearest(x, y);
    if (r == null) return (tip.hidden = true);
    const name = p.labelName(r);
    tip.textContent = `#${r} ${name ? `[${name}] ` : ""}${p.texts[r].length > 200 ? `${p.texts[r].slice(0, 200)}…` : p.texts[r]}`;
    tip.style.left = `${Math.min(x + 12, size().w - 260)}px`;
    tip.style.top = `${y + 12}px`;
    tip.dataset.record = String(r);
    tip.hidden = false;
  });
  canvas.addEventListener("pointerup", (e) => {
    const [x, y] = local(e);
    const d = drag;
    drag = null;
    if (!d) return;
    if (d.lasso && lassoPath?.length > 2) {
      const poly = lassoPath;
      lassoPath = null;
      const picked = [];
      for (let j = 0; j < rows.length; j++) {
        const [px, py] = toScreen(pos[2 * j], pos[2 * j + 1]);
        if (inside(px, py, poly)) picked.push(rows[j]);
      }
      lassoBtn.setAttribute("aria-pressed", "false");
      if (!picked.length) app.notify("The lasso holds no records: draw it around the dots you mean (hold Shift and drag, or press Lasso first).");
      return select(picked);
    }
    lassoPath = null;
    if (!d.moved) {
      const r = nearest(x, y);
      select(r == null ? [] : [r]);
    } else draw();
  });
  canvas.addEventListener("pointerleave", () => (tip.hidden = true));
  canvas.addEventListener(
    "wheel",
    (e) => {
      e.preventDefault();
      const [x, y] = local(e);
      const { w, h: hgt } = size();
      const f = Math.exp(-e.deltaY * 0.0015);
      const k = Math.min(200, Math.max(0.5, view.k * f));
      const g = k / view.k;
      // keep the point under the cursor where it is
      view.x = (view.x + w / 2 - x) * g + x - w / 2;
      view.y = (view.y + hgt / 2 - y) * g + y - hgt / 2;
      view.k = k;
      draw();
    },
    { passive: false },
  );
  rawBtn.addEventListener("click", () => setSpace("raw"));
  tunedBtn.addEventListener("click", () => setSpace("tuned"));
  lassoBtn.addEventListener("click", () => lassoBtn.setAttribute("aria-pressed", String(lassoBtn.getAttribute("aria-pressed") !== "true")));
  threshold.addEventListener("input", () => {
    thresholdOut.textContent = Number(threshold.value).toFixed(2);
    renderLegend();
    draw();
  });
  save.addEventListener("click", () => downloadCoords().catch((e) => app.error(e, "Could not save the map")));
  canvas.addEventListener("keydown", (e) => {
    const d = Number(e.key);
    if (selected.length && d >= 1 && d <= 9 && d <= p.labelNames.length) labelSelected(d - 1);
    else if (e.key === "n" && selected.length) bar.openNew();
    else if (e.key === "Escape") select([]);
  });

  async function downloadCoords() {
    if (!coords) return app.notify("Open the map first.", "error");
    if (pending) await pending.catch(() => {}); // (its failure is reported by predict)
    const lines = ["record,raw_x,raw_y,tuned_x,tuned_y,label,predicted_label,confidence"];
    rows.forEach((r, j) => {
      const name = p.labelName(r);
      const pl = predictions?.label[r] >= 0 ? p.labelNames[predictions.label[r]] : "";
      const q = (s) => (/[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
      lines.push(
        [r, coords.raw[2 * j], coords.raw[2 * j + 1], coords.tuned?.[2 * j] ?? "", coords.tuned?.[2 * j + 1] ?? "", q(name ?? ""), q(pl), predictions ? predictions.confidence[r].toFixed(4) : ""].join(","),
      );
    });
    const name = `${baseName(p.file?.name ?? "simtune")}.map.csv`;
    download(new Blob([lines.join("\n") + "\n"], { type: "text/csv" }), name);
    app.notify(`Saved ${name}: the map's coordinates (raw and tuned), labels and predictions of ${rows.length} records.`);
  }

  p.addEventListener("labels", () => {
    if (root.hidden) return (stale = true);
    predict();
    renderLegend();
    draw();
  });
  for (const t of ["head", "embeddings", "dataset"]) p.addEventListener(t, () => ((stale = true), (coords = null), (pos = null), select([])));
  addEventListener("resize", () => !root.hidden && draw());

  return {
    show() {
      if (stale || !coords) compute().then(renderLegend);
      else {
        predict();
        renderLegend();
        draw();
      }
    },
  };
}
