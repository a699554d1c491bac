// The "Next" line's advice once the check's figure is in (www/views/next.js): it asks to share
// only a figure that shows a gain; where the interval includes no change, or lies below it, it
// says what tends to help instead. (No browser: nextStep reads the project and the estimate.)
import { test } from "node:test";
import assert from "node:assert/strict";
import { nextStep } from "../../www/views/next.js";
import { cameLabelled, describeEstimate } from "../../www/views/check.js";

/** A project with 40 labels in 4 classes, a head and 40 answered check records, whose check
 * figure is `overall`. */
const appWith = (overall) => ({
  project: { n: 2000, embedded: true, head: {}, check: { records: Array.from({ length: 40 }, (_, i) => i) }, counts: () => ({ labelled: 40, classes: 4 }) },
  preparingHead: () => false,
  checkEstimate: () => ({ pending_checks: 0, unlabelled_checks: 0, overall }),
});

test("a gain is shared; no clear change or a loss sends the person back to label", () => {
  const gain = nextStep(appWith({ gain: 0.03, low: 0.01, high: 0.05, checks: 40 }));
  assert.equal(gain.view, "compare");
  assert.match(gain.text, /make a results card to share/);

  const unclear = nextStep(appWith({ gain: 0.01, low: -0.01, high: 0.03, checks: 40 }));
  assert.equal(unclear.view, "label");
  assert.match(unclear.text, /cannot tell tuned search from raw yet/);
  assert.doesNotMatch(unclear.text, /share/);

  const worse = nextStep(appWith({ gain: -0.03, low: -0.05, high: -0.01, checks: 40 }));
  assert.equal(worse.view, "label");
  assert.match(worse.text, /worse than raw search/);

  // the encoder tuned on the labels is offered next to a gain or no clear change, until it is
  assert.match(gain.text, /The encoder itself can be tuned on your labels too/);
  assert.match(unclear.text, /The encoder itself can be tuned on your labels too/);
  const tuned = appWith({ gain: 0.03, low: 0.01, high: 0.05, checks: 40 });
  tuned.project.model = { id: "local:all-MiniLM-L6-v2:0123", tuning: { inPage: true, layers: 3 } };
  assert.doesNotMatch(nextStep(tuned).text, /encoder itself/);

  // still answering: the figure is not in yet, whatever it leans to
  const app = appWith({ gain: 0.03, low: 0.01, high: 0.05, checks: 40 });
  app.checkEstimate = () => ({ pending_checks: 3, unlabelled_checks: 0, overall: null });
  assert.match(nextStep(app).text, /3 check records to go/);
});

/** A project of `n` records, `labelled` of them labelled (4 classes), no head, no check. */
const untrained = (n, labelled) => {
  const labels = new Int32Array(n).fill(-1);
  for (let i = 0; i < labelled; i++) labels[i] = i % 4;
  return { project: { n, embedded: true, head: null, labels, settings: { checkCount: 40 }, check: { records: [] }, counts: () => ({ labelled, classes: 4 }) } };
};

test("a file that came labelled asks for check records before the first training", () => {
  // a label column imported, 3 of 300 records left without a label
  const imported = untrained(300, 297);
  assert.ok(cameLabelled(imported.project));
  const next = nextStep(imported);
  assert.equal(next.view, "train");
  assert.match(next.text, /^All but 3 of your records carry a label \(4 classes\)\. Set aside check records first \(step 4\)/);
  assert.match(nextStep(untrained(300, 300)).text, /^Every record carries a label \(4 classes\)/);
  // a person's own labels stay training labels: train first
  for (const [n, labelled] of [[300, 50], [45, 40], [2000, 1900]]) {
    assert.ok(!cameLabelled(untrained(n, labelled).project), `${labelled} of ${n}`);
    assert.match(nextStep(untrained(n, labelled)).text, /train a head/);
  }
});

// The figure's sentence says how many check records would narrow it to ±3 points, and says so
// when none would: the records left unlabelled are too few for their share to be known that
// closely (estimator.rs checks_for_3_points counts the finite-population factor)
test("the figure says how many check records would narrow it, or that none would", () => {
  const est = (checks_for_3_points) => ({ k: 10, pending_checks: 0, unlabelled_checks: 0, questions: [], overall: { gain: 0.04, low: -0.02, high: 0.1, checks: 40 }, checks_for_3_points });
  assert.match(describeEstimate(est(162)), /About 162 check records would narrow it to ±3 points/);
  assert.doesNotMatch(describeEstimate(est(162)), /No number of check records/);
  assert.match(describeEstimate(est(null)), /No number of check records would narrow it to ±3 points: the figure is about the records neither labelled nor checked/);
  assert.doesNotMatch(describeEstimate(est(null)), /About \d/);
  // narrow already: neither
  const narrow = describeEstimate(est(40));
  assert.doesNotMatch(narrow, /would narrow it/);
});
