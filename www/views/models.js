// Models compared on your labels: embed the records with a second model (a Hugging Face id or
// a dropped folder), train a head for each model on the same training labels, and show per
// model how often a check record's nearest labelled records carry its label, raw and tuned
// (src/measure/metrics.rs labelled_agreement). Check records are a random sample the heads never see,
// so the figure is fair to both models; it needs no judgment of unlabelled records. The
// second model's embeddings stay in this browser's cache, so "Use it" switches at once.
// The second model may also be this one with its top layers tuned on the training labels
// (src/tune/encoder_top.rs, in the trainer worker; docs/tuning.md): it joins the cache as a
// local model, and the same table says whether it serves the check records better.
import { h, clear, pct } from "../dom.js";
import { hubModel, cacheFolder, cacheTunedModel, ensureCached, modelName } from "../model.js";
import { SearchIndex, labelledAgreement, labelText } from "../../pkg/simtune.js";
import * as store from "../store.js";
import { Cancelled } from "../pool.js";
import { embeddingKey } from "../hash.js";

/** Labelled check records the comparison needs at least. */
const MIN_CHECKS = 10;
const K = 10;
/** Top layers of the encoder tuned by "Tune and compare" (the CLI's default). */
const TUNED_LAYERS = 3;

export function createModelsView(root, app) {
  const p = app.project;
  const hub = h("input", { type: "text", id: "compare-hub-id", placeholder: "e.g. sentence-transformers/all-MiniLM-L12-v2", spellcheck: false });
  const folder = h("input", { type: "file", id: "compare-model-folder", webkitdirectory: true, multiple: true });
  const go = h("button", { type: "button", id: "compare-models" }, "Compare");
  const tune = h("button", { type: "button", id: "tune-encoder" }, "Tune and compare");
  const stopTune = h("button", { type: "button", id: "cancel-tune-encoder", class: "small", hidden: true }, "Cancel");
  const status = h("p", { class: "hint", id: "models-status", "aria-live": "polite" });
  const table = h("table", { class: "metrics-table", id: "models-table", hidden: true });
  root.append(
    h("h2", {}, "Which model fits your labels?"),
    h(
      "p",
      { class: "hint" },
      `Embeds the records with a second model, trains a head for each on the same labels, and shows for each how often a check record's ${K} nearest labelled records carry its label — raw and tuned. Check records (step 4) are a random sample no head trains on: label at least ${MIN_CHECKS} first.`,
    ),
    h("div", { class: "row" }, h("label", { for: "compare-hub-id" }, "Hugging Face model id"), hub, go),
    h("div", { class: "row" }, h("label", { for: "compare-model-folder" }, "…or a model folder:"), folder),
    h("div", { class: "row" }, h("span", {}, `…or this encoder with its top ${TUNED_LAYERS} layers trained on your training labels:`), tune, stopTune),
    h(
      "p",
      { class: "hint" },
      "Tuning the encoder itself (minutes; every record is then embedded again) gained most where a head alone gains least — news topics, irony, spam — but made search worse on hate speech, one of the seven datasets measured (docs/tuning.md). The table says which serves your check records better; nothing changes until you press “Use it”.",
    ),
    status,
    table,
  );

  let busy = false;
  /** What "Tune and compare" did, said before the comparison's figures. */
  let tuneNote = "";
  async function compare(resolve) {
    if (busy) return;
    tuneNote = "";
    const checks = p.check.records.filter((r) => p.knownLabel(r) >= 0);
    if (!p.embedded) return fail("Wait for the embeddings of the current model first.");
    if (checks.length < MIN_CHECKS) return fail(`Label at least ${MIN_CHECKS} check records first (step 4, “Set aside check records”): ${checks.length} so far.`);
    const { labelled, classes } = p.counts();
    if (labelled < 2 || classes < 2) return fail("Label records of at least two labels first.");
    busy = true;
    go.disabled = true;
    tune.disabled = true;
    delete status.dataset.kind;
    clear(table);
    table.hidden = true;
    try {
      const other = await resolve();
      if (other.id === p.model.id) throw new Error(`${modelName(other)} is the model in use: pick another one`);
      // each head trains as the Train step does: with the label names as records and from
      // the prototype pull where the settings say so, each model embedding the names itself
      // (the Train step's switches and their defaults, from one place: Project.trainSwitches)
      const { label_names: withNames, ...switches } = p.trainSwitches;
      const config = { ...app.defaults, ...switches };
      const names1 = withNames ? await app.labelNameEmbeddings((s) => (status.textContent = s)) : null;
      const emb2 = await embedWith(other);
      const names2 = withNames ? await labelNamesWith(other) : null;
      const labels = p.trainingLabels();
      const known = p.knownLabels();
      const rows = [];
      for (const [model, emb, dim, names] of [[p.model, app.rawIndex().toArray(), p.dim, names1], [other, emb2.data, emb2.dim, names2]]) {
        status.textContent = `training a head for ${modelName(model)}…`;
        const { head } = await app.trainer.call("train", { emb, dim, labels, config, names });
        const raw = new SearchIndex(emb, dim);
        const tuned = raw.withHead(head);
        try {
          const r = labelledAgreement(raw, known, Uint32Array.from(checks), K);
          const t = labelledAgreement(tuned, known, Uint32Array.from(checks), K);
          rows.push({ model, dim, raw: r.agreement, tuned: t.agreement, checks: r.queries });
        } finally {
          raw.free();
          tuned.free();
        }
      }
      render(rows, other);
      status.textContent = `${tuneNote}Measured on ${rows[0].checks} labelled check records, ${labelled} training labels${withNames ? " (and the label names, as in training)" : ""}.`;
    } catch (e) {
      fail(e.message);
    } finally {
      busy = false;
      go.disabled = false;
      tune.disabled = false;
    }
  }
  function fail(msg) {
    status.textContent = msg;
    status.dataset.kind = "error";
  }

  /** The records embedded by `model`: from this browser's cache, else by the worker pool
   * (which then reloads the project's model when next needed). */
  async function embedWith(model) {
    const key = await embeddingKey(model.id, p.precision, p.hashes);
    const cached = await app.readIndex(key);
    if (cached) {
      try {
        return { n: p.n, dim: cached.dim(), data: cached.toArray() };
      } finally {
        cached.free();
      }
    }
    status.textContent = `downloading ${modelName(model)}…`;
    await ensureCached(model, (s) => (status.textContent = s || `loading ${modelName(model)}…`));
    const { dim } = await app.pool.loadModel(model.base, p.precision);
    const t0 = performance.now();
    const data = await app.pool.embed(p.texts, dim, (done, total) => {
      status.textContent = `embedding with ${modelName(model)}: ${done} / ${total} records`;
    });
    status.textContent = `embedded ${p.n} records with ${modelName(model)} in ${((performance.now() - t0) / 1000).toFixed(1)} s`;
    try {
      await store.putEmbeddingMatrix(key, { n: p.n, dim, data, model: model.id, precision: p.precision });
    } catch {
      // not kept: the comparison still works, switching embeds again
    }
    return { n: p.n, dim, data };
  }

  /** The label names embedded by `model` (loaded into the worker pool; the project's model
   * is loaded again when next needed). */
  async function labelNamesWith(model) {
    await ensureCached(model, (s) => (status.textContent = s || `loading ${modelName(model)}…`));
    const { dim } = await app.pool.loadModel(model.base, p.precision);
    status.textContent = `embedding the label names with ${modelName(model)}…`;
    return app.pool.embed(p.labelNames.map(labelText), dim, () => {});
  }

  function render(rows, other) {
    table.hidden = false;
    // the best only where one is ahead (a tie names none)
    const top = Math.max(...rows.map((r) => r.tuned));
    const best = rows.filter((r) => r.tuned === top).length === 1 ? rows.find((r) => r.tuned === top) : null;
    table.append(
      h("caption", {}, `Check records whose ${K} nearest labelled records carry their label`),
      h("tr", {}, h("th", {}, "model"), h("th", {}, "dimensions"), h("th", {}, "raw"), h("th", {}, "tuned"), h("th", {}, "")),
      ...rows.map((r) =>
        h(
          "tr",
          { dataset: { model: r.model.id, raw: String(r.raw), tuned: String(r.tuned) } },
          h("td", {}, modelName(r.model), r.model.id === p.model.id ? " — in use" : ""),
          h("td", {}, String(r.dim)),
          h("td", {}, pct(r.raw)),
          h("td", {}, pct(r.tuned), r === best ? " (best)" : ""),
          h(
            "td",
            {},
            r.model.id === other.id
              ? h("button", { type: "button", class: "small", id: "use-compared", onclick: () => switchTo(other) }, "Use it")
              : null,
          ),
        ),
      ),
    );
  }
  async function switchTo(model) {
    if (!confirm(`Switch this project to ${modelName(model)}? Its embeddings are cached; the trained head is set aside (heads are per model): train again.`)) return;
    await app.setModel(model);
    clear(table);
    table.hidden = true;
    status.textContent = `Now using ${modelName(model)}.`;
  }

  /** This project's model with its top layers tuned on the training labels (the label names
   * joining as records where the Train step uses them), cached as a local model. */
  async function tuned() {
    const labels = p.trainingLabels();
    const rows = [];
    for (let i = 0; i < labels.length; i++) if (labels[i] >= 0) rows.push(i);
    const withNames = p.trainSwitches.label_names;
    const base = p.model;
    await ensureCached(base, (s) => (status.textContent = s || `loading ${modelName(base)}…`));
    const t0 = performance.now();
    status.textContent = `tuning the top ${TUNED_LAYERS} layers of ${modelName(base)} on ${rows.length} labelled records…`;
    stopTune.hidden = false;
    let out;
    try {
      out = await app.trainer.call(
        "tuneEncoder",
        {
          base: base.base,
          texts: rows.map((i) => p.texts[i]),
          classes: Uint32Array.from(rows, (i) => labels[i]),
          names: withNames ? p.labelNames : null,
          settings: { layers: TUNED_LAYERS },
        },
        {
          onProgress: ([step, steps, loss]) => {
            const s = (performance.now() - t0) / 1000;
            const left = step < steps ? `, about ${Math.ceil(((steps - step) * s) / step)} s left` : "";
            status.textContent = `tuning the top ${TUNED_LAYERS} layers of ${modelName(base)} on ${rows.length} labelled records: step ${step} of ${steps}, loss ${loss.toFixed(4)}${left}`;
          },
        },
      );
    } catch (e) {
      if (e instanceof Cancelled) throw new Error("Tuning the encoder was cancelled; nothing changed.");
      throw e;
    } finally {
      stopTune.hidden = true;
    }
    // the worker's wasm memory grew to hold the model in f32 and its tuning (a few hundred
    // MB that wasm never gives back): a fresh worker trains heads from here on
    app.restartTrainer();
    const secs = ((performance.now() - t0) / 1000).toFixed(0);
    tuneNote = `Tuned the top ${TUNED_LAYERS} layers on ${out.records} labelled records${out.names ? ` and ${out.names} label names` : ""} in ${secs} s (loss ${out.first_loss.toFixed(3)} → ${out.last_loss.toFixed(3)}). `;
    status.textContent = `${tuneNote}Keeping it in this browser…`;
    return cacheTunedModel(base, out.weights, {
      base: modelName(base),
      baseId: base.id,
      layers: TUNED_LAYERS,
      labels: out.records,
      classes: out.classes,
      data: p.file?.name ?? null,
    });
  }

  go.addEventListener("click", () => compare(async () => hubModel(hub.value)));
  tune.addEventListener("click", () => compare(tuned));
  stopTune.addEventListener("click", () => app.restartTrainer());
  folder.addEventListener("change", () => {
    const files = folder.files;
    if (files?.length) compare(() => cacheFolder(files));
    folder.value = "";
  });
}
