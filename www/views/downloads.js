// Downloads: the work in files other tools read. Raw and tuned embeddings as NumPy .npy
// (float32, row i = record i), the head as .safetensors (the CLI's --head reads it; its
// formula is in the file's metadata, see the README for three lines of numpy), and the
// labels as CSV with every record's predicted label and confidence (predict.rs: a
// similarity-weighted vote of its 10 nearest labelled records, tuned space when trained).
import { h, download, baseName } from "../dom.js";
import { toNpy } from "../../pkg/simtune.js";
import { PREDICT_K } from "../predict.js";

function csvField(s) {
  const t = String(s ?? "");
  return /[",\n\r]/.test(t) ? `"${t.replace(/"/g, '""')}"` : t;
}

export function createDownloadsView(root, app) {
  const p = app.project;
  const base = () => baseName(p.file?.name ?? "simtune");
  const saved = (name, what) => app.notify(`Saved ${name}: ${what}.`);
  const button = (id, text, run) =>
    h("button", {
      type: "button",
      id,
      onclick: async () => {
        try {
          await run();
        } catch (e) {
          app.error(e, `Could not write ${text}`);
        }
      },
    }, text);

  const raw = button("download-raw", "Raw embeddings (.npy)", () => {
    const idx = app.rawIndex();
    if (!idx) throw new Error("the records are not embedded yet");
    const name = `${base()}.raw.npy`;
    download(new Blob([toNpy(idx.toArray(), idx.dim())]), name);
    saved(name, `${idx.rows()} x ${idx.dim()} float32, row i = record i (numpy.load reads it)`);
  });
  const tuned = button("download-tuned", "Tuned embeddings (.npy)", () => {
    const idx = app.tunedIndex();
    if (!idx) throw new Error("train a head first");
    const name = `${base()}.tuned.npy`;
    download(new Blob([toNpy(idx.toArray(), idx.dim())]), name);
    saved(name, `${idx.rows()} x ${idx.dim()} float32, the head applied and L2-normalised`);
  });
  const head = button("download-head", "Head (.safetensors)", () => {
    if (!p.head) throw new Error("train a head first");
    const name = `${base()}.head.safetensors`;
    download(new Blob([p.head]), name);
    saved(name, "the trained head; `simtune search --head` reads it, its formula is in the metadata");
  });
  const labels = button("download-labels", "Labels + predictions (.csv)", async () => {
    const idx = app.tunedIndex() ?? app.rawIndex();
    if (!idx) throw new Error("the records are not embedded yet");
    const pred = await app.predictions(idx);
    if (!pred) throw new Error("the embeddings or the head changed while the labels were predicted: try again");
    const rows = [["index", "text", "label", "predicted_label", "confidence", "check_record"].join(",")];
    for (let i = 0; i < p.n; i++) {
      const l = pred.label[i];
      rows.push([i, csvField(p.texts[i]), csvField(p.labelName(i)), csvField(l >= 0 ? p.labelNames[l] : ""), l >= 0 ? pred.confidence[i].toFixed(4) : "", p.isCheck(i) ? 1 : 0].join(","));
    }
    const name = `${base()}.labels.csv`;
    download(new Blob([rows.join("\n") + "\n"], { type: "text/csv" }), name);
    saved(name, `${p.n} records with their label, the label predicted from the ${PREDICT_K} nearest labelled records (${app.tunedIndex() ? "tuned" : "raw"} space) and its confidence`);
  });

  root.append(
    h("h2", {}, "Take your work away"),
    h("p", { class: "hint" }, "Files numpy, the CLI and spreadsheets read. (The whole project — labels, check, head, settings — is the header's Export.)"),
    h("div", { class: "row" }, raw, tuned, head, labels),
  );
  const refresh = () => {
    raw.disabled = !p.embedded;
    labels.disabled = !p.embedded;
    tuned.disabled = head.disabled = !p.head || !p.embedded;
  };
  for (const t of ["embeddings", "head", "dataset"]) p.addEventListener(t, refresh);
  refresh();
}
