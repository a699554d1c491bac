// The bad-input corpus (issue 10): files a person may drop by mistake or that arrive mangled,
// generated here (never committed: some are large) into target/bad-input/, with a manifest
// that tests/bad_input.rs (the CLI) and tests/e2e/bad-input.test.mjs (the page) both read.
//
// Every entry says what must happen: it loads (`expect` null; `records`/`classes` say what
// comes out) or it fails with a message holding every string of `expect` (case-insensitive). Messages must name the file and, where there is
// one, the line or field — never a panic, never a silent success on garbage.
//
// Usage: node tests/corpus/make.mjs [out-dir]   (prints the manifest path)
import { mkdirSync, writeFileSync, existsSync, statSync, readFileSync, rmSync } from "node:fs";
import { join, dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const OUT = resolve(process.argv[2] ?? join(ROOT, "target/bad-input"));
mkdirSync(OUT, { recursive: true });

const enc = new TextEncoder();
/** Writes `bytes` unless the file already holds them (big files: compared by size only). */
function put(path, bytes) {
  if (existsSync(path) && statSync(path).size === bytes.length && (bytes.length > 1 << 20 || Buffer.compare(readFileSync(path), Buffer.from(bytes)) === 0)) return;
  writeFileSync(path, bytes);
}
const entries = [];
/** A dataset file: `expect` is null when it must load (then `records`/`classes` say what). */
function data(file, bytes, { what, expect = null, records, classes, train = null, text = "text", label = "label", cli = true, page = true }) {
  const path = join(OUT, file);
  put(path, bytes);
  entries.push({ kind: "dataset", file, what, expect, records, classes, train, text, label, cli, page });
}
const utf8 = (s) => enc.encode(s);
function utf16(s, le) {
  const out = new Uint8Array(2 + s.length * 2);
  out.set(le ? [0xff, 0xfe] : [0xfe, 0xff]);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    out[2 + 2 * i + (le ? 0 : 1)] = c & 0xff;
    out[2 + 2 * i + (le ? 1 : 0)] = c >> 8;
  }
  return out;
}
const good = "text,label\nmy card was declined,card\nwhere is my transfer,transfer\ncard stuck in the atm,card\n";

// ---- CSV that is broken ------------------------------------------------------------------
data("unclosed-quote.csv", utf8('text,label\n"my card was declined,card\nwhere is my transfer,transfer\n'), {
  what: "a quote opened on line 2 and never closed",
  expect: ["unclosed-quote.csv", "line 2", "never closed"],
});
data("ragged-rows.csv", utf8("text,label\nmy card,card\nwhere is it,transfer,extra\nok,card\n"), {
  what: "line 3 has 3 fields under a 2-column header",
  expect: ["ragged-rows.csv", "line 3", "expected 2 fields", "found 3"],
});
data("stray-cr.csv", utf8("text,label\nmy card\rwas declined,card\nwhere is my transfer,transfer\n"), {
  what: "a lone carriage return inside an unquoted record",
  expect: ["stray-cr.csv", "line 2", "carriage return"],
});
data("nul-bytes.csv", utf8("text,label\nmy card\u0000 was declined,card\nwhere is\u0000\u0000 my transfer,transfer\n"), {
  what: "NUL bytes inside records (a binary file?)",
  expect: ["nul-bytes.csv", "line 2", "NUL byte"],
});
// ---- encodings ---------------------------------------------------------------------------
data("utf16le.csv", utf16(good, true), { what: "UTF-16 little-endian with its BOM", expect: null, records: 3, classes: 2 });
data("utf16be.csv", utf16(good, false), { what: "UTF-16 big-endian with its BOM", expect: null, records: 3, classes: 2 });
// not UTF-8: read as Windows-1252 (Excel's "CSV" on Western Windows; Latin-1 prints the same)
data("latin1.csv", Uint8Array.from([...utf8("text,label\nmy card was declined,card\ncaf"), 0xe9, ...utf8(" near the bank,place\n")]), {
  what: "Latin-1 (é as byte 0xE9)",
  expect: null,
  records: 2,
  classes: 2,
});
// UTF-8 elsewhere (é as 0xC3 0xA9), one damaged byte: an error naming its line, not a re-read
data("damaged-utf8.csv", Uint8Array.from([...utf8("text,label\ncafé near the bank,place\nbad "), 0xff, ...utf8(" byte,card\n")]), {
  what: "UTF-8 with a damaged byte",
  expect: ["damaged-utf8.csv", "line 3", "UTF-8", "damaged"],
});
data("bom.csv", Uint8Array.from([0xef, 0xbb, 0xbf, ...utf8(good)]), { what: "a UTF-8 BOM before the header", expect: null, records: 3, classes: 2 });
// ---- empty and degenerate ----------------------------------------------------------------
data("empty.csv", new Uint8Array(0), { what: "an empty file", expect: ["empty.csv", "file is empty"] });
data("header-only.csv", utf8("text,label\n"), { what: "a header and no records", expect: ["header-only.csv", "no records"] });
{
  const n = 100_000;
  const header = Array.from({ length: n }, (_, i) => (i === 0 ? "text" : i === 1 ? "label" : `c${i}`)).join(",");
  const row = Array.from({ length: n }, (_, i) => (i === 0 ? "my card was declined" : i === 1 ? "card" : "")).join(",");
  data("wide-100k-columns.csv", utf8(`${header}\n${row}\n${row.replace("my card", "your card").replace(",card,", ",cash,")}\n`), {
    what: "rows of 100,000 columns",
    expect: ["wide-100k-columns.csv", "100000 columns", "at most 1000"],
  });
}
data("one-record-10mb.csv", utf8(`text,label\n"${"lorem ipsum dolor sit amet ".repeat(400_000)}",long\nshort one,short\n`), {
  what: "one record of 10 MB (the model reads its first 256 tokens)",
  expect: null, records: 2, classes: 2,
});
// ---- JSON / JSONL ------------------------------------------------------------------------
data("not-an-array.json", utf8('{"text": "my card", "label": "card"}'), {
  what: "JSON that is one object, not an array of records",
  expect: ["not-an-array.json", "array of records"],
});
data("bad-line.jsonl", utf8('{"text":"my card","label":"card"}\n{"text":"where is it","label":"transfer"}\n{"text": "oops",\n{"text":"atm","label":"card"}\n'), {
  what: "JSONL whose line 3 is not JSON",
  expect: ["bad-line.jsonl", "line 3", "invalid JSON"],
});
data("odd-labels.json", utf8(JSON.stringify([
  { text: "my card was declined", label: 1 },
  { text: "where is my transfer", label: 2 },
  { text: "card stuck", label: null },
  { text: "atm ate it", label: { class: "card" } },
])), {
  // the object's field becomes its own column ("label.class"), so "label" is empty there
  what: "labels that are numbers, null and an object",
  expect: null, records: 4, classes: 2,
});
data("wrapped.json", utf8(JSON.stringify({ version: 1, data: [
  { text: "my card was declined", meta: { label: "card" } },
  { text: "where is my transfer", meta: { label: "transfer" } },
  { text: "card stuck in the atm", meta: { label: "card" } },
] })), {
  what: "one object whose array holds the records, labels in a nested field",
  expect: null, records: 3, classes: 2, label: "meta.label",
});
data("pandas.json", utf8(JSON.stringify({
  text: { 0: "my card was declined", 1: "where is my transfer", 2: "card stuck in the atm" },
  label: { 0: "card", 1: "transfer", 2: "card" },
})), {
  what: "a pandas DataFrame saved with df.to_json() (one object per column)",
  expect: null, records: 3, classes: 2,
});
data("two-arrays.json", utf8(JSON.stringify({ train: [{ text: "my card", label: "card" }], test: [{ text: "atm", label: "card" }] })), {
  what: "one object holding two arrays of records",
  expect: ["two-arrays.json", "2 arrays of records", "\"train\"", "\"test\""],
});
data("number-labels.json", utf8(JSON.stringify([
  { text: "my card was declined", label: 1 },
  { text: "where is my transfer", label: 2 },
  { text: "card stuck", label: null },
  { text: "atm ate it", label: 1 },
])), { what: "labels that are numbers and null (null: unlabelled)", expect: null, records: 4, classes: 2 });
// ---- classes and duplicates --------------------------------------------------------------
data("one-class.csv", utf8("text,label\nmy card was declined,card\ncard stuck in the atm,card\nnew card please,card\n"), {
  what: "every record has the same label",
  expect: null, records: 3, classes: 1,
  train: ["one-class.csv", "one class only", "nothing to learn"],
});
{
  let s = "text,label\n";
  for (let i = 0; i < 10_000; i++) s += `record number ${i} about topic ${i},topic ${i}\n`;
  data("classes-10000.csv", utf8(s), { what: "10,000 classes of one record each", expect: null, records: 10_000, classes: 10_000 });
}
data("duplicate-texts.csv", utf8("text,label\nmy card,card\nmy card,card\nmy card,transfer\nwhere is it,transfer\n"), {
  what: "the same text three times, once with another label",
  expect: null, records: 4, classes: 2,
});
// ---- not text at all ---------------------------------------------------------------------
data("spreadsheet.csv", Uint8Array.from([0x50, 0x4b, 0x03, 0x04, 0x14, 0x00, 0x06, 0x00, ...utf8("[Content_Types].xml"), 0, 0, 0x88, 0x99]), {
  what: "an Excel workbook renamed .csv",
  expect: ["spreadsheet.csv", "not a text table", "Excel"],
});
const zipOf = (...names) => Uint8Array.from(names.flatMap((n) => [0x50, 0x4b, 0x03, 0x04, 0x14, 0x00, 0x06, 0x00, ...utf8(n), 0, 0, 0x88, 0x99]));
data("budget.xlsx", zipOf("[Content_Types].xml", "_rels/.rels", "xl/workbook.xml", "xl/worksheets/sheet1.xml"), {
  what: "an Excel workbook, dropped as it is",
  expect: ["budget.xlsx", "Excel spreadsheet (.xlsx)", "save it as CSV (UTF-8)"],
});
data("report.docx", zipOf("[Content_Types].xml", "_rels/.rels", "word/document.xml"), {
  what: "a Word document, dropped as it is",
  expect: ["report.docx", "not a text table", "Word document (.docx)", "save that as CSV"],
});
data("document.csv", Uint8Array.from([...utf8("%PDF-1.7\n%"), 0xe2, 0xe3, 0xcf, 0xd3, ...utf8("\n1 0 obj\n<< /Type /Catalog >>\nendobj\n")]), {
  what: "a PDF renamed .csv",
  expect: ["document.csv", "not a text table", "PDF"],
});

// ---- model folders (from the local copy set-up fetched; skipped when it is absent) ----------
const MODEL = join(ROOT, "models/all-MiniLM-L6-v2");
const FILES = ["config.json", "tokenizer.json", "model.safetensors", "sentence_bert_config.json"];
function model(dir, what, expect, change) {
  if (!existsSync(join(MODEL, "model.safetensors"))) return;
  const path = join(OUT, "models", dir);
  mkdirSync(path, { recursive: true });
  for (const f of FILES) {
    const bytes = change(f, readFileSync(join(MODEL, f)));
    if (bytes === null) rmSync(join(path, f), { force: true });
    else put(join(path, f), bytes);
  }
  entries.push({ kind: "model", dir: `models/${dir}`, what, expect });
}
const json = (bytes, edit) => Buffer.from(JSON.stringify(edit(JSON.parse(bytes.toString()))));
model("truncated", "model.safetensors cut in half (an interrupted download)", ["model.safetensors"],
  (f, b) => (f === "model.safetensors" ? b.subarray(0, b.length >> 1) : b));
model("wrong-shapes", "config.json says hidden_size 372 (12 heads of 31) over 384-wide weights", ["shape"],
  (f, b) => (f === "config.json" ? json(b, (c) => ({ ...c, hidden_size: 372 })) : b));
model("not-bert", "a GPT-2 config.json", ["config.json", "gpt2"],
  (f, b) => (f === "config.json" ? Buffer.from('{"model_type": "gpt2", "vocab_size": 50257, "n_embd": 768}') : b));
model("no-tokenizer", "a folder without tokenizer.json", ["tokenizer.json"], (f, b) => (f === "tokenizer.json" ? null : b));
// a small good dataset the model and project entries use
data("good.csv", utf8(good), { what: "a good file (the control)", expect: null, records: 3, classes: 2 });

writeFileSync(join(OUT, "manifest.json"), JSON.stringify({ dir: OUT, entries }, null, 1));
console.log(join(OUT, "manifest.json"));
