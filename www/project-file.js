// Export / import of the project as one JSON file: labels by record text + index, settings,
// the check set (records + judgments, by text + index), the head as base64 safetensors.
// Import matches records by index when the text agrees, else by text.
const FORMAT = "simtune-project";

function toBase64(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}
function fromBase64(b64) {
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

export function exportProject(app) {
  const p = app.project;
  if (!p.n) throw new Error("there is no project to export yet: open a dataset first");
  const labels = [];
  p.labels.forEach((l, i) => {
    if (l >= 0) labels.push({ index: i, text: p.texts[i], label: p.labelNames[l] });
  });
  const doc = {
    format: FORMAT,
    version: 1,
    exported: new Date().toISOString(),
    dataset: { name: p.file?.name, records: p.n, key: p.datasetKey, columns: p.columns },
    model: { id: p.model.id, kind: p.model.kind },
    labelNames: p.labelNames,
    labels,
    settings: p.settings,
    trainConfig: p.trainConfig,
    check: {
      records: p.check.records.map((i) => ({ index: i, text: p.texts[i] })),
      labels: [...p.check.labels].map(([i, l]) => ({ index: i, text: p.texts[i], label: p.labelNames[l] })),
      not: p.check.not.map(([i, l]) => ({ index: i, text: p.texts[i], label: p.labelNames[l] })),
    },
    head: p.head ? toBase64(p.head) : null,
  };
  const blob = new Blob([JSON.stringify(doc, null, 1)], { type: "application/json" });
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = `${(p.file?.name ?? "project").replace(/\.[^.]+$/, "")}.simtune.json`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

export async function importProject(app, file) {
  const p = app.project;
  if (!p.n) throw new Error("open the project's dataset first, then import its labels");
  let doc;
  try {
    doc = JSON.parse(await file.text());
  } catch (e) {
    throw new Error(`not a JSON file (${e.message})`);
  }
  if (doc?.format !== FORMAT || !Array.isArray(doc.labels)) throw new Error("not a simtune project file");
  const byText = new Map();
  p.texts.forEach((t, i) => byText.has(t) || byText.set(t, i));
  const names = [];
  const labels = new Int32Array(p.n).fill(-1);
  let missing = 0;
  const find = (entry) => (Number.isInteger(entry?.index) && p.texts[entry.index] === entry.text ? entry.index : byText.get(entry?.text));
  const nameId = (label) => {
    const name = String(label ?? "").trim();
    if (!name) return -1;
    const id = names.indexOf(name);
    return id < 0 ? names.push(name) - 1 : id;
  };
  for (const entry of doc.labels) {
    if (!String(entry.label ?? "").trim()) continue;
    const i = find(entry);
    if (i === undefined) {
      missing++;
      continue;
    }
    labels[i] = nameId(entry.label);
  }
  const pairs = (list) =>
    (Array.isArray(list) ? list : []).map((e) => [find(e), nameId(e?.label)]).filter(([i, l]) => i !== undefined && l >= 0);
  const check = {
    records: (Array.isArray(doc.check?.records) ? doc.check.records : []).map(find).filter((i) => i !== undefined),
    labels: pairs(doc.check?.labels),
    not: pairs(doc.check?.not),
  };
  for (const n of doc.labelNames ?? []) if (!names.includes(n)) names.push(String(n));
  p.labelNames = names;
  p.labels = labels;
  p.history = [];
  if (doc.settings) p.settings = { ...p.settings, ...doc.settings };
  if (doc.trainConfig) p.trainConfig = doc.trainConfig;
  p.loadCheck(check);
  p.head = doc.head ? fromBase64(doc.head) : null;
  p.emit("labels");
  p.emit("settings");
  p.emit("head");
  const n = doc.labels.length - missing;
  app.notify(`Imported ${n} labels${missing ? ` (${missing} records not found in this dataset)` : ""}${p.head ? " and the trained head" : ""}.`);
}
