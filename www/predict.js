// Predicted labels (src/label/predict.rs): every record's label from a similarity-weighted vote of
// its PREDICT_K nearest training labels, with the winner's share of the vote as confidence.
// One definition for the map, the downloads and the Label list's filter.
import { predictLabels } from "../pkg/simtune.js";

/** Labelled neighbours that vote for a record's predicted label. */
export const PREDICT_K = 10;

/** {label: Int32Array (-1: none), confidence: Float32Array} in `index`'s space. */
export function predict(index, trainingLabels) {
  const pred = predictLabels(index, trainingLabels, PREDICT_K);
  return { label: pred.labels, confidence: pred.confidence };
}
