// Open: drop or pick a file (CSV, TSV, JSON, JSONL), preview it, choose the text column(s)
// and an optional label column; or try the Banking77 sample. Also the model picker.
import { h, clear } from "../dom.js";
import { DEFAULT_MODEL, hubModel, cacheFolder, ensureCached, modelName, tuningSentence } from "../model.js";
import { checkShareUrl, shareLink, fileName } from "../share.js";
import { importProject } from "../project-file.js";
import { memoryWarning } from "../memory.js";

const MAX_FILE_BYTES = 100 * 1024 * 1024;
const SAMPLE_LOCAL = "data/banking77_test.csv";
const SAMPLE_PUBLIC = "https://raw.githubusercontent.com/PolyAI-LDN/task-specific-datasets/master/banking_data/test.csv";
const LABEL_GUESSES = ["label", "labels", "category", "categories", "intent", "class", "target", "topic", "tag", "tags", "sentiment", "emotion", "stance", "type", "genre", "group", "newsgroup", "role", "result", "outcome", "polarity", "gold", "annotation", "classification"];
/** A column name that reads as labels: one of LABEL_GUESSES, or one that ends in "_label",
 * "-class", " category" and the like ("gold_label", "coarse-label"; "label_text" does not). */
function labelLike(name) {
  const n = name.toLowerCase().trim();
  return LABEL_GUESSES.includes(n) || /[_\- ](label|labels|class|category|intent|sentiment)$/.test(n);
}

/** Rows read for the preview: enough to see whether a column's values repeat (labels do);
 * the table shows the first few. */
const PREVIEW_ROWS = 200;
const PREVIEW_SHOWN = 5;

/** A column (not `skip`) whose values look like labels though its name does not say so: at
 * least 20 filled cells among the preview rows, short values (under 40 characters on
 * average), 2 or more distinct ones, each used 4 times on average. Null when none; the first
 * such column otherwise, with its distinct values. */
function repeatingColumn(table, skip) {
  for (const [i, c] of table.columns.entries()) {
    if (skip.includes(c)) continue;
    const values = table.rows.map((r) => String(r[i] ?? "").trim()).filter((v) => v !== "");
    if (values.length < 20) continue;
    const distinct = [...new Set(values)];
    const meanLength = values.reduce((a, v) => a + v.length, 0) / values.length;
    if (meanLength < 40 && distinct.length >= 2 && distinct.length * 4 <= values.length) return { column: c, values: distinct, rows: values.length };
  }
  return null;
}

function size(n) {
  return n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : `${Math.ceil(n / 1e3)} kB`;
}

/** What the page says of a file read as Windows-1252 (parse.rs: a CSV or TSV that is not
 * UTF-8), above its columns and again after a big file's full read. */
export function notUtf8Note(name) {
  return `${name} is not UTF-8, so it was read as Windows-1252 (what Excel saves as “CSV” on Windows). If letters look wrong, save it as “CSV UTF-8” and open it again.`;
}

export function createOpenView(root, app) {
  let pending = null; // {file, name, table, source}

  const fileInput = h("input", { type: "file", id: "file-input", accept: ".csv,.tsv,.json,.jsonl,.txt,text/csv,application/json" });
  const drop = h(
    "div",
    { class: "dropzone", id: "dropzone" },
    h("p", { class: "big" }, "Drop a dataset here"),
    h("p", {}, "CSV, TSV, JSON or JSONL, up to 100 MB. It stays in this browser."),
    h("label", { for: "file-input", class: "field" }, "…or pick a file: ", fileInput),
  );
  const sampleBtn = h("button", { type: "button", id: "sample" }, "Try a sample (Banking77)");
  const fileMsg = h("p", { class: "msg", id: "open-message", "aria-live": "polite" });
  const linkBox = h("section", { class: "card", id: "link-prompt", hidden: true });
  const shareInput = h("input", { type: "text", id: "share-link", readonly: true, spellcheck: false });
  const shareBox = h(
    "div",
    { class: "row", id: "share-box", hidden: true },
    h("label", { for: "share-link" }, "Share link (opens this dataset with these columns):"),
    shareInput,
    h("button", {
      type: "button",
      id: "share-copy",
      onclick: async () => {
        shareInput.select();
        try {
          await navigator.clipboard.writeText(shareInput.value);
          fileMsg.textContent = "Link copied.";
        } catch {
          fileMsg.textContent = "Select the link and copy it (the browser did not allow copying).";
        }
        fileMsg.dataset.kind = "info";
      },
    }, "Copy share link"),
  );
  const preview = h("div", { class: "preview", id: "preview" });

  // model picker
  const modelNow = h("p", { id: "model-now" });
  const modelTuning = h("p", { class: "hint", id: "model-tuning" });
  const modelMsg = h("p", { class: "msg", id: "model-message", "aria-live": "polite" });
  const hubInput = h("input", { type: "text", id: "hub-id", placeholder: "e.g. sentence-transformers/all-MiniLM-L12-v2", spellcheck: false });
  const folderInput = h("input", { type: "file", id: "model-folder", webkitdirectory: true, multiple: true });
  const precision = h(
    "select",
    { id: "precision" },
    h("option", { value: "int8" }, "int8: faster, embeddings within 1% of f32"),
    h("option", { value: "f32" }, "f32: exact, slower"),
  );
  precision.addEventListener("change", async () => {
    const want = precision.value;
    if (app.project.head && !confirm(`Embed the records again in ${want}? The trained head is set aside (it was trained on ${app.project.precision} embeddings): train again.`)) {
      precision.value = app.project.precision;
      return;
    }
    await app.setPrecision(want);
    modelMsg.textContent = app.project.n ? `Records are embedded again in ${want}.` : `Records will be embedded in ${want}.`;
  });
  const modelBox = h(
    "section",
    { class: "card", "aria-labelledby": "model-h" },
    h("h2", { id: "model-h" }, "Model"),
    modelNow,
    modelTuning,
    h(
      "div",
      { class: "row" },
      h("button", { type: "button", id: "model-default", onclick: () => pick(async () => ({ ...DEFAULT_MODEL })) }, "Use the default"),
    ),
    h(
      "form",
      { class: "row", onsubmit: (e) => (e.preventDefault(), pick(async () => hubModel(hubInput.value))) },
      h("label", { for: "hub-id" }, "Hugging Face model id"),
      hubInput,
      h("button", { type: "submit" }, "Use"),
    ),
    h("div", { class: "row" }, h("label", { for: "model-folder" }, "…or a model folder from your disk: "), folderInput),
    h("div", { class: "row" }, h("label", { for: "precision" }, "Arithmetic "), precision),
    modelMsg,
  );

  // the first screen says what this is and how it goes, until a dataset is open
  const intro = h(
    "section",
    { class: "intro", id: "intro" },
    h("p", {}, h("strong", {}, "simtune makes “find similar” work the way you mean it, on your own records: "), "a sentence encoder embeds them in this tab, you label a few dozen, and a small head learns that records with the same label belong together."),
    h(
      "ol",
      { class: "intro-steps" },
      h("li", {}, h("strong", {}, "Open"), " a dataset (it never leaves this browser)"),
      h("li", {}, h("strong", {}, "Label"), " 20–50 records by keyboard"),
      h("li", {}, h("strong", {}, "Similar"), ": label a record’s neighbours in bulk"),
      h("li", {}, h("strong", {}, "Train"), " the head in a second, and check it honestly"),
      h("li", {}, h("strong", {}, "Compare"), " raw and tuned search, then export or share"),
    ),
  );
  const showIntro = () => (intro.hidden = app.project.n > 0);
  app.project.addEventListener("dataset", showIntro);
  showIntro();
  root.append(
    intro,
    linkBox,
    h(
      "div",
      { class: "grid-2" },
      h(
        "section",
        { class: "card", "aria-labelledby": "data-h" },
        h("h2", { id: "data-h" }, "Dataset"),
        drop,
        h("div", { class: "row" }, sampleBtn, h("span", { class: "hint" }, "Banking77 by PolyAI (Casanueva et al., 2020), CC BY 4.0")),
        fileMsg,
        shareBox,
      ),
      modelBox,
    ),
    preview,
  );

  function showModel() {
    modelNow.textContent = `Now: ${modelName(app.project.model)}, ${app.project.precision}`;
    modelTuning.textContent = tuningSentence(app.project.model.tuning);
    modelTuning.hidden = !app.project.model.tuning;
    precision.value = app.project.precision;
  }
  function showShare() {
    const f = app.project.file;
    shareBox.hidden = !f?.source;
    if (f?.source) shareInput.value = shareLink({ source: f.source, text: app.project.columns.text, label: app.project.columns.label });
  }
  app.project.addEventListener("settings", showModel);
  app.project.addEventListener("dataset", showModel);
  app.project.addEventListener("dataset", showShare);
  showModel();

  async function pick(make) {
    modelMsg.textContent = "";
    try {
      const model = await make();
      modelMsg.textContent = "checking the model files…";
      await ensureCached(model, (s) => (modelMsg.textContent = s));
      // the model must load (weights complete, shapes as its config says) before it replaces
      // the one in use
      modelMsg.textContent = "loading the model once to check it…";
      await app.reader.call("checkModel", { base: model.base });
      await app.setModel(model);
      showModel();
      modelMsg.textContent = `${modelName(model)} is ready${app.project.n ? "; records are embedded again with it" : ""}.`;
      app.clearNoticeOf("Model not changed"); // an earlier refusal no longer holds
    } catch (e) {
      modelMsg.textContent = `Model not changed: ${e.message}`;
      app.error(e, "Model not changed");
    }
  }
  folderInput.addEventListener("change", () => {
    const files = [...folderInput.files];
    folderInput.value = "";
    pick(() => cacheFolder(files));
  });

  async function openFile(file) {
    fileMsg.textContent = "";
    if (file.size > MAX_FILE_BYTES) {
      throw new Error(`${file.name} is ${size(file.size)}: simtune takes files up to 100 MB (split it or keep a sample)`);
    }
    await openBlob(file, file.name);
  }
  /** Previews `file` (a File or Blob) in a worker: only its head when it is big. */
  async function openBlob(file, name, source = null) {
    let table;
    pending = null;
    clear(preview);
    fileMsg.textContent = `reading ${name}…`;
    fileMsg.dataset.kind = "info";
    try {
      table = await app.previewFile(file, name, PREVIEW_ROWS);
    } catch (e) {
      pending = null;
      clear(preview);
      throw e;
    }
    fileMsg.textContent = "";
    if (!table.total_rows) throw new Error(`${name} has a header but no records`);
    pending = { file, name, table, source };
    renderPreview();
  }
  function fail(e, name) {
    const msg = `Could not open ${name}: ${e.message ?? e}`;
    fileMsg.textContent = msg;
    fileMsg.dataset.kind = "error";
    app.error(e, `Could not open ${name}`);
  }

  fileInput.addEventListener("change", () => {
    const f = fileInput.files[0];
    fileInput.value = "";
    if (f) openFile(f).catch((e) => fail(e, f.name));
  });
  for (const ev of ["dragenter", "dragover"]) {
    document.addEventListener(ev, (e) => {
      if (!e.dataTransfer?.types?.includes("Files")) return;
      e.preventDefault();
      drop.classList.add("over");
    });
  }
  document.addEventListener("dragleave", (e) => {
    if (!e.relatedTarget) drop.classList.remove("over");
  });
  document.addEventListener("drop", (e) => {
    const f = e.dataTransfer?.files?.[0];
    if (!f) return;
    e.preventDefault();
    drop.classList.remove("over");
    app.show("open");
    openFile(f).catch((err) => fail(err, f.name));
  });

  sampleBtn.addEventListener("click", async () => {
    fileMsg.textContent = "fetching the sample…";
    try {
      let r = await fetch(SAMPLE_LOCAL).catch(() => null);
      let name = "banking77_test.csv";
      if (!r?.ok) {
        r = await fetch(SAMPLE_PUBLIC, { credentials: "omit" }).catch(() => null);
        if (!r?.ok) throw new Error("the sample is not on this site and raw.githubusercontent.com could not be reached (offline?)");
        name = "banking77_test (PolyAI).csv";
      }
      const blob = await r.blob();
      fileMsg.textContent = "";
      await openBlob(blob, name);
    } catch (e) {
      fail(e, "the sample");
    }
  });

  function renderPreview() {
    clear(preview);
    if (!pending) return;
    const { table, name } = pending;
    const suggested = table.suggested_text_column ?? table.columns[0];
    // a file without a header line: the column whose value came back is a label column
    const echoed = table.headerless ? table.columns[table.headerless.column] : undefined;
    const named = table.columns.find((c) => labelLike(c) && c !== suggested) ?? (echoed !== suggested ? echoed : undefined) ?? "";
    // a label-like name over empty cells (a column left for the person to fill) is not
    // proposed: importing it would import nothing
    const at = table.columns.indexOf(named);
    const filled = at >= 0 && table.rows.some((r) => String(r[at] ?? "").trim() !== "");
    const labelGuess = filled ? named : "";
    const emptyNote =
      named && !filled
        ? h("p", { class: "hint", id: "label-col-empty" }, `“${named}” is empty in the first rows, so no label column is picked: pick it if later rows hold labels.`)
        : null;
    // no column named like labels: one whose values repeat is named, not picked (a column of
    // authors or countries repeats too, and importing the wrong one would label every record)
    const repeating = named ? null : repeatingColumn(table, [suggested]);
    const repeatNote = repeating
      ? h(
          "p",
          { class: "hint", id: "label-col-hint" },
          `“${repeating.column}” may hold labels: its first ${repeating.rows} rows hold only ${repeating.values.length} different values (${repeating.values.slice(0, 3).join(", ")}${repeating.values.length > 3 ? ", …" : ""}). Pick it above to import them as labels, or label the records yourself.`,
        )
      : null;
    const textBoxes = table.columns.map((c, i) =>
      h("label", { class: "check" }, h("input", { type: "checkbox", name: "text-col", value: c, checked: c === suggested, id: `text-col-${i}` }), c),
    );
    const labelSel = h(
      "select",
      { id: "label-col" },
      h("option", { value: "" }, "(none: I label myself)"),
      table.columns.map((c) => h("option", { value: c, selected: c === labelGuess }, c)),
    );
    const useBtn = h("button", { type: "submit", id: "use-columns", class: "primary" }, "Use these columns");
    const form = h(
      "form",
      { class: "card", id: "columns-form" },
      h("h2", {}, `${name}: ${table.partial ? "about " : ""}${table.total_rows.toLocaleString("en")} records (${table.format.toUpperCase()}${table.delimiter && !",\t".includes(table.delimiter) ? `, fields separated by “${table.delimiter}”` : ""})`),
      table.decoded_from === "Windows-1252" ? h("p", { class: "hint", id: "encoding-note" }, notUtf8Note(name)) : null,
      table.headerless
        ? h(
            "p",
            { class: "hint", id: "headerless-note" },
            `No header line: line 1 reads as a record (“${table.headerless.value}” in column ${table.headerless.column + 1} is also a value of that column on line ${table.headerless.line}), so it is kept as one and the columns are numbered.`,
          )
        : null,
      table.records_under
        ? h("p", { class: "hint", id: "records-under-note" }, `The file is one object: its records are the array under “${table.records_under}”.`)
        : null,
      table.pandas_orient
        ? h(
            "p",
            { class: "hint", id: "pandas-note" },
            `Read as a pandas DataFrame saved with to_json() (${table.pandas_orient === "columns" ? "one object per column, keyed by the row number" : "one object per row, keyed by the row number"}).`,
          )
        : null,
      table.partial ? h("p", { class: "hint" }, "A big file: the preview reads its first megabyte; every record is read when you use the columns.") : null,
      ((warning) => (warning ? h("p", { class: "warning", id: "memory-warning", role: "alert" }, warning) : null))(memoryWarning(table.total_rows, app.project.dim || undefined)),
      h("fieldset", {}, h("legend", {}, "Text column(s) — several are joined with “. ”"), textBoxes),
      h("div", { class: "row" }, h("label", { for: "label-col" }, "Label column (optional, imported as labels)"), labelSel),
      emptyNote,
      repeatNote,
      h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          { class: "preview-table" },
          h("caption", {}, "First rows"),
          h("thead", {}, h("tr", {}, table.columns.map((c) => h("th", { scope: "col" }, c)))),
          h("tbody", {}, table.rows.slice(0, PREVIEW_SHOWN).map((r) => h("tr", {}, r.map((cell) => h("td", {}, cell))))),
        ),
      ),
      h("div", { class: "row" }, useBtn),
    );
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const text = [...form.querySelectorAll("input[name=text-col]:checked")].map((x) => x.value);
      if (!text.length) return app.notify("Choose at least one text column.", "error");
      useBtn.disabled = true;
      try {
        useBtn.textContent = "Reading every record…";
        await app.useDataset(pending.file, pending.name, { text, label: labelSel.value || null }, pending.source);
      } catch (err) {
        fail(err, pending.name);
      } finally {
        useBtn.disabled = false;
        useBtn.textContent = "Use these columns";
      }
    });
    preview.append(form);
  }

  /** A share link: says what would be downloaded, and downloads it only when asked. */
  function offerLink(link) {
    clear(linkBox);
    linkBox.hidden = false;
    let url;
    let project = null;
    try {
      url = checkShareUrl(link.data);
      if (link.project) project = checkShareUrl(link.project, "a project file");
    } catch (e) {
      linkBox.append(h("h2", {}, "This link cannot be opened"), h("p", { class: "msg", id: "link-error", dataset: { kind: "error" } }, e.message), h("button", { type: "button", onclick: () => (linkBox.hidden = true) }, "Close"));
      return;
    }
    const cols = link.text.length ? `text column${link.text.length > 1 ? "s" : ""} ${link.text.join(", ")}${link.label ? `, labels from ${link.label}` : ""}` : "columns chosen by you after the download";
    const go = h("button", { type: "button", class: "primary", id: "link-open" }, "Download and open");
    linkBox.append(
      h("h2", {}, "Open the dataset of this link?"),
      h("p", {}, "It downloads ", h("code", { id: "link-url" }, url.href), ` from ${url.host} (${cols})${project ? ", then the project file " : ""}`, project ? h("code", {}, project.href) : null, "."),
      h("p", { class: "hint" }, "Nothing is downloaded until you say so. The records stay in this tab: they are never uploaded anywhere."),
      h("div", { class: "row" }, go, h("button", { type: "button", onclick: () => (linkBox.hidden = true) }, "Not now")),
    );
    go.addEventListener("click", async () => {
      go.disabled = true;
      const name = fileName(url);
      try {
        fileMsg.textContent = `downloading ${url.href}…`;
        const r = await fetch(url.href, { credentials: "omit" });
        if (!r.ok) throw new Error(`HTTP ${r.status} for ${url.href}`);
        const blob = await r.blob();
        if (blob.size > MAX_FILE_BYTES) throw new Error(`${name} is ${size(blob.size)}: simtune takes files up to 100 MB`);
        linkBox.hidden = true;
        await openBlob(blob, name, url.href);
        if (link.text.length) {
          await app.useDataset(blob, name, { text: link.text, label: link.label }, url.href);
          if (project) {
            const pr = await fetch(project.href, { credentials: "omit" });
            if (!pr.ok) throw new Error(`HTTP ${pr.status} for ${project.href}`);
            await importProject(app, new File([await pr.blob()], fileName(project)));
          }
        }
      } catch (e) {
        go.disabled = false;
        fail(e, name);
      }
    });
  }

  return {
    show() {},
    offerLink,
  };
}
