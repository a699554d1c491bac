// The results card: a PNG and a Markdown snippet to post the work in public — dataset, model,
// labels used, the honest figure (the check's change in the same-label share of the top k on
// records nobody labelled, with its interval; nothing else claims "better"), the 2D map raw
// vs tuned (PCA, projection.rs) coloured by label, the date and the share link when the data
// came from a URL. Every text is drawn with fillText or set as a value: record data is never
// markup.
import { h, download, baseName } from "../dom.js";
import { describeGain } from "./check.js";
import { shareLink } from "../share.js";
import { PALETTE, colourOf, mapRows, bounds } from "./map.js";

const W = 1200;
const H = 630;
/** At most this many records on the card's maps (a seeded stride sample beyond). */
const MAP_POINTS = 4000;

/** The card's facts, from the project as it is now. */
export function cardFacts(app) {
  const p = app.project;
  const { labelled, classes } = p.counts();
  let est = null;
  try {
    est = app.checkEstimate();
  } catch {
    est = null;
  }
  const complete = est?.overall && !(est.pending_checks + est.unlabelled_checks);
  const source = p.file?.source ?? null;
  return {
    dataset: p.file?.name ?? "a dataset",
    records: p.n,
    model: p.model.id,
    labelNames: p.labelNames,
    labelled,
    classes,
    figure: complete ? { k: est.k, ...est.overall } : null,
    date: new Date().toISOString().slice(0, 10),
    link: source ? shareLink({ source, text: p.columns.text, label: p.columns.label }) : null,
  };
}

/** "The check says" line (or why there is none). */
export function figureLine(f) {
  return f.figure
    ? `Same-label share of the top ${f.figure.k}, on records nobody labelled: ${describeGain(f.figure)} with the tuned head`
    : "Not measured yet: the check (step 4) gives the figure once its records are answered";
}

/** Person-made text in Markdown: the characters that would make links, emphasis or HTML. */
const md = (s) => String(s).replace(/([\\`*_[\]<>|])/g, "\\$1");

export function cardMarkdown(f, png) {
  return [
    `**simtune**: similarity search tuned on ${md(f.dataset)} (${f.records.toLocaleString("en")} records) with ${md(f.model)}`,
    "",
    `- Labels: ${f.labelled} in ${f.classes} classes`,
    `- ${figureLine(f)}`,
    `- Date: ${f.date}`,
    f.link ? `- Data and labels: [open it in simtune](${f.link})` : "- Data: a local file (not shared)",
    "",
    `![simtune results card](${png})`,
    "",
  ].join("\n");
}

/** Draws the card; `maps` = {raw, tuned} (n * 2 coordinates of `rows`) or null. */
export function drawCard(canvas, f, maps, rows, labels) {
  canvas.width = W;
  canvas.height = H;
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#ffffff";
  ctx.fillRect(0, 0, W, H);
  ctx.fillStyle = "#1d2430";
  ctx.font = "bold 34px system-ui, sans-serif";
  ctx.fillText(fit(ctx, `Similarity search tuned on ${f.dataset}`, W - 80), 40, 62);
  ctx.font = "22px system-ui, sans-serif";
  ctx.fillStyle = "#3b4350";
  const lines = [
    `${f.records.toLocaleString("en")} records · model ${f.model} · ${f.labelled} labels in ${f.classes} classes`,
    figureLine(f),
  ];
  lines.forEach((t, i) => ctx.fillText(fit(ctx, t, W - 80), 40, 104 + 32 * i));
  // legend: the label names, in their colours (drawn as text, never markup)
  const names = f.labelNames ?? [];
  let lx = 40;
  ctx.font = "16px system-ui, sans-serif";
  for (const [i, name] of names.slice(0, PALETTE.length).entries()) {
    const t = fit(ctx, name, 160);
    if (lx + ctx.measureText(t).width + 24 > W - 40) break;
    ctx.fillStyle = colourOf(i);
    ctx.fillRect(lx, 160, 12, 12);
    ctx.fillStyle = "#3b4350";
    ctx.fillText(t, lx + 18, 172);
    lx += ctx.measureText(t).width + 40;
  }
  const top = 188;
  const bottom = H - 56;
  if (maps) {
    const pw = (W - 120) / 2;
    for (const [j, [title, xy]] of [["Raw embeddings (PCA)", maps.raw], ["Tuned with the head (PCA; coloured records trained it)", maps.tuned]].entries()) {
      const x0 = 40 + j * (pw + 40);
      ctx.strokeStyle = "#d5d9e0";
      ctx.strokeRect(x0, top, pw, bottom - top);
      ctx.fillStyle = "#59606b";
      ctx.font = "18px system-ui, sans-serif";
      ctx.fillText(title, x0 + 12, top + 26);
      scatter(ctx, xy, rows.map((r) => labels[r]), { x: x0 + 16, y: top + 40, w: pw - 32, h: bottom - top - 56 });
    }
  } else {
    ctx.fillStyle = "#59606b";
    ctx.fillText("(train a head to draw the maps)", 40, top + 40);
  }
  ctx.font = "16px system-ui, sans-serif";
  ctx.fillStyle = "#59606b";
  ctx.fillText(fit(ctx, `${f.date} · made with simtune, in the browser: the records never left the machine${f.link ? ` · ${f.link}` : ""}`, W - 80), 40, H - 22);
}

/** Points coloured by label (unlabelled grey, drawn first), scaled to the box. */
export function scatter(ctx, xy, labels, box) {
  const [x0, x1, y0, y1] = bounds(xy);
  const sx = box.w / (x1 - x0 || 1);
  const sy = box.h / (y1 - y0 || 1);
  const order = [...labels.keys()].sort((a, b) => (labels[a] >= 0) - (labels[b] >= 0));
  for (const i of order) {
    ctx.fillStyle = colourOf(labels[i]);
    const px = box.x + (x1 > x0 ? (xy[2 * i] - x0) * sx : box.w / 2);
    const py = box.y + box.h - (y1 > y0 ? (xy[2 * i + 1] - y0) * sy : box.h / 2);
    ctx.fillRect(px - 2, py - 2, 4, 4);
  }
}

function fit(ctx, text, width) {
  if (ctx.measureText(text).width <= width) return text;
  let t = text;
  while (t.length > 1 && ctx.measureText(`${t}…`).width > width) t = t.slice(0, -1);
  return `${t}…`;
}

export function createCardView(root, app) {
  const p = app.project;
  const make = h("button", { type: "button", id: "card-make" }, "Make a results card");
  const status = h("p", { class: "hint", id: "card-status", "aria-live": "polite" });
  const canvas = h("canvas", { id: "card-canvas", class: "card-canvas", width: W, height: H, hidden: true });
  const text = h("textarea", { id: "card-md", rows: 8, readonly: true, hidden: true, "aria-label": "Markdown of the results card" });
  const png = h("button", { type: "button", id: "card-png", hidden: true }, "Download PNG");
  const copy = h("button", { type: "button", id: "card-copy", hidden: true }, "Copy Markdown");
  root.append(
    h("h2", {}, "Share your results"),
    h("p", { class: "hint" }, "A picture and a Markdown snippet for a post: the dataset, the model, the labels, the check's figure (the only “how much better” this page claims) and the maps raw vs tuned. Record texts are not on it; label names are."),
    h("div", { class: "row" }, make, png, copy),
    status,
    canvas,
    text,
  );
  let facts = null;
  make.addEventListener("click", async () => {
    if (!p.n || !p.embedded) return app.notify("Open a dataset and wait for its embeddings first.", "error");
    make.disabled = true;
    status.textContent = "drawing the maps…";
    try {
      facts = cardFacts(app);
      const rows = mapRows(p.n, MAP_POINTS);
      let maps = null;
      if (p.head) {
        const [raw, tuned] = await app.mapCoords(rows, [null, p.head]);
        maps = { raw, tuned };
      }
      drawCard(canvas, facts, maps, rows, p.labels);
      canvas.hidden = false;
      text.value = cardMarkdown(facts, `${baseName(facts.dataset)}.card.png`);
      text.hidden = png.hidden = copy.hidden = false;
      Object.assign(canvas.dataset, facts.figure ? { gain: facts.figure.gain, low: facts.figure.low, high: facts.figure.high, checks: facts.figure.checks } : { gain: "" });
      status.textContent = `Card made${rows.length < p.n ? ` (maps of ${rows.length.toLocaleString("en")} of the ${p.n.toLocaleString("en")} records)` : ""}.`;
    } catch (e) {
      status.textContent = "";
      app.error(e, "The card could not be made");
    } finally {
      make.disabled = false;
    }
  });
  png.addEventListener("click", () =>
    canvas.toBlob((blob) => {
      const name = `${baseName(facts?.dataset ?? "simtune")}.card.png`;
      download(blob, name);
      app.notify(`Saved ${name}.`);
    }, "image/png"),
  );
  copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(text.value);
      app.notify("The card's Markdown is on the clipboard.");
    } catch {
      text.select();
      app.notify("Select the Markdown and copy it (the clipboard is not available here).");
    }
  });
  // a card describes the project as it was: hide it when the project changes
  for (const t of ["labels", "head", "check", "dataset"]) {
    p.addEventListener(t, () => {
      if (canvas.hidden) return;
      canvas.hidden = text.hidden = png.hidden = copy.hidden = true;
      status.textContent = "The project changed since the card was made: make it again.";
    });
  }
}
