// Label: the record list (paged, so 10k records stay fast; a seeded random order by default,
// so labels made from the top of the list are a fair sample of the data) with a text/label
// filter and keyboard-first labeling: 1-9 pick the n-th label, j/k or arrows move, s skip, u undo,
// n new label, Enter opens the similar records, c compares. The filter "predicted: X" lists the
// unlabelled records whose predicted label (www/predict.js) is X with a confidence at or above
// a threshold, best first, and can accept them all as X at once, or reject them all (they
// are not X: they leave that list, kept with the project).
import { h, clear, append } from "../dom.js";
import { createLabelBar } from "./labelbar.js";
import { predictionTrack } from "../predict.js";

const PAGE = 50;
/** Records suggested at a time (src/label/suggest.rs). */
const SUGGEST = 10;

/** Why a record is suggested, in words. */
function reasonText(r, names) {
  if (r.kind !== "uncovered") return "a typical record to start with";
  const near = r.near ?? [];
  if (!near.length) return "far from every labelled record: a region no label covers";
  // what the labels so far would guess, and how sure: the nearest labelled records
  const [first] = near;
  const classes = [...new Set(near.map(([c]) => `“${names[c] ?? "?"}”`))];
  const guess = classes.length === 1 ? `nearest label ${classes[0]}` : `nearest labels disagree: ${classes.join(", ")}`;
  return `a region no label covers — ${guess} (similarity ${first[1].toFixed(2)})`;
}

/** A seeded shuffle of 0..n (the same for a dataset on every visit): rank of each record. */
function randomRanks(n, key) {
  let s = parseInt(String(key ?? "").slice(0, 8), 16) || 1;
  const rand = () => {
    // mulberry32
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const perm = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [perm[i], perm[j]] = [perm[j], perm[i]];
  }
  const rank = new Int32Array(n);
  perm.forEach((rec, pos) => (rank[rec] = pos));
  return rank;
}

export function createLabelView(root, app) {
  const p = app.project;
  let order = []; // filtered record indices
  let cur = 0; // position in order

  const search = h("input", { type: "search", id: "search", placeholder: "text contains…", autocomplete: "off" });
  const filter = h("select", { id: "filter" });
  const sortSel = h(
    "select",
    { id: "list-order", title: "Random order spreads your labels over the whole dataset" },
    h("option", { value: "random" }, "random order"),
    h("option", { value: "file" }, "file order"),
    h("option", { value: "suggested" }, "suggested next"),
  );
  const again = h("button", { type: "button", id: "suggest-again", class: "small", hidden: true }, `Suggest ${SUGGEST} more`);
  let reasons = null; // record -> why it is suggested, in "suggested" order
  let rank = null; // rank[i]: record i's place in the seeded random order
  const summary = h("span", { class: "summary", id: "label-summary", "aria-live": "polite" });
  const threshold = h("input", { type: "number", id: "predict-threshold", min: 0, max: 1, step: 0.05, value: 0.7, title: "confidence: the predicted label's share of the vote of the 10 nearest labelled records" });
  const accept = h("button", { type: "button", id: "accept-predicted", class: "small" }, "Accept all shown");
  const reject = h("button", { type: "button", id: "reject-predicted", class: "small", title: "they are not of this label: they leave this list (u undoes)" }, "Reject all shown");
  const predictRow = h(
    "div",
    { class: "toolbar predict-row", hidden: true },
    h("label", { for: "predict-threshold" }, "confidence ≥"),
    threshold,
    accept,
    reject,
    h("span", { class: "hint", id: "predict-note" }),
  );
  let predictions = null; // while a "predicted" filter is on
  let waiting = null; // {what: "Predictions" | "Suggestions", promise} under way (see awaitReady)
  const list = h("ol", { class: "records", id: "records", tabindex: 0, "aria-label": "Records" });
  const pager = h("div", { class: "pager" });
  const bar = createLabelBar(app, { idPrefix: "label", onPick: (id) => labelCurrent(id), onCancel: () => list.focus() });

  root.append(
    h(
      "div",
      { class: "toolbar" },
      h("label", { for: "search" }, "Filter"),
      search,
      h("label", { for: "filter", class: "visually-hidden" }, "Show"),
      filter,
      h("label", { for: "list-order", class: "visually-hidden" }, "Order"),
      sortSel,
      again,
      summary,
    ),
    predictRow,
    bar.el,
    h("p", { class: "keys" }, "Keys: ", h("kbd", {}, "1–9"), " label · ", h("kbd", {}, "j"), "/", h("kbd", {}, "k"), " or arrows move · ", h("kbd", {}, "s"), " skip · ", h("kbd", {}, "u"), " undo · ", h("kbd", {}, "n"), " new label · ", h("kbd", {}, "Enter"), " similar records · ", h("kbd", {}, "c"), " compare"),
    list,
    pager,
  );

  function renderFilter() {
    const keep = filter.value;
    // (dom.js append: it flattens the lists; the DOM's own would print them as text)
    append(clear(filter), [
      h("option", { value: "all" }, "all records"),
      h("option", { value: "unlabelled" }, "unlabelled"),
      h("option", { value: "labelled" }, "labelled"),
      p.labelNames.map((n, i) => h("option", { value: `l${i}` }, `label: ${n}`)),
      p.labelNames.map((n, i) => h("option", { value: `p${i}` }, `predicted: ${n}`)),
    ]);
    filter.value = [...filter.options].some((o) => o.value === keep) ? keep : "all";
  }
  /** Predictions and suggestions come in slices between frames (www/predict.js, app.suggest):
   * the list says so meanwhile (renderSummary) and fills in when `promise` is in, unless a
   * later refilter waits for something else by then. */
  function awaitReady(what, promise) {
    const mine = { what, promise };
    waiting = mine;
    const done = () => waiting === mine && ((waiting = null), true);
    promise.then(
      (v) => done() && (v ? refilter() : render()),
      (e) => done() && (render(), app.error(e, `${what} failed`)),
    );
  }
  /** Where the predictions come from, and how often those of label `id` at confidence ≥ `t`
   * are right where the label is known (www/predict.js predictionTrack): a share of the vote
   * is no probability, and with few labels one label can take most of the votes. */
  function predictNote(id, t) {
    const tuned = Boolean(app.tunedIndex());
    const from = `From the ${tuned ? "tuned" : "raw"} space; the confidence is a vote share, not a probability.`;
    if (!predictions) return from;
    const name = `“${p.labelNames[id]}”`;
    const track = predictionTrack(predictions, id, t, {
      training: p.trainingLabels(),
      checks: p.check.records,
      known: (r) => p.knownLabel(r),
    });
    if (track.from === "check")
      return `${from} Of your check records, ${track.predicted} get ${name} at this confidence and ${track.right} of them are ${name}.`;
    // a head learnt its labels: in its space they are predicted right whatever the truth (on
    // 1,200 feelings with 24 labels, 10 of 10 "joy" against about half of the records shown)
    if (tuned) return `${from} How often ${name} is right here, your labelled records cannot show (the head learnt from them): check records (step 4) can.`;
    if (track.from === "labels")
      return `${from} Of your ${track.labelled} labelled records, each predicted from the others, ${track.predicted} get ${name} at this confidence and ${track.right} of them are ${name}.`;
    return `${from} None of your labelled or check records gets ${name} at this confidence: nothing shows yet how often it is right.`;
  }
  /** Sorts `records` in place into the dataset's seeded random order; returns them. */
  function inRandomOrder(records) {
    rank ??= randomRanks(p.n, p.datasetKey);
    return records.sort((a, b) => rank[a] - rank[b]);
  }
  function refilter() {
    const q = search.value.trim().toLowerCase();
    const f = filter.value;
    const keepIdx = order[cur];
    order = [];
    const predicted = f.startsWith("p") ? Number(f.slice(1)) : -1;
    predictRow.hidden = predicted < 0;
    predictions = null;
    waiting = null; // (awaited again below while still wanted)
    if (predicted >= 0) {
      const index = app.tunedIndex() ?? app.rawIndex();
      if (!index) {
        app.notify("Predictions need the embeddings: wait for them.", "error");
      } else {
        predictions = app.readyPredictions(index);
        if (!predictions) awaitReady("Predictions", app.predictions(index));
      }
    }
    const t = Number(threshold.value) || 0;
    if (predicted >= 0) predictRow.querySelector("#predict-note").textContent = predictNote(predicted, t);
    for (let i = 0; i < p.n; i++) {
      const l = p.labels[i];
      if (predicted >= 0 && (l >= 0 || p.isCheck(i) || !predictions || predictions.label[i] !== predicted || predictions.confidence[i] < t || p.isRejected(i, predicted))) continue;
      if (f === "unlabelled" && l >= 0) continue;
      if (f === "labelled" && l < 0) continue;
      if (f.startsWith("l") && f !== "labelled" && l !== Number(f.slice(1))) continue;
      if (q && !p.texts[i].toLowerCase().includes(q)) continue;
      order.push(i);
    }
    reasons = null;
    again.hidden = sortSel.value !== "suggested";
    if (sortSel.value === "suggested" && predicted < 0) {
      const index = app.rawIndex();
      if (!index) app.notify("Suggestions need the embeddings: wait for them.", "error");
      else {
        const picks = app.readySuggestions(index, SUGGEST);
        if (!picks) awaitReady("Suggestions", app.suggest(index, SUGGEST));
        reasons = new Map((picks ?? []).map((s) => [s.record, reasonText(s.reason, p.labelNames)]));
        const shown = new Set(order);
        const suggested = (picks ?? []).map((s) => s.record).filter((i) => shown.has(i));
        if (q || (f !== "all" && f !== "unlabelled")) {
          // a search or a label filter reads every record: the suggestions it keeps first, then
          // its other matches in the random order (not "no record matches" for a word that
          // only the suggestions lack)
          const first = new Set(suggested);
          order = [...suggested, ...inRandomOrder(order.filter((i) => !first.has(i)))];
        } else order = suggested;
      }
    } else if (predictions) order.sort((a, b) => predictions.confidence[b] - predictions.confidence[a]);
    else if (sortSel.value === "random") inRandomOrder(order);
    const at = order.indexOf(keepIdx);
    cur = at >= 0 ? at : 0;
    render();
  }
  function renderSummary() {
    const { labelled, classes } = p.counts();
    summary.textContent =
      waiting?.what === "Predictions"
        ? `Predicting the labels of ${p.n} records…`
        : waiting?.what === "Suggestions"
          ? `Finding ${SUGGEST} records to suggest among ${p.n}…`
          : `${order.length} shown of ${p.n} records · ${labelled} labelled in ${classes} classes`;
    accept.textContent = `Accept all ${order.length} shown`;
    accept.disabled = !order.length;
    reject.textContent = `Reject all ${order.length} shown`;
    reject.disabled = !order.length;
  }
  function render() {
    renderSummary();
    clear(list);
    clear(pager);
    if (!p.n) {
      list.append(h("li", { class: "empty" }, "No dataset yet: open one in step 1."));
      return;
    }
    if (!order.length) {
      list.append(h("li", { class: "empty" }, "No record matches the filter."));
      return;
    }
    const page = Math.floor(cur / PAGE);
    const pages = Math.ceil(order.length / PAGE);
    for (let pos = page * PAGE; pos < Math.min(order.length, (page + 1) * PAGE); pos++) {
      const i = order[pos];
      const name = p.labelName(i);
      const li = h(
        "li",
        { class: `record${pos === cur ? " current" : ""}`, dataset: { index: String(i) }, "aria-current": pos === cur ? "true" : null },
        h("span", { class: "idx" }, `#${i}`),
        h("span", { class: "text" }, p.texts[i]),
        h("span", { class: `label${name ? "" : " none"}` }, name ?? (predictions ? `${p.labelNames[predictions.label[i]]}? ${predictions.confidence[i].toFixed(2)}` : "—")),
        p.isCheck(i) ? h("span", { class: "badge", title: "A check record: the head never trains on it (step 4)" }, "check") : null,
        reasons?.has(i) ? h("span", { class: "why", title: "why it is suggested" }, reasons.get(i)) : null,
        h("button", { type: "button", class: "small", onclick: (e) => (e.stopPropagation(), app.openSession(i)) }, "Similar"),
        h("button", { type: "button", class: "small", onclick: (e) => (e.stopPropagation(), app.openCompare(i)) }, "Compare"),
      );
      li.addEventListener("click", () => {
        cur = pos;
        render();
      });
      list.append(li);
    }
    pager.append(
      h("button", { type: "button", disabled: page === 0, onclick: () => move(-PAGE) }, "← Previous page"),
      h("span", {}, `page ${page + 1} of ${pages}`),
      h("button", { type: "button", disabled: page >= pages - 1, onclick: () => move(PAGE) }, "Next page →"),
    );
    list.querySelector(".current")?.scrollIntoView({ block: "nearest" });
  }
  function move(d) {
    if (!order.length) return;
    cur = Math.max(0, Math.min(order.length - 1, cur + d));
    render();
  }
  function labelCurrent(id) {
    if (!order.length || id < 0 || id >= p.labelNames.length) return;
    const last = cur === order.length - 1;
    p.setLabels([order[cur]], id);
    if (!last) cur++;
    // the last of the suggestions labelled: the next ones come in its place (keys pressed on
    // would otherwise relabel that record again and again)
    if (last && !again.hidden) refilter();
    else render();
    list.focus({ preventScroll: true });
  }

  search.addEventListener("input", () => {
    clearTimeout(search.t);
    search.t = setTimeout(refilter, 120);
  });
  filter.addEventListener("change", refilter);
  threshold.addEventListener("change", refilter);
  accept.addEventListener("click", () => {
    const id = filter.value.startsWith("p") ? Number(filter.value.slice(1)) : -1;
    if (id < 0 || !order.length) return;
    const n = order.length;
    if (!confirm(`Label all ${n} shown records “${p.labelNames[id]}” (their predicted label, confidence ≥ ${threshold.value})? Undo (u) takes it back.`)) return;
    p.setLabels([...order], id);
    app.notify(`${n} predicted records labelled “${p.labelNames[id]}”.`);
    refilter();
  });
  reject.addEventListener("click", () => {
    const id = filter.value.startsWith("p") ? Number(filter.value.slice(1)) : -1;
    if (id < 0 || !order.length) return;
    const n = order.length;
    p.reject([...order], id);
    app.notify(`${n} records marked as not “${p.labelNames[id]}”: they leave its predicted list (u undoes).`);
    refilter();
  });
  again.addEventListener("click", refilter);
  sortSel.addEventListener("change", () => {
    p.settings.listOrder = sortSel.value;
    p.emit("settings");
    refilter();
  });
  p.addEventListener("dataset", () => {
    rank = null;
    search.value = "";
    renderFilter();
    filter.value = "all";
    cur = 0;
    order = [];
    refilter();
  });
  p.addEventListener("labels", () => {
    const before = filter.options.length;
    if (before !== 2 * p.labelNames.length + 3) renderFilter();
    render(); // the list stays as filtered (labelled rows stay in view) until the filter changes
  });

  return {
    show() {
      sortSel.value = ["file", "suggested"].includes(p.settings.listOrder) ? p.settings.listOrder : "random";
      renderFilter();
      refilter();
      list.focus({ preventScroll: true });
    },
    onKey(e) {
      const k = e.key;
      if (k >= "1" && k <= "9") labelCurrent(Number(k) - 1);
      else if (k === "j" || k === "ArrowDown") move(1);
      else if (k === "k" || k === "ArrowUp") move(-1);
      else if (k === "s") move(1);
      else if (k === "PageDown") move(PAGE);
      else if (k === "PageUp") move(-PAGE);
      else if (k === "u") {
        const last = p.undo();
        if (last?.rejected) refilter();
        else if (last) {
          const at = order.indexOf(last.indices[0]);
          if (at >= 0) cur = at;
          render();
        }
      } else if (k === "n") bar.openNew();
      else if (k === "Enter" && order.length) app.openSession(order[cur]);
      else if (k === "c" && order.length) app.openCompare(order[cur]);
      else if (k === "/") search.focus();
      else return;
      e.preventDefault();
    },
  };
}
