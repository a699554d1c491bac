// The experiment log: every training run, newest first — the model, the loss and its
// settings, labels per class, time and final loss, the check's figure for that head once the
// check is complete, and the person's own note. Saved with the project and exported with it.
import { h, clear } from "../dom.js";
import { describeGain, pendingChecks } from "./check.js";

export function createLogView(root, app) {
  const p = app.project;
  const list = h("ol", { class: "log", id: "experiment-log", reversed: true });
  root.append(
    h("h2", {}, "Experiment log"),
    h("p", { class: "hint" }, "Every training run, with what it rests on. Add a note to remember why you ran it; the log goes with the project's Export."),
    list,
  );

  /** The check's figure, kept on the run whose head it measured (once every check is answered). */
  function keepFigure() {
    const run = p.log.find((r) => r.run === p.headRun);
    if (!run || !p.head) return;
    let est = null;
    try {
      est = app.checkEstimate();
    } catch {
      return;
    }
    const o = est?.overall;
    if (!o || pendingChecks(est) > 0) return;
    const figure = { k: est.k, gain: o.gain, low: o.low, high: o.high, checks: o.checks };
    if (JSON.stringify(run.figure) === JSON.stringify(figure)) return;
    run.figure = figure;
    p.emit("log");
  }

  function render() {
    clear(list);
    if (!p.log.length) {
      list.append(h("li", { class: "empty" }, "No training run yet."));
      return;
    }
    for (const r of [...p.log].reverse()) {
      const c = r.config ?? {};
      const perLabel = Object.entries(r.perLabel ?? {}).map(([name, n]) => `${name} ${n}`).join(", ");
      const note = h("input", { type: "text", class: "log-note", value: r.note ?? "", placeholder: "your note…", "aria-label": `note for run ${r.run}` });
      note.addEventListener("change", () => {
        r.note = note.value;
        p.emit("log");
      });
      list.append(
        h(
          "li",
          { dataset: { run: String(r.run) } },
          h("strong", {}, `Run ${r.run}`),
          ` · ${new Date(r.at).toLocaleString()} · ${r.model} · ${c.loss ?? "?"} loss, lr ${c.lr}, ${c.steps} steps${c.margin != null ? `, margin ${c.margin}` : ""}`,
          h("br"),
          `${r.labels} labels${r.predicted ? ` + ${r.predicted.added} confident predictions (≥ ${r.predicted.threshold})` : ""}${r.labelNames != null ? ` + ${r.labelNames} label names` : ""} in ${r.classes} classes (${perLabel}) · ${r.seconds.toFixed(2)} s · final loss ${r.finalLoss?.toFixed(4) ?? "–"}`,
          h("br"),
          h("span", { class: "log-figure" }, r.figure ? `Check: same-label share of the top ${r.figure.k} on records you have not labelled ${describeGain(r.figure)}` : "Check: no figure for this head (answer every check record after training to get one)."),
          h("br"),
          note,
        ),
      );
    }
  }
  for (const t of ["log", "dataset"]) p.addEventListener(t, render);
  p.addEventListener("check", keepFigure);
  p.addEventListener("head", keepFigure);
  render();
  return { render, keepFigure };
}
