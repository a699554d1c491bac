// Check: the honest "how much better" (src/measure/check/). A few records drawn at random among the
// unlabelled ones are set aside; the person labels them and, after training, judges the
// neighbours that tuning moved into or out of each one's top k ("also this label?"). The head
// never trains on them. The figure is the mean change in precision@k over those records,
// with a 95% interval, overall and per label; it estimates the change for every record the
// person has not labelled. Keys: 1–9 label a check record, n new label, y / n answer,
// x drops a check record, u undoes the last answer.
import { h, clear } from "../dom.js";
import { createLabelBar } from "./labelbar.js";

const points = (x) => `${x >= 0 ? "+" : "−"}${Math.abs(100 * x).toFixed(1)}`;

/** "+2.3 points (95% interval −0.4 to +5.0; 38 check records)" */
export function describeGain(g) {
  return `${points(g.gain)} points (95% interval ${points(g.low)} to ${points(g.high)}; ${g.checks} check record${g.checks === 1 ? "" : "s"})`;
}

/** What the figure is measured against (app.checkBaseline()): raw search with the model in
 * use, or with the encoder it was tuned from here. */
function against({ name = null, tunedHere = false } = {}) {
  if (name) return `raw search with ${name}, the encoder before its top layers were tuned on your labels (so the figure holds that tuning's gain too)`;
  if (tunedHere) return "raw search with this encoder, which was itself tuned on your labels (that tuning's gain is not in this figure: the records' embeddings before it are no longer in this browser)";
  return "raw search";
}

/** Whether the file came labelled (a label column imported): nine records in ten or more
 * carry a label and fewer than a check's `n` are left without one. Check records are then
 * drawn among every record; those that carry a label answer with it, and training leaves
 * them out. (A small dataset a person labelled throughout counts alike, as it did before:
 * its labels answer the check.) */
export function cameLabelled(p, n = p.settings?.checkCount ?? 40) {
  let unlabelled = 0;
  for (const l of p.labels) if (l < 0) unlabelled++;
  return p.labels.length > 0 && unlabelled < n && unlabelled <= 0.1 * p.labels.length;
}

/** "Every record carries" or "Nearly every record carries" (a label), as `cameLabelled` says. */
const carries = (p) => (p.labels.every((l) => l >= 0) ? "Every record carries" : "Nearly every record carries");

/** Check records still waiting for a label or an answer. */
export const pendingChecks = (est) => est.pending_checks + est.unlabelled_checks;

/** The figure in words (Train and Compare alike): the change and its interval, once every
 * check record is answered. No figure before: the records answered first are those tuning
 * moved least, so a partial mean would lean towards "no change". */
export function describeEstimate(est, baseline = {}) {
  const pending = pendingChecks(est);
  if (pending || !est.overall) {
    return `The figure appears once every check record is labelled and its questions answered (step 4): ${pending} to go.`;
  }
  const o = est.overall;
  const sharpened = est.predicted?.weight > 0;
  const more = est.checks_for_3_points > o.checks;
  // no number of check records gets there: the records left unlabelled are too few for
  // their mean to be known to ±3 points (src/measure/check/estimator.rs checks_for_3_points)
  const never = est.checks_for_3_points == null && o.checks >= 2;
  return (
    `Tuned search changes the share of same-label records in the top ${est.k} of records you have not labelled by ${describeGain(o)}, compared with ${against(baseline)}.` +
    (sharpened
      ? ` It combines the check records with the labels your training labels predict for ${est.predicted.records.toLocaleString("en")} other unlabelled records (the checks correct the predictions' errors).`
      : "") +
    (o.low <= 0 && o.high >= 0 ? " The interval includes no change." : "") +
    (more ? ` About ${est.checks_for_3_points.toLocaleString("en")} check records would narrow it to ±3 points (step 4 adds check records and keeps your answers).` : "") +
    (never ? " No number of check records would narrow it to ±3 points: the figure is about the records neither labelled nor checked, and too few are left for their share to be known that closely." : "")
  );
}

export function createCheckView(root, app) {
  const p = app.project;
  let undoStack = []; // [record, label] of answers, newest last
  let estimate = null;

  const count = h("input", { type: "number", id: "check-count", min: 5, max: 500, value: p.settings.checkCount });
  const drawBtn = h("button", { type: "button", id: "check-draw" }, "Set aside check records");
  const addBtn = h("button", { type: "button", id: "check-add" }, "Add check records");
  const status = h("p", { id: "check-status", "aria-live": "polite" });
  const task = h("div", { id: "check-task", class: "check-task" });
  const figure = h("p", { id: "check-figure", class: "metrics", "aria-live": "polite" });
  const perClass = h("table", { id: "check-classes", class: "per-class" });
  const warnings = h("ul", { id: "check-warnings", class: "warnings" });
  const redraw = h("button", { type: "button", id: "check-redraw", class: "small" }, "Draw a new check set");
  const bar = createLabelBar(app, { idPrefix: "check", onPick: (id) => labelCheck(id) });
  const drawRow = h("div", { class: "row", id: "check-draw-row" }, h("label", { for: "check-count" }, "check records"), count, drawBtn, addBtn);

  root.append(
    h("h2", {}, "How much better, on the records you have not labelled?"),
    h(
      "p",
      { class: "hint" },
      "Labels made in similarity sessions come in clusters, so a figure computed among them overstates the gain. " +
        "Instead, set aside a few records drawn at random: you label them, the head never trains on them, and after training you say, " +
        "for a few of the neighbours tuning moved in or out of each one's top 10 (at most four per record), whether they carry the same label. " +
        "The figure is the change in the share of same-label records among the top 10, with its 95% interval: the more check records, the narrower it gets. " +
        "40 check records take about 5–10 minutes; add more at any time (your answers are kept) to narrow the figure.",
    ),
    drawRow,
    status,
    task,
    figure,
    perClass,
    warnings,
    redraw,
  );

  /** The check record waiting for a label, if any. */
  const unlabelledCheck = () => p.check.records.find((r) => p.knownLabel(r) < 0);

  function labelCheck(id) {
    const r = unlabelledCheck();
    if (r == null || id < 0 || id >= p.labelNames.length) return;
    p.judge(r, id, true);
    undoStack.push([r, id]);
  }
  function answer(same) {
    const q = estimate?.questions?.[0];
    if (!q) return;
    const id = p.knownLabel(q.check);
    if (id < 0) return;
    p.judge(q.record, id, same);
    undoStack.push([q.record, id]);
  }
  function undo() {
    const last = undoStack.pop();
    if (last) p.undoJudge(...last);
  }
  function drop() {
    const r = unlabelledCheck();
    if (r == null) return;
    p.setCheck(p.check.records.filter((x) => x !== r));
  }
  /** `count` records drawn at random among those neither labelled nor (when `add`) checked. */
  function drawRecords(add) {
    const n = Math.max(5, Math.min(500, Math.round(Number(count.value) || 40)));
    if (!add) p.settings.checkCount = n;
    // reproducible: the dataset's key and how many sets were drawn before pick the seed
    p.settings.checkDraws = (p.settings.checkDraws ?? 0) + 1;
    const seed = (parseInt(String(p.datasetKey ?? "").slice(0, 7), 16) || 0) + p.settings.checkDraws;
    const labels = p.trainingLabels();
    if (add) for (const r of p.check.records) labels[r] = 0; // not eligible
    let records = app.engine.drawChecks(labels, n, seed);
    if (records.length < n && cameLabelled(p, n) && !p.check.records.some((r) => p.check.labels.has(r))) {
      // (nearly) every record carries a label (a label column imported): the check records
      // are drawn among all; their own labels answer for them, and training leaves them out
      // from now on
      const any = new Int32Array(p.n).fill(-1);
      for (const r of p.check.records) any[r] = 0;
      records = app.engine.drawChecks(any, n, seed);
      if (p.head && records.some((r) => p.labels[r] >= 0)) {
        // the head in use trained on them: no figure may come from it
        p.head = null;
        p.headRun = null;
        p.emit("head");
        app.notify(`${carries(p)} a label, so the ${records.length} check records were drawn among them. The head in use had trained on them: train again (it leaves them out now) to measure it.`);
      }
    }
    if (!records.length) {
      app.notify(`Every record is labelled${add ? " or a check record" : ""}: there is nothing left to check on.`, "error");
      return null;
    }
    return Array.from(records);
  }
  function draw() {
    const records = drawRecords(false);
    if (!records) return;
    undoStack = [];
    suggestedAdd = null;
    lastFigure = null;
    p.setCheck(records);
    p.emit("settings");
  }
  /** More check records, answers kept: the figure narrows as the sample grows. */
  function add() {
    const records = drawRecords(true);
    if (!records) return;
    p.addChecks(records);
    p.emit("settings");
  }
  let suggestedAdd = null; // the count last proposed in the field (kept if the person edits it)
  let lastFigure = null; // the last complete figure: {head, checks, text}

  function render() {
    const checks = p.check.records;
    drawBtn.hidden = checks.length > 0;
    addBtn.hidden = checks.length === 0;
    redraw.hidden = checks.length === 0;
    clear(task);
    clear(perClass);
    clear(warnings);
    figure.textContent = "";
    for (const k of ["gain", "low", "high", "checks", "weight"]) delete figure.dataset[k];
    if (!p.n || !p.embedded) {
      status.textContent = p.n ? "Waiting for the embeddings." : "";
      return;
    }
    if (!checks.length) {
      status.textContent = cameLabelled(p)
        ? `No check records yet. ${carries(p)} a label, so they will be drawn among your labelled records: their labels answer the check, and training leaves them out.`
        : "No check records yet.";
      return;
    }
    const labelledChecks = checks.filter((r) => p.knownLabel(r) >= 0).length;
    // drawn among labelled records (every record carried a label): held out of training
    const heldOut = checks.filter((r) => p.labels[r] >= 0).length;
    estimate = null;
    try {
      estimate = app.checkEstimate();
    } catch (e) {
      app.error(e, "The check figure could not be computed");
    }
    const questions = estimate?.questions ?? [];
    status.textContent =
      `${checks.length} check records set aside, ${labelledChecks} labelled` +
      (heldOut ? ` (${heldOut === checks.length ? "all" : heldOut} with the labels they carried: training leaves them out)` : "") +
      (p.head ? ` · ${questions.length} question${questions.length === 1 ? "" : "s"} left` : heldOut ? " · train a head to measure it" : " · train a head to get the questions");
    status.dataset.questions = String(questions.length);
    status.dataset.unlabelled = String(checks.length - labelledChecks);

    const r = unlabelledCheck();
    if (r != null) {
      task.dataset.kind = "label";
      task.dataset.record = String(r);
      task.append(
        h("p", {}, h("strong", {}, `Check record #${r} `), `(${labelledChecks + 1} of ${checks.length}) — label it as you would any record:`),
        h("p", { class: "check-text" }, h("span", { class: "text" }, p.texts[r])),
        bar.el,
        h("p", { class: "keys" }, h("kbd", {}, "1–9"), " label · ", h("kbd", {}, "n"), " new label · ", h("kbd", {}, "x"), " drop this record from the check (when no label fits) · ", h("kbd", {}, "u"), " undo"),
      );
    } else if (questions.length) {
      const q = questions[0];
      const name = p.labelNames[p.knownLabel(q.check)];
      task.dataset.kind = "question";
      task.dataset.record = String(q.record);
      task.dataset.check = String(q.check);
      task.append(
        h("p", {}, h("strong", {}, `Check record #${q.check} `), h("span", { class: "label" }, name)),
        h("p", { class: "check-text" }, h("span", { class: "text" }, p.texts[q.check])),
        h("p", {}, h("strong", {}, `Is record #${q.record} also “${name}”?`)),
        h("p", { class: "check-text" }, h("span", { class: "text" }, p.texts[q.record])),
        h(
          "div",
          { class: "row" },
          h("button", { type: "button", id: "check-yes", class: "primary", onclick: () => answer(true) }, h("kbd", {}, "y"), ` yes, “${name}”`),
          h("button", { type: "button", id: "check-no", onclick: () => answer(false) }, h("kbd", {}, "n"), " no"),
          h("button", { type: "button", class: "small", onclick: () => undo() }, h("kbd", {}, "u"), " undo"),
        ),
      );
    } else if (app.preparingHead()) {
      task.dataset.kind = "preparing";
      task.append(h("p", { class: "hint" }, `Preparing tuned search over ${p.n.toLocaleString("en")} records: the questions and the figure follow in a moment.`));
    } else {
      task.dataset.kind = "done";
      task.append(h("p", { class: "hint" }, p.head ? "Every check is answered." : "Every check record is labelled; train a head (above) to see the figure."));
    }

    if (!estimate) return;
    figure.textContent = describeEstimate(estimate, app.checkBaseline());
    const o = estimate.overall;
    if (!o || pendingChecks(estimate)) {
      // check records added: the figure on the set answered before still stands meanwhile
      // (it was a random sample of its own; a mean over part of the new ones would not be)
      if (lastFigure?.head === p.head && lastFigure.checks < checks.length)
        figure.append(h("span", { class: "hint", id: "check-last" }, ` Until then, the figure on the first ${lastFigure.checks} check records stands: ${lastFigure.text}.`));
      return;
    }
    lastFigure = { head: p.head, checks: o.checks, text: describeGain(o) };
    const k = estimate.k;
    Object.assign(figure.dataset, { gain: o.gain, low: o.low, high: o.high, checks: o.checks, weight: estimate.predicted?.weight ?? 0 });
    // propose as many more as would narrow the figure to ±3 points (at most 500 at a time)
    const wanted = Math.min(500, (estimate.checks_for_3_points ?? 0) - checks.length);
    const untouched = suggestedAdd === null || Number(count.value) === suggestedAdd;
    if (wanted >= 1 && untouched) count.value = String((suggestedAdd = Math.max(5, wanted)));
    else if (wanted < 1 && suggestedAdd !== null && untouched) {
      // narrow enough: the field no longer proposes more
      count.value = String(p.settings.checkCount ?? 40);
      suggestedAdd = null;
    }

    const { perLabel } = p.counts();
    perClass.append(
      h("caption", {}, `Per label (check records of that label; the head was trained on the training labels counted here). The intervals hold for all labels together, 95% of the time: each is wider than a single label's would be.`),
      h("tr", {}, h("th", {}, "label"), h("th", {}, "training labels"), h("th", {}, "check records"), h("th", {}, `change in precision@${k}`)),
      ...estimate.per_class.map((c) =>
        h(
          "tr",
          { dataset: { label: p.labelNames[c.class] ?? "", gain: String(c.gain), low: String(c.low), high: String(c.high), checks: String(c.checks) } },
          h("td", {}, p.labelNames[c.class] ?? `#${c.class}`),
          h("td", {}, String(perLabel[c.class] ?? 0)),
          h("td", {}, String(c.checks)),
          h("td", {}, c.checks >= 3 ? `${points(c.gain)} (${points(c.low)} to ${points(c.high)})` : `${points(c.gain)} (too few check records for an interval)`),
        ),
      ),
    );
    for (const c of estimate.per_class) {
      const name = p.labelNames[c.class];
      if (c.checks > 1 && c.high < 0) warnings.append(h("li", {}, `“${name}” got worse with the head: label more records of it (a similarity session on one of its records is quickest).`));
      else if ((perLabel[c.class] ?? 0) < 3) warnings.append(h("li", {}, `“${name}” has ${perLabel[c.class] ?? 0} training label${perLabel[c.class] === 1 ? "" : "s"}: the head learns little about it.`));
    }
  }

  drawBtn.addEventListener("click", draw);
  addBtn.addEventListener("click", add);
  redraw.addEventListener("click", () => {
    if (confirm("Draw a new set of check records? The current check records and answers are discarded.")) draw();
  });
  for (const t of ["check", "labels", "head", "embeddings", "dataset"]) p.addEventListener(t, () => !root.closest("[hidden]") && render());
  p.addEventListener("dataset", () => {
    undoStack = [];
    suggestedAdd = null;
    lastFigure = null;
  });

  return {
    render,
    /** Keys while the Train view shows; true when handled. */
    onKey(e) {
      if (!p.check.records.length) return false;
      const k = e.key;
      const kind = task.dataset.kind;
      if (kind === "label" && k >= "1" && k <= "9") labelCheck(Number(k) - 1);
      else if (kind === "label" && k === "n") bar.openNew();
      else if (kind === "label" && k === "x") drop();
      else if (kind === "question" && k === "y") answer(true);
      else if (kind === "question" && k === "n") answer(false);
      else if (k === "u") undo();
      else return false;
      return true;
    },
  };
}
