// Train: a head over the frozen embeddings, in its own worker, with a live loss curve.
// Cancel terminates that worker and starts a fresh one; nothing else is lost. After
// training, precision@k by leave-out on the person's labels, raw vs tuned.
import { h, pct } from "../dom.js";
import { drawLoss } from "../plot.js";
import { Cancelled } from "../pool.js";

const LOSSES = ["triplet", "triplet-all", "triplet-semihard", "softmax", "contrastive"];

/** The engine's loss names (serde) for the picker's values; the picker shows ours. */
function lossValue(cfg) {
  const l = cfg?.loss;
  return typeof l === "string" ? l : "triplet";
}

export function createTrainView(root, app) {
  const p = app.project;
  let running = false;

  const info = h("p", { id: "train-info" });
  const trainBtn = h("button", { type: "button", id: "train", class: "primary" }, "Train head");
  const cancelBtn = h("button", { type: "button", id: "cancel-train", hidden: true }, "Cancel");
  const status = h("p", { id: "train-status", "aria-live": "polite" });
  const canvas = h("canvas", { id: "loss-canvas", width: 640, height: 220, "aria-label": "Training loss by step" });
  const loss = h("select", { id: "cfg-loss" }, LOSSES.map((l) => h("option", { value: l }, l)));
  const lr = h("input", { type: "number", id: "cfg-lr", step: "any", min: 0 });
  const steps = h("input", { type: "number", id: "cfg-steps", step: 1, min: 1 });
  const margin = h("input", { type: "number", id: "cfg-margin", step: "any", min: 0 });
  const loK = h("input", { type: "number", id: "leaveout-k", min: 1, max: 100 });
  const measureBtn = h("button", { type: "button", id: "measure" }, "Measure");
  const metrics = h("p", { id: "leaveout", class: "metrics", "aria-live": "polite" });

  root.append(
    h(
      "section",
      { class: "card" },
      h("h2", {}, "Train a head over the frozen embeddings"),
      info,
      h("div", { class: "row" }, trainBtn, cancelBtn),
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
      ),
      canvas,
      status,
    ),
    h(
      "section",
      { class: "card" },
      h("h2", {}, "How much better? precision@k by leave-out on your labels"),
      h("p", { class: "hint" }, "Your labels are split in folds; each fold is searched by the others, raw and with a head trained without it."),
      h("div", { class: "row" }, h("label", { for: "leaveout-k" }, "k"), loK, measureBtn),
      metrics,
    ),
  );

  function fill(cfg) {
    if (!cfg) return;
    loss.value = lossValue(cfg);
    lr.value = cfg.lr;
    steps.value = cfg.steps;
    margin.value = cfg.margin;
  }
  function config() {
    const base = { ...(app.defaults ?? {}), ...(p.trainConfig ?? {}) };
    const num = (el, d) => (Number.isFinite(parseFloat(el.value)) ? parseFloat(el.value) : d);
    return { ...base, loss: loss.value, lr: num(lr, base.lr), steps: Math.max(1, Math.round(num(steps, base.steps))), margin: num(margin, base.margin) };
  }
  function refresh() {
    const { labelled, classes } = p.counts();
    const ready = !!p.emb;
    const ok = labelled >= 2 && classes >= 2 && ready;
    trainBtn.disabled = !ok || running;
    measureBtn.disabled = !ready || labelled < 4 || classes < 2 || running;
    info.textContent = !p.n
      ? "Open a dataset and label some records first."
      : !ready
        ? `${labelled} labelled records in ${classes} classes; waiting for the embeddings.`
        : labelled < 2 || classes < 2
          ? `${labelled} labelled records in ${classes} classes: training needs at least 2 labelled records in 2 classes.`
          : `${labelled} labelled records in ${classes} classes.${p.head ? " A head is trained (training again replaces it)." : ""}`;
    showMetrics();
  }
  function showMetrics() {
    const r = p.leaveOut;
    if (!r) {
      metrics.textContent = p.head ? "Not measured yet." : "";
      delete metrics.dataset.raw;
      return;
    }
    metrics.textContent = `precision@${r.k}: raw ${pct(r.raw)} → tuned ${pct(r.tuned)} — resting on ${r.rests_on} labels in ${r.folds} folds`;
    metrics.dataset.raw = r.raw;
    metrics.dataset.tuned = r.tuned;
  }

  async function train() {
    const cfg = config();
    const labels = Int32Array.from(p.labels);
    const { labelled, classes } = p.counts();
    running = true;
    refresh();
    cancelBtn.hidden = false;
    const losses = [];
    drawLoss(canvas, losses, cfg.steps);
    status.textContent = "starting…";
    status.dataset.state = "running";
    const t0 = performance.now();
    let frame = 0;
    try {
      const head = await app.trainer.call("train", { emb: p.emb, dim: p.dim, labels, config: cfg }, {
        onProgress: ([step, l]) => {
          losses.push(l);
          status.textContent = `step ${step}/${cfg.steps} · loss ${l.toFixed(4)}`;
          cancelAnimationFrame(frame);
          frame = requestAnimationFrame(() => drawLoss(canvas, losses, cfg.steps));
        },
      });
      const secs = (performance.now() - t0) / 1000;
      p.trainConfig = cfg;
      p.leaveOut = null;
      p.setHead(head, cfg);
      status.textContent = `Head trained on ${labelled} records in ${classes} classes in ${secs.toFixed(2)} s (final loss ${losses.at(-1)?.toFixed(4) ?? "–"}).`;
      status.dataset.state = "done";
      running = false;
      cancelBtn.hidden = true;
      refresh();
      measure();
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
  async function measure() {
    if (!p.emb) return;
    const k = Math.max(1, Number(loK.value) || p.settings.leaveOutK);
    if (p.settings.leaveOutK !== k) {
      p.settings.leaveOutK = k;
      p.emit("settings");
    }
    metrics.textContent = "measuring…";
    measureBtn.disabled = true;
    try {
      const r = await app.trainer.call("leaveOut", {
        emb: p.emb,
        dim: p.dim,
        labels: Int32Array.from(p.labels),
        k,
        folds: 5,
        config: config(),
      });
      p.leaveOut = r;
      p.emit("settings");
    } catch (e) {
      if (!(e instanceof Cancelled)) metrics.textContent = `Not measured: ${e.message}`;
      measureBtn.disabled = false;
      return;
    }
    refresh();
  }

  trainBtn.addEventListener("click", () => train());
  cancelBtn.addEventListener("click", () => app.trainer.restart());
  measureBtn.addEventListener("click", () => measure());
  for (const t of ["labels", "embeddings", "head", "dataset", "settings"]) p.addEventListener(t, refresh);
  p.addEventListener("dataset", () => fill(p.trainConfig ?? app.defaults));

  return {
    show() {
      if (!lr.value) fill(p.trainConfig ?? app.defaults);
      loK.value = p.settings.leaveOutK;
      refresh();
    },
    onKey(e) {
      if (e.key === "Escape" && running) app.trainer.restart();
      else if (e.key === "t" && !trainBtn.disabled) train();
    },
  };
}
