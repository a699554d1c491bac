// Train: a head over the frozen embeddings, in its own worker, with a live loss curve.
// Cancel terminates that worker and starts a fresh one; nothing else is lost. Below it, the
// check (views/check.js): how much better search got on records the person has not labelled.
import { h } from "../dom.js";
import { FIRST_LABELS } from "./next.js";
import { createCheckView } from "./check.js";
import { createDownloadsView } from "./downloads.js";
import { createLogView } from "./log.js";
import { createModelsView } from "./models.js";
import { drawLoss } from "../plot.js";
import { Cancelled } from "../pool.js";
import { fitTrainConfig, withConfidentPredictions } from "../../pkg/simtune.js";
import { PREDICT_K } from "../predict.js";

const LOSSES = ["triplet", "triplet-all", "triplet-semihard", "softmax", "contrastive"];

/** The engine's loss names (serde) for the picker's values; the picker shows ours. */
function lossValue(cfg) {
  const l = cfg?.loss;
  return typeof l === "string" ? l : "triplet";
}

/** Which trained labels' names stayed out of training (label_names.rs: a name joins only
 * where it lies nearer its own label's records than any other label's), at most 4 named. */
function namesLeftOut(present, joinedLabels, labelNames) {
  const joined = new Set(joinedLabels);
  const out = present.filter((l) => !joined.has(l)).map((l) => `“${labelNames[l]}”`);
  if (!out.length) return "";
  const shown = out.length <= 4 ? out : [...out.slice(0, 3), `${out.length - 3} more`];
  const list = shown.length === 1 ? shown[0] : `${shown.slice(0, -1).join(", ")} and ${shown.at(-1)}`;
  return ` (${list} stay${out.length === 1 ? "s" : ""} out: ${out.length === 1 ? "it lies" : "each lies"} nearer another label's records than its own)`;
}

/** The pull's targets smoothed over each record's 5 nearest records, in words: how far and
 * why (src/tune/prototype_pull.rs, smoothing_support); "" where it was not asked. */
function smoothingSentence(pull) {
  if (!pull || pull.strength <= 0 || typeof pull.smoothing !== "number") return "";
  const g = pull.support;
  const size = typeof g === "number" ? Math.abs(100 * g).toFixed(1) : "";
  const points = `${size} points of average precision`;
  if (pull.smoothing <= 0) {
    if (typeof g !== "number") return "";
    const signed = size === "0.0" ? "a change under 0.1 points" : `${g < 0 ? "−" : "+"}${points}`;
    return `Records were not averaged with their neighbours: averaged so, your labelled records rank their own labels no better (${signed}), as neighbours here share topics more than labels.`;
  }
  const weight = `${Math.round(100 * pull.smoothing)}%`;
  const why = typeof g === "number" ? `averaged so, your labelled records rank their own labels ${points} better` : "no label has two records yet to say otherwise";
  const less = pull.smoothing < 0.995 ? "; it weighs less where that gain is under a point, and past 100 labels" : "";
  return `Each record's target in the pull also averages in its 5 nearest records, at ${weight} (${why}${less}).`;
}

/** The prototype pull in words: how hard it pulled and why (src/tune/prototype_pull.rs). */
function pullSentence(pull) {
  const over = `the prototype pull over ${pull.rows.toLocaleString("en")} records`;
  const share = `their average pull toward a label: ${Math.round(100 * pull.share)}%`;
  // a session's records are an anchor's nearest neighbours: near each other by construction,
  // they are held against their label's records from outside the session
  // (prototype_pull::SessionSums), so the pull reaches past the sessions' edges
  const s = pull.sessions;
  const counted = s ? `; it held the ${s.labels} labels of your ${s.sessions} similarity session${s.sessions === 1 ? "" : "s"} against their labels' records from outside each session, as a session's neighbours lie near each other by construction` : "";
  if (pull.strength >= 1) return `Starting from ${over} (${share}${counted}).`;
  if (pull.strength <= 0)
    return `Starting from the raw space: ${over} was left at no strength, as your labels are not regions of the raw space yet (pulling their neighbours toward them would move the wrong records${counted}).`;
  // (not the average pull's share here: "1% strength" beside "pull toward a label: 99%" read
  // as a contradiction to a newcomer; the kappa is what sets the strength)
  const kappa = typeof pull.separability === "number" ? `left out in turn, a labelled record is nearest its own label with a kappa of ${pull.separability.toFixed(2)}` : "";
  const why = kappa || counted ? ` (${[kappa, counted.replace(/^; /, "")].filter(Boolean).join("; ")})` : "";
  return `Starting from ${over} at ${Math.round(100 * pull.strength)}% strength, as your labels are only partly regions of the raw space${why}.`;
}

/** Where one label holds far more records than the others (a similarity session's bulk
 * labels), what the trainer's class balance β makes of it (src/tune/loss/triplet.rs): batch-hard
 * counts a label's n records as n^(1-β), semi-hard its n(n-1) pairs as (n(n-1))^(1-β); "" where
 * the labels are even enough or the loss is not weighted. `perLabel`: records per label id;
 * `names`: label names by id. */
function balanceSentence(perLabel, names, run) {
  const beta = run.class_balance;
  const pairs = run.loss === "triplet-semihard";
  if (!(beta > 0) || !(pairs || run.loss === "triplet")) return "";
  const counts = perLabel.map((n, l) => [n, l]).filter(([n]) => n > 0).sort((a, b) => a[0] - b[0]);
  if (counts.length < 2) return "";
  const median = counts[Math.floor((counts.length - 1) / 2)][0];
  const [most, id] = counts.at(-1);
  if (most < 3 * median) return "";
  const total = counts.reduce((a, [n]) => a + n, 0);
  const how = beta === 0.5 ? "the square root" : `their number to the power ${+(1 - beta).toFixed(3)}`;
  // beyond one batch the weights act within each batch, on the label's records drawn into it
  if (total > run.batch_size) {
    return `“${names[id]}” holds ${most} of ${total} labels: in each batch, training counts its ${pairs ? "pairs of records" : "records"} by ${how}${beta === 0.5 ? " of their number" : ""}, so it outweighs the others less.`;
  }
  const [what, count] = pairs ? [`${most} × ${most - 1} pairs of records`, most * (most - 1)] : [`${most} records`, most];
  return `“${names[id]}” holds ${most} of ${total} labels: training counts its ${what} as ${(count ** (1 - beta)).toFixed(1)}, ${how}, so it outweighs the others less.`;
}

export function createTrainView(root, app) {
  const p = app.project;
  let running = false;
  let trained = null; // the head this view trained last

  const info = h("p", { id: "train-info" });
  const trainBtn = h("button", { type: "button", id: "train", class: "primary" }, "Train head");
  const cancelBtn = h("button", { type: "button", id: "cancel-train", hidden: true }, "Cancel");
  // one line on what happened, then (after a training) a list of how it trained
  const status = h("div", { id: "train-status", "aria-live": "polite" });
  const canvas = h("canvas", { id: "loss-canvas", width: 640, height: 220, "aria-label": "Training loss by step" });
  const loss = h("select", { id: "cfg-loss" }, LOSSES.map((l) => h("option", { value: l }, l)));
  const lr = h("input", { type: "number", id: "cfg-lr", step: "any", min: 0 });
  const steps = h("input", { type: "number", id: "cfg-steps", step: 1, min: 1 });
  const margin = h("input", { type: "number", id: "cfg-margin", step: "any", min: 0 });
  // "use confident predictions in training" (issue 9): off by default — `simtune eval
  // --predicted-labels 0.7` finds it does not win on the shared data (README)
  const usePredicted = h("input", { type: "checkbox", id: "cfg-predicted" });
  const predictedAt = h("input", { type: "number", id: "cfg-predicted-threshold", min: 0.5, max: 1, step: 0.05, value: 0.7, "aria-label": "confidence threshold" });
  const predictedNote = h("span", { class: "hint", id: "cfg-predicted-note" });
  // label names as records of their labels (src/tune/label_names.rs): on by default, `simtune
  // eval` finds it wins at small budgets on both shared datasets (README)
  const useNames = h("input", { type: "checkbox", id: "cfg-names" });
  // the head starts from the prototype pull over every record (src/tune/prototype_pull.rs): on
  // by default, `simtune eval` finds it wins at every budget on both shared datasets (README)
  const usePull = h("input", { type: "checkbox", id: "cfg-pull" });
  // the dataset's mean taken out before the head (src/tune/center.rs): on by default since
  // stop 49, as on 16 datasets at 10-100 labels, with the raw space kept as two labels, it
  // lifts the mean gain by 0.65 points and leaves no more cells below raw (docs/tuning.md)
  const useCenter = h("input", { type: "checkbox", id: "cfg-center" });
  // the pull's targets smoothed over each record's 5 nearest records as far as the labels
  // support it (src/tune/prototype_pull.rs): on by default since stop 52, as on 16 datasets
  // at 10-100 labels it lifts the mean gain by 0.4-0.5 points and no cell falls below the
  // default by more than a seed's deviation (docs/tuning.md, "Stop 51")
  const useSmooth = h("input", { type: "checkbox", id: "cfg-smooth" });
  // the safeguard (src/tune/safeguard.rs): off by default, as on the suite it lost more gain
  // than it saved (docs/tuning.md, "The safeguard")
  const useGuard = h("input", { type: "checkbox", id: "cfg-safeguard" });
  root.append(
    h(
      "section",
      { class: "card" },
      h("h2", {}, "Train a head over the frozen embeddings"),
      info,
      h("div", { class: "row" }, trainBtn, cancelBtn),
      h(
        "div",
        { class: "row" },
        usePredicted,
        h("label", { for: "cfg-predicted" }, "Also train on confident predictions: unlabelled records whose predicted label has confidence ≥ "),
        predictedAt,
        predictedNote,
      ),
      h(
        "div",
        { class: "row option" },
        useNames,
        h("label", { for: "cfg-names" }, "Also train on the label names: each label's name (underscores read as spaces) is one more record of its label, where it lies nearest that label's records"),
      ),
      h(
        "div",
        { class: "row option" },
        usePull,
        h("label", { for: "cfg-pull" }, "Start from the prototype pull: every record that lies as near a label as its own records do is pulled toward it, so a label moves its neighbourhood too"),
      ),
      h(
        "div",
        { class: "row option" },
        useSmooth,
        h("label", { for: "cfg-smooth" }, "Let neighbours share the pull: each record's target also averages in its 5 nearest records, as far as your labels show that neighbours share labels here (on topic and intent data they do, on sentiment mostly not; on 16 test datasets it gained 0.4–0.5 points of precision on average and cost none more than a seed's noise, so it is on by default)"),
      ),
      h(
        "div",
        { class: "row option" },
        useCenter,
        h("label", { for: "cfg-center" }, "Take out what every record shares first: the head reads each record minus the dataset's average embedding, so the kind of text all records are (all tweets, all news) no longer counts toward their similarity (the average weighs every label alike; on 16 test datasets it gained on average on 15, by 0.65 points of precision@10 and @100 overall, so it is on by default; where one label holds most records and your labels are spread evenly over the labels, it can cost a point or two: the check shows it)"),
      ),
      h(
        "div",
        { class: "row option" },
        useGuard,
        h("label", { for: "cfg-safeguard" }, "Check on your own labels first (under 50 labels): train on parts of them, test on the rest, and keep search as it was where the held-out labels clearly rank better without the head (5–10 trainings instead of one; on our test data it avoided some losses but lost more gains, so it is off by default)"),
      ),
      h(
        "details",
        { class: "advanced" },
        h("summary", {}, "Advanced settings"),
        h(
          "div",
          { class: "form-grid" },
          h("label", { for: "cfg-loss" }, "loss"),
          loss,
          h("label", { for: "cfg-lr" }, "learning rate"),
          lr,
          h("label", { for: "cfg-steps" }, "steps"),
          steps,
          h("label", { for: "cfg-margin" }, "margin (triplet / contrastive)"),
          margin,
          h("button", { type: "button", id: "cfg-reset", onclick: () => fill(app.defaults) }, "Reset to defaults"),
        ),
        h(
          "p",
          { class: "hint" },
          "With the default learning rate and steps, training fits its settings to your labels (up to 512 labels: semi-hard triplets at a lower rate; beyond: more steps on shuffled batches, at a rate that rises with the labels). Set either by hand and they are used as they are. The status says what ran.",
        ),
      ),
      canvas,
      status,
    ),
  );
  const checkCard = h("section", { class: "card", id: "check" });
  const logCard = h("section", { class: "card", id: "log" });
  const downloadsCard = h("section", { class: "card", id: "downloads" });
  const modelsCard = h("section", { class: "card", id: "models" });
  root.append(checkCard, logCard, modelsCard, downloadsCard);
  createLogView(logCard, app);
  createModelsView(modelsCard, app);
  createDownloadsView(downloadsCard, app);
  const check = createCheckView(checkCard, app);

  function fill(cfg) {
    if (!cfg) return;
    loss.value = lossValue(cfg);
    lr.value = cfg.lr;
    steps.value = cfg.steps;
    margin.value = cfg.margin;
  }
  /** The person's settings. With the default lr and steps, training fits them to the number
   * of labels (src/tune/train/, TrainConfig::fitted); set by hand, they are used as they are. */
  function config() {
    const d = app.defaults ?? {};
    const base = { ...d, ...(p.trainConfig ?? {}) };
    const num = (el, x) => (Number.isFinite(parseFloat(el.value)) ? parseFloat(el.value) : x);
    const cfg = { ...base, loss: loss.value, lr: num(lr, base.lr), steps: Math.max(1, Math.round(num(steps, base.steps))), margin: num(margin, base.margin) };
    cfg.fit_to_labels = cfg.lr === d.lr && cfg.steps === d.steps;
    cfg.prototype_pull = usePull.checked;
    cfg.center = useCenter.checked;
    cfg.smooth_targets = useSmooth.checked;
    cfg.safeguard = useGuard.checked;
    return cfg;
  }
  /** Below FIRST_LABELS a head may make search worse than raw: say so, and how to find out. */
  function fewNote(labelled) {
    if (labelled >= FIRST_LABELS) return "";
    return ` With fewer than ${FIRST_LABELS} labels a head can make search worse than before: on 12 labelled datasets, 5 of 36 settings with 10 labels came out below the raw space (1 of 72 with 25–50 labels). Label a few more, or set aside check records after training to see which it is here.`;
  }
  /** Labels with a single training record give the triplet loss no pair: say which. */
  function thinNote(perLabel) {
    const thin = p.labelNames.filter((_, l) => perLabel[l] === 1);
    if (!thin.length) return "";
    const names = thin.slice(0, 5).map((n) => `“${n}”`).join(", ") + (thin.length > 5 ? ` and ${thin.length - 5} more` : "");
    return ` ${thin.length === 1 ? "One label has" : `${thin.length} labels have`} a single record (${names}): the head learns nothing from ${thin.length === 1 ? "it" : "them"} until a second record is labelled — the Label list's “suggested next” order finds likely ones.`;
  }
  function refresh() {
    const { labelled, classes, perLabel } = p.counts();
    const ready = p.embedded;
    usePredicted.checked = !!p.settings.usePredicted;
    const on = p.trainSwitches;
    useNames.checked = on.label_names;
    usePull.checked = on.prototype_pull;
    useCenter.checked = on.center;
    useSmooth.checked = on.smooth_targets;
    useGuard.checked = on.safeguard;
    predictedAt.value = p.settings.predictedThreshold ?? 0.7;
    const ok = labelled >= 2 && classes >= 2 && ready;
    trainBtn.disabled = !ok || running;
    info.textContent = !p.n
      ? "Open a dataset and label some records first."
      : !ready
        ? `${labelled} labelled records in ${classes} classes; waiting for the embeddings.`
        : labelled < 2 || classes < 2
          ? `${labelled} labelled records in ${classes} classes: training needs at least 2 labelled records in 2 classes.`
          : `${labelled} labelled records in ${classes} classes${p.check.records.length ? ` (check records are left out)` : ""}.${p.head ? " A head is trained (training again replaces it)." : ""}${fewNote(labelled)}${thinNote(perLabel)}`;
  }
  /** The labels training uses: the person's, plus with the option on, the confident
   * predictions (raw space, PREDICT_K nearest labelled records; never the check records). */
  function trainingSet() {
    const labels = p.trainingLabels();
    const threshold = Number(predictedAt.value);
    if (!usePredicted.checked || !p.embedded || !(threshold > 0)) return { labels, added: 0, threshold };
    const out = Int32Array.from(withConfidentPredictions(app.rawIndex(), labels, threshold, Uint32Array.from(p.check.records)));
    let added = 0;
    for (let i = 0; i < out.length; i++) if (out[i] >= 0 && labels[i] < 0) added++;
    return { labels: out, added, threshold };
  }
  /** How many predictions pass now (a kNN vote over every record: counted when the option
   * changes or the view opens, not on every label). */
  function notePredicted(save = true) {
    if (save) {
      p.settings.usePredicted = usePredicted.checked;
      p.settings.predictedThreshold = Number(predictedAt.value);
    }
    predictedNote.textContent = usePredicted.checked && p.embedded ? ` (${trainingSet().added} records now; the check measures the result)` : ` (the vote of the ${PREDICT_K} nearest labelled records)`;
  }
  usePredicted.addEventListener("change", () => (notePredicted(), p.emit("settings")));
  useNames.addEventListener("change", () => ((p.settings.useLabelNames = useNames.checked), p.emit("settings")));
  usePull.addEventListener("change", () => ((p.settings.usePrototypePull = usePull.checked), p.emit("settings")));
  useCenter.addEventListener("change", () => ((p.settings.useCenter = useCenter.checked), p.emit("settings")));
  useSmooth.addEventListener("change", () => ((p.settings.useSmoothTargets = useSmooth.checked), p.emit("settings")));
  useGuard.addEventListener("change", () => ((p.settings.useSafeguard = useGuard.checked), p.emit("settings")));
  predictedAt.addEventListener("change", () => (notePredicted(), p.emit("settings")));
  async function train() {
    const cfg = config();
    const { labels, added, threshold } = trainingSet();
    const { labelled, classes } = p.counts();
    let run = fitTrainConfig(cfg, labelled + added, classes); // until the trainer says what it runs
    running = true;
    refresh();
    cancelBtn.hidden = false;
    const losses = [];
    canvas.hidden = false;
    drawLoss(canvas, losses, run.steps);
    status.textContent = "starting…";
    status.dataset.state = "running";
    let frame = 0;
    try {
      // the label names, embedded like the records (needs the model; without it, training
      // goes on without them and says so)
      let names = null;
      if (useNames.checked) {
        try {
          status.textContent = "embedding the label names…";
          names = await app.labelNameEmbeddings((s) => (status.textContent = s));
        } catch (e) {
          console.warn("label names", e);
          names = null;
        }
      }
      const t0 = performance.now();
      // the trainer says how many steps it fitted (the label names that join count as labels)
      let steps = run.steps;
      const input = app.trainingInput(labels, cfg);
      // the labels trained (read before the call hands the arrays to the worker)
      const present = [...new Set(input.labels.filter((l) => l >= 0))];
      const out = await app.trainer.call("train", { emb: input.emb, dim: p.dim, labels: input.labels, config: cfg, names, pool: input.pool, not: input.not, sessions: input.sessions }, {
        transfer: input.transfer,
        onProgress: ([step, l, fitted, fold, folds]) => {
          if (fold > 0) {
            // the safeguard (src/tune/safeguard.rs): a head per fold of the labels first
            status.textContent = `checking your labels: training on ${folds - 1} of ${folds} parts, testing on the other (${fold} of ${folds}) · step ${step}/${fitted}`;
            return;
          }
          losses.push(l);
          steps = fitted;
          status.textContent = `step ${step}/${steps} · loss ${l.toFixed(4)}`;
          cancelAnimationFrame(frame);
          frame = requestAnimationFrame(() => drawLoss(canvas, losses, steps));
        },
      });
      const { head, joinedLabels, pull, safeguard, conflicting, negatives, rawShare } = out;
      const joined = joinedLabels.length; // label names trained on as records
      run = out.config;
      const secs = (performance.now() - t0) / 1000;
      p.trainConfig = cfg;
      const { perLabel } = p.counts();
      p.logRun({
        model: p.model.id,
        config: { loss: run.loss, lr: run.lr, steps: run.steps, margin: run.margin },
        labels: labelled,
        ...(usePredicted.checked ? { predicted: { added, threshold } } : {}),
        ...(names ? { labelNames: joined } : {}),
        ...(pull ? { prototypePull: { records: pull.rows, share: +pull.share.toFixed(3), strength: +pull.strength.toFixed(3) } } : {}),
        ...(negatives ? { notMarks: negatives } : {}),
        ...(safeguard ? { safeguard: { keptRaw: safeguard.kept_raw, pull: safeguard.pull, folds: safeguard.folds, raw: +safeguard.raw.toFixed(4), tuned: +safeguard.tuned.toFixed(4) } } : {}),
        classes,
        perLabel: Object.fromEntries(perLabel.map((n, l) => [p.labelNames[l], n]).filter(([, n]) => n > 0)),
        seconds: secs,
        finalLoss: losses.at(-1) ?? null,
      });
      // the tuned index and the check's predictions, built between frames before the head is
      // in use (where records are many, building them at once froze the tab for seconds)
      await app.prepareHead(head, (f) => (status.textContent = `preparing tuned search over ${p.n.toLocaleString("en")} records… ${Math.round(100 * f)}%`));
      trained = head;
      p.setHead(head, cfg);
      // what the fitted settings counted (TrainConfig::fitted: the label names that join too)
      const fittedTo = `${labelled + added} labels` + (names && joined ? ` and ${joined} label name${joined === 1 ? "" : "s"}` : "");
      const stopped = losses.length < run.steps ? ` It stopped after ${losses.length} of ${run.steps} steps: the loss had stopped falling.` : "";
      // the safeguard's choice, in its own sentence (src/tune/safeguard.rs)
      const guard = safeguard ? ` ${safeguard.message[0].toUpperCase()}${safeguard.message.slice(1)}.` : "";
      const leftOut = conflicting > 0 ? ` ${conflicting} labelled records were left out: the same text carries different labels (relabel them in the Label list to use them).` : "";
      if (safeguard?.kept_raw) {
        status.textContent = `${guard.trim()} Search stays as it was (checked on ${labelled} records in ${classes} classes in ${secs.toFixed(2)} s); more labels, or labels from similarity sessions, may change that.${leftOut}`;
      } else {
        const headline =
          `Head trained on ${labelled} records${added ? ` and ${added} confident predictions (≥ ${threshold})` : ""} in ${classes} classes in ${secs.toFixed(2)} s (final loss ${losses.at(-1)?.toFixed(4) ?? "–"}).` +
          stopped +
          guard +
          leftOut;
        // how it trained, one point each (the settings' why is in docs/tuning.md)
        const how = [
          useNames.checked ? (names ? `With ${joined} of ${classes} label names as records${namesLeftOut(present, joinedLabels, p.labelNames)}.` : "Without the label names: the model could not embed them.") : "",
          // the "not this label" marks (sessions, rejected predictions), read as negatives
          negatives ? `Reading ${negatives} “not this label” mark${negatives === 1 ? "" : "s"} as negatives.` : "",
          pull ? pullSentence(pull) : usePull.checked ? (safeguard && !safeguard.pull ? "Without the prototype pull: your labels ranked better without it." : "Without the prototype pull: every label has a single record (it needs a second, or a label name that joins).") : "",
          smoothingSentence(pull),
          run.steps !== cfg.steps
            ? `${run.steps} steps on ${run.balanced_batches ? "class-balanced" : "shuffled"} batches of ${run.batch_size}, lr ${+run.lr.toFixed(6)}, fitted to ${fittedTo}.`
            : run.lr !== cfg.lr || run.loss !== cfg.loss
              ? `${run.loss === "triplet-semihard" ? "Semi-hard triplets" : run.loss} at lr ${+run.lr.toFixed(6)}, fitted to ${fittedTo} in ${classes} classes.`
              : "",
          balanceSentence(perLabel, p.labelNames, run),
          run.center ? "Reading every record minus the dataset's average embedding (what all its records share)." : "",
          // TrainConfig::raw_share: the raw space counts as that many labels (src/tune/head.rs)
          rawShare > 0 ? `Tuned search blends the raw space back in with the weight of ${run.raw_share === 1 ? "one label" : `${+run.raw_share.toFixed(2)} labels`} (a share of ${+(100 * rawShare).toFixed(2)} %), so a few labels cannot carry search far from it.` : "",
        ].filter(Boolean);
        status.replaceChildren(h("p", { class: "train-headline" }, headline), ...(how.length ? [h("ul", { class: "train-how" }, how.map((t) => h("li", {}, t)))] : []));
      }
      status.dataset.steps = String(losses.length);
      canvas.hidden = losses.length === 0; // the raw space kept: no step ran, no curve
      status.dataset.state = "done";
      running = false;
      cancelBtn.hidden = true;
      refresh(); // the check view redraws itself on the new head
    } catch (e) {
      running = false;
      cancelBtn.hidden = true;
      if (e instanceof Cancelled) {
        status.textContent = "Training cancelled; labels and the previous head are unchanged.";
        status.dataset.state = "cancelled";
      } else {
        status.textContent = `Training failed: ${e.message}`;
        status.dataset.state = "error";
        app.error(e, "Training failed");
      }
      refresh();
    }
  }
  trainBtn.addEventListener("click", () => train());
  cancelBtn.addEventListener("click", () => app.restartTrainer());
  for (const t of ["labels", "embeddings", "head", "dataset", "settings", "check"]) p.addEventListener(t, refresh);
  // the status speaks of the head trained here; a head that came otherwise (import, a new
  // dataset, a new project) clears it
  p.addEventListener("head", () => {
    if (running || p.head === trained) return;
    trained = null;
    status.textContent = "";
    delete status.dataset.state;
  });
  p.addEventListener("dataset", () => fill(p.trainConfig ?? app.defaults));

  return {
    show() {
      if (!lr.value) fill(p.trainConfig ?? app.defaults);
      refresh();
      notePredicted(false);
      check.render();
    },
    onKey(e) {
      if (check.onKey(e)) return e.preventDefault();
      if (e.key === "Escape" && running) app.restartTrainer();
      else if (e.key === "t" && !trainBtn.disabled) train();
    },
  };
}
