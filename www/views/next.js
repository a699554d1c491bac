// "What next": one line under the steps that says, from the project as it is, what to do now
// and why, with a button to that step. It follows the steps of the first screen: open ->
// label -> similar -> train (and check) -> compare and share. Recomputed on every change.
import { h, clear, append } from "../dom.js";
import { pendingChecks, cameLabelled } from "./check.js";

/** Labels a head needs before it is worth training (a few per class): below it, a head made
 * search worse than raw in 5 of 36 measured settings with 10 labels (docs/tuning.md). */
export const FIRST_LABELS = 20;

/** {text, view, button} for the project now. */
export function nextStep(app) {
  const p = app.project;
  if (!p.n) return { text: "Open a dataset: drop a CSV, TSV, JSON or JSONL file, or try the sample.", view: "open", button: "Open" };
  const { labelled, classes } = p.counts();
  const embedding = !p.embedded;
  if (labelled < FIRST_LABELS || classes < 2) {
    const more = Math.max(FIRST_LABELS - labelled, 0);
    return {
      text:
        (embedding ? "While the records are embedded: " : "") +
        (classes < 2
          ? `label records of at least two kinds (${labelled} labelled so far): press 1–9 for a label, n for a new one.`
          : `label ${more} more records (${labelled} so far, in ${classes} labels): a few of every kind you care about.`),
      view: "label",
      button: "Label",
    };
  }
  if (embedding) return { text: "Wait for the embeddings (the bar above), then train.", view: "label", button: "Label" };
  if (!p.head && !p.check.records.length && cameLabelled(p)) {
    // a label column imported: a head trained now trains on (nearly) every record, and the
    // check records drawn later are among them, so that head is set aside (check.js)
    const unlabelled = p.n - labelled;
    return {
      text: `${unlabelled ? `All but ${unlabelled} of your records carry a label` : "Every record carries a label"} (${classes} classes). Set aside check records first (step 4): training leaves them out, so the check measures tuned search on records the head never saw. Then train.`,
      view: "train",
      button: "Check",
    };
  }
  if (!p.head) {
    return {
      text: `${labelled} labels in ${classes} classes: train a head — or first label in bulk: open a record's similar records (step 3).`,
      view: "train",
      button: "Train",
    };
  }
  if (!p.check.records.length) {
    return { text: "A head is trained. How much better is it on records you have not labelled? Set aside check records (step 4).", view: "train", button: "Check" };
  }
  if (app.preparingHead())
    return { text: `Preparing tuned search over ${p.n.toLocaleString("en")} records for the head in use: the check's questions and figure follow in a moment.`, view: "train", button: "Check" };
  let est = null;
  try {
    est = app.checkEstimate();
  } catch {
    est = null;
  }
  const pending = est ? pendingChecks(est) : p.check.records.length;
  if (pending) return { text: `Answer the check (step 4): ${pending} check record${pending === 1 ? "" : "s"} to go before the figure appears.`, view: "train", button: "Check" };
  // a figure that shows no gain is not one to share: say what tends to help (labels spread over
  // the data teach the head more than a similarity session's near neighbours: docs/tuning.md)
  const o = est?.overall;
  if (o && o.high < 0) {
    return {
      text: "The check finds tuned search worse than raw search on records you have not labelled: raw search is the better one here for now. Label records spread over your data (the Label list, “suggested next” order), then train again.",
      view: "label",
      button: "Label",
    };
  }
  // the encoder itself tuned on the labels gained most where a head alone gains least
  // (docs/tuning.md); "Tune and compare" measures it on the check records before any switch
  const encoder = p.model?.tuning ? "" : " The encoder itself can be tuned on your labels too (Train → “Which model fits your labels?”).";
  if (o && o.low <= 0) {
    return {
      text: `The check cannot tell tuned search from raw yet (its interval includes no change). Label records spread over your data (the Label list) and train again, or set aside more check records to narrow the figure (step 4).${encoder}`,
      view: "label",
      button: "Label",
    };
  }
  return { text: `The check's figure is in. Compare raw and tuned search, then make a results card to share (step 5).${encoder}`, view: "compare", button: "Compare" };
}

export function createNextStep(root, app) {
  const render = () => {
    const next = nextStep(app);
    clear(root);
    root.hidden = false;
    root.dataset.view = next.view;
    append(root, [
      h("span", { class: "next-label" }, "Next: "),
      h("span", { id: "next-text" }, next.text),
      app.active === next.view ? null : h("button", { type: "button", id: "next-go", class: "small", onclick: () => app.show(next.view) }, `${next.button} →`),
    ]);
  };
  for (const t of ["dataset", "labels", "head", "check", "embeddings"]) app.project.addEventListener(t, render);
  return { render };
}
