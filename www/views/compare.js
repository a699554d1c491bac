// Compare: the top-k neighbours of a record (or of a typed query, embedded by a worker),
// raw and tuned side by side, with labels and the same-label share of each; and the
// honest figure from the check records (views/check.js); below, the results card to post
// (views/card.js).
import { h, clear, pct } from "../dom.js";
import { describeEstimate } from "./check.js";
import { createCardView } from "./card.js";

export function createCompareView(root, app) {
  const p = app.project;
  let target = null; // {record: i} | {query: text, vector}

  const query = h("input", { type: "search", id: "query", placeholder: "type a query…", autocomplete: "off" });
  const recInput = h("input", { type: "number", id: "compare-record", min: 0, placeholder: "record #" });
  const kInput = h("input", { type: "number", id: "compare-k", min: 1, max: 1000, value: p.settings.compareK });
  const head = h("div", { class: "anchor", id: "compare-anchor" });
  const rawCol = h("div", { class: "col", id: "compare-raw" });
  const tunedCol = h("div", { class: "col", id: "compare-tuned" });
  const metrics = h("p", { class: "metrics", id: "compare-figure" });

  const qForm = h(
    "form",
    { class: "toolbar" },
    h("label", { for: "query" }, "Query"),
    query,
    h("button", { type: "submit" }, "Search"),
    h("label", { for: "compare-record" }, "or record"),
    recInput,
    h("button", { type: "button", id: "compare-show", onclick: () => showRecord(Number(recInput.value)) }, "Show"),
    h("label", { for: "compare-k" }, "k"),
    kInput,
  );
  const cardRoot = h("div", { class: "card", id: "results-card" });
  root.append(qForm, head, h("div", { class: "grid-2 compare" }, rawCol, tunedCol), metrics, cardRoot);
  createCardView(cardRoot, app);

  qForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const text = query.value.trim();
    if (!text) return;
    if (!p.embedded) return app.notify("The records are not embedded yet.", "error");
    clear(head).append(h("p", {}, "embedding the query…"));
    try {
      const vector = await app.embedQuery(text);
      target = { query: text, vector };
      render();
    } catch (err) {
      clear(head);
      app.error(err, "The query could not be embedded");
    }
  });
  function showRecord(i) {
    if (!Number.isInteger(i) || i < 0 || i >= p.n) return app.notify(`There is no record #${recInput.value} (0–${p.n - 1}).`, "error");
    target = { record: i };
    recInput.value = i;
    render();
  }
  kInput.addEventListener("change", () => {
    p.settings.compareK = Math.max(1, Number(kInput.value) || 10);
    p.emit("settings");
    render();
  });

  function column(el, title, index, vector, anchorLabel) {
    clear(el).append(h("h3", {}, title));
    if (!index) {
      el.append(h("p", { class: "hint" }, title.startsWith("Tuned") ? "No head yet: train one in step 4." : "Waiting for the embeddings."));
      return;
    }
    const k = Math.max(1, Math.min(p.n - 1, p.settings.compareK));
    let hits;
    try {
      hits = target.record != null ? index.neighbours(target.record, k) : index.topK(vector, k, -1);
    } catch (e) {
      el.append(h("p", { class: "msg" }, `Search failed: ${e.message}`));
      return;
    }
    const labelled = hits.indices.filter((i) => p.labels[i] >= 0).length;
    const same = anchorLabel >= 0 ? hits.indices.filter((i) => p.labels[i] === anchorLabel).length : null;
    el.append(
      h(
        "p",
        { class: "share", dataset: { share: same == null ? "" : String(same / hits.indices.length) } },
        same == null
          ? `${labelled} of ${hits.indices.length} neighbours labelled`
          : labelled === 0
            ? `same label: unknown · none of the ${hits.indices.length} is labelled yet`
            : `same label: ${same} of ${hits.indices.length} (${pct(same / hits.indices.length)})${labelled < hits.indices.length ? ` · ${hits.indices.length - labelled} not labelled yet, counted as not the same` : ""}`,
      ),
      h(
        "ol",
        { class: "records hits" },
        hits.indices.map((i, r) => {
          const name = p.labelName(i);
          const cls = anchorLabel >= 0 && p.labels[i] === anchorLabel ? " same" : "";
          return h(
            "li",
            { class: `record${cls}`, dataset: { index: String(i) } },
            h("span", { class: "score" }, hits.scores[r].toFixed(3)),
            h("span", { class: "text", title: "click to show or fold the whole record", onclick: (e) => e.currentTarget.classList.toggle("open") }, p.texts[i]),
            h("span", { class: `label${name ? "" : " none"}` }, name ?? "—"),
            h("button", { type: "button", class: "small", title: `a similarity session on record #${i}`, onclick: () => app.openSession(i) }, "Similar"),
          );
        }),
      ),
    );
  }

  function render() {
    let est = null;
    try {
      est = app.checkEstimate();
    } catch (e) {
      app.error(e, "The check figure could not be computed");
    }
    metrics.textContent = est
      ? describeEstimate(est, app.checkBaseline())
      : "How much better? Set aside check records and answer their questions in step 4 (Train) to see it, measured on records you have not labelled.";
    clear(head);
    if (!target || !p.n) {
      head.append(h("p", {}, "Type a query, or choose a record (the Compare button in the Label list, or its number here)."));
      clear(rawCol);
      clear(tunedCol);
      return;
    }
    let anchorLabel = -1;
    if (target.record != null) {
      anchorLabel = p.labels[target.record];
      const name = p.labelName(target.record);
      head.append(h("p", { class: "compare-target" }, h("strong", {}, `#${target.record} `), h("span", { class: "text" }, p.texts[target.record]), " ", h("span", { class: `label${name ? "" : " none"}` }, name ?? "unlabelled")));
    } else head.append(h("p", {}, h("strong", {}, "Query: "), h("span", { class: "text" }, target.query)));
    let tuned = null;
    let tunedVec = target.vector;
    try {
      tuned = app.tunedIndex();
      if (tuned && target.vector) tunedVec = app.engine.SearchIndex.applyHead(p.head, target.vector);
    } catch (e) {
      app.error(e, "The trained head does not fit these embeddings");
      tuned = null;
    }
    column(rawCol, p.model.tuning ? "Raw (this encoder, itself tuned on labels)" : "Raw (frozen encoder)", app.rawIndex(), target.vector, anchorLabel);
    column(tunedCol, "Tuned (with your head)", tuned, tunedVec, anchorLabel);
  }

  for (const t of ["head", "embeddings", "settings", "check"]) p.addEventListener(t, () => !root.hidden && render());
  p.addEventListener("dataset", () => (target = null));

  return {
    show(opts) {
      kInput.value = p.settings.compareK;
      if (opts?.record != null) {
        target = { record: opts.record };
        recInput.value = opts.record;
      }
      render();
    },
  };
}
