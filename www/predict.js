// Predicted labels (src/label/predict.rs): every record's label from a similarity-weighted vote of
// its PREDICT_K nearest training labels, with the winner's share of the vote as confidence.
// One definition for the map, the downloads and the Label list's filter.
import { predictLabels } from "../pkg/simtune.js";
import { nextTask } from "./slices.js";

/** Labelled neighbours that vote for a record's predicted label. */
export const PREDICT_K = 10;

/** Records per slice of work against the records labelled in `labels` (-1: none), as the
 * vote and the suggestions search them: about 2^18 scores (~8 ms in wasm), so a slice stays
 * well inside a frame whatever the labels; at 100,000 records and a few hundred labels the
 * whole vote is ~1 s of work, which froze the tab in one piece. */
export function sliceRows(labels) {
  const labelled = labels.reduce((c, l) => c + (l >= 0), 0);
  return Math.max(256, Math.floor(2 ** 18 / Math.max(64, labelled)));
}

/** {label: Int32Array (-1: none), confidence: Float32Array} in `index`'s space, computed in
 * slices with a task boundary between them; null when `live()` turns false between two slices
 * (the index was freed or replaced: nothing more is read from it). Each slice's predictions
 * are the whole call's for its records (predict.rs `knn_predict_of`). */
export async function predict(index, trainingLabels, live = () => true) {
  const n = index.rows();
  const label = new Int32Array(n);
  const confidence = new Float32Array(n);
  const step = sliceRows(trainingLabels);
  for (let start = 0; start < n; start += step) {
    if (start > 0) {
      await nextTask();
      if (!live()) return null;
    }
    const end = Math.min(n, start + step);
    const part = predictLabels(index, trainingLabels, PREDICT_K, start, end);
    label.set(part.labels, start);
    confidence.set(part.confidence, start);
  }
  return { label, confidence };
}

/** How the predictions of label `id` at confidence ≥ `t` fare where the label is known:
 * {from, predicted, right} over the check records (drawn at random and never trained on:
 * `from` "check") when any of them gets that prediction, else over the training labels, each
 * record predicted from the others (a labelled record never votes for itself: `from`
 * "labels"), else {from: null}. `training[i]`: record i's training label (-1: none);
 * `checks`: the check records; `known(r)`: check record r's label as said (-1: not said). */
export function predictionTrack(pred, id, t, { training, checks, known }) {
  const tally = (rows, labelOf) => {
    let predicted = 0;
    let right = 0;
    for (const r of rows) {
      const l = labelOf(r);
      if (l < 0 || pred.label[r] !== id || pred.confidence[r] < t) continue;
      predicted++;
      if (l === id) right++;
    }
    return { predicted, right };
  };
  const onChecks = tally(checks, known);
  if (onChecks.predicted) return { from: "check", ...onChecks };
  const labelled = [];
  training.forEach((l, i) => l >= 0 && labelled.push(i));
  const onLabels = tally(labelled, (r) => training[r]);
  if (onLabels.predicted) return { from: "labels", ...onLabels, labelled: labelled.length };
  return { from: null, predicted: 0, right: 0 };
}
