// Similar: a similarity labeling session. k near records of an anchor record (raw or tuned
// space): by default every 4th of its 4k nearest, so labels reach the edge of its group (the
// nearest only on request); label one by one (keys as in Label) or select many (checkboxes,
// shift-click for a range, select all, x toggles) and label them in bulk, or mark them "not
// the anchor's label" (r). Shows how many carry the anchor's label, how many are marked not
// to, and how many are unlabelled. The marks answer the check's questions about them.
import { h, clear, pct } from "../dom.js";
import { createLabelBar } from "./labelbar.js";

/** Neighbours added by "Show more" (the default k, 25, fits a screen). */
const MORE = 25;

export function createSessionView(root, app) {
  const p = app.project;
  let anchor = null;
  /** The session id its labels carry (state.js sessions): taken at the first label given
   * after a new anchor opened (0 until then). */
  let session = 0;
  let hits = { indices: [], scores: [] };
  let cur = 0;
  let selected = new Set();
  let lastClicked = null;
  /** The spread the list on screen was drawn with (1–4: every s-th of the k * s nearest). */
  let shownSpread = 1;
  const ORDINAL = ["", "", "2nd", "3rd", "4th"];

  const kInput = h("input", { type: "number", id: "session-k", min: 1, max: 1000, value: p.settings.sessionK });
  const spread = h(
    "select",
    { id: "session-spread", title: "Labels spread over the anchor's group teach the head more than its closest records, which it already places together (docs/tuning.md)" },
    h("option", { value: "4" }, "spread over its nearest ×4 (every 4th)"),
    h("option", { value: "1" }, "its nearest only"),
  );
  const space = h("select", { id: "session-space" }, h("option", { value: "raw" }, "raw embeddings"), h("option", { value: "tuned" }, "tuned (trained head)"));
  const anchorBox = h("div", { class: "anchor", id: "session-anchor" });
  const share = h("p", { class: "share", id: "session-share", "aria-live": "polite" });
  const selInfo = h("span", { id: "session-selected" });
  const list = h("ol", { class: "records session", id: "session-list", tabindex: 0, "aria-label": "Nearest records" });
  const bar = createLabelBar(app, { idPrefix: "session", onPick: (id) => apply(id), onCancel: () => list.focus() });

  root.append(
    anchorBox,
    h(
      "div",
      { class: "toolbar" },
      h("label", { for: "session-k" }, "records"),
      kInput,
      spread,
      h("label", { for: "session-space" }, "in"),
      space,
      h("button", { type: "button", id: "session-refresh", onclick: () => load() }, "Show"),
      share,
    ),
    h(
      "div",
      { class: "toolbar" },
      h("button", { type: "button", id: "select-all", onclick: () => selectAll() }, "Select all"),
      h("button", { type: "button", id: "select-none", onclick: () => setSel(new Set()) }, "Clear selection"),
      selInfo,
      h("button", { type: "button", id: "session-not", onclick: () => notAnchor() }, h("kbd", {}, "r"), " not the anchor's label"),
      h("span", { class: "hint" }, "Pick a label below to label the selection (or the current row when nothing is selected)."),
    ),
    bar.el,
    h("p", { class: "keys" }, "Keys: ", h("kbd", {}, "1–9"), " label selection / row · ", h("kbd", {}, "x"), " select row · ", h("kbd", {}, "r"), " not the anchor's label · ", h("kbd", {}, "a"), " select all · ", h("kbd", {}, "j"), "/", h("kbd", {}, "k"), " move · ", h("kbd", {}, "s"), " skip · ", h("kbd", {}, "u"), " undo · ", h("kbd", {}, "n"), " new label"),
    list,
    h("button", { type: "button", id: "session-more", class: "small", onclick: () => more() }, `Show ${MORE} more`),
  );

  /** The next MORE neighbours, keeping the selection and the current row. */
  function more() {
    const keep = { selected, cur };
    kInput.value = Math.min(1000, (Number(kInput.value) || 0) + MORE);
    load();
    selected = new Set([...keep.selected].filter((i) => hits.indices.includes(i)));
    cur = keep.cur;
    render();
  }

  function load() {
    if (anchor == null) return render();
    const idx = space.value === "tuned" ? app.tunedIndex() : app.rawIndex();
    if (!idx) {
      hits = { indices: [], scores: [] };
      render(space.value === "tuned" ? "Train a head first to search the tuned space." : "The records are still being embedded: the session opens when they are ready.");
      return;
    }
    const k = Math.max(1, Math.min(p.n - 1, 1000, Number(kInput.value) || 100));
    kInput.value = k;
    const want = spread.value === "1" ? 1 : 4;
    if (p.settings.sessionK !== k || p.settings.sessionSpread !== want) {
      p.settings.sessionK = k;
      p.settings.sessionSpread = want;
      p.emit("settings");
    }
    // a dataset with fewer than k * 4 other records is spread less, so k records still show
    const s = Math.max(1, Math.min(want, Math.floor((p.n - 1) / k)));
    shownSpread = s;
    try {
      // every s-th of the k * s nearest (as many as the dataset holds)
      const near = idx.neighbours(anchor, Math.min(p.n - 1, k * s));
      const at = Array.from({ length: Math.min(k, Math.ceil(near.indices.length / s)) }, (_, j) => j * s);
      hits = { indices: at.map((r) => near.indices[r]), scores: at.map((r) => near.scores[r]) };
    } catch (e) {
      app.error(e, "Search failed");
      hits = { indices: [], scores: [] };
    }
    cur = 0;
    selected = new Set();
    rows = []; // new hits: the rows are built again
    render();
  }
  function setSel(s) {
    selected = s;
    render();
  }
  function selectAll() {
    setSel(new Set(hits.indices));
  }
  function apply(id) {
    if (id < 0 || id >= p.labelNames.length) return;
    if (!session && (selected.size || hits.indices.length)) session = p.newSession();
    if (selected.size) {
      p.setLabels([...selected], id, session);
      selected = new Set();
    } else if (hits.indices.length) {
      p.setLabels([hits.indices[cur]], id, session);
      if (cur < hits.indices.length - 1) cur++;
    }
    render();
    list.focus({ preventScroll: true });
  }
  /** Marks the selection (or the current row) as NOT of the anchor's label. */
  function notAnchor() {
    const id = anchor == null ? -1 : p.labels[anchor];
    if (id < 0) return app.notify("Label the anchor first: “not this label” needs its label.", "error");
    const rows = selected.size ? [...selected] : hits.indices.length ? [hits.indices[cur]] : [];
    // a record labelled with the anchor's label is not "not" it: leave those alone
    p.reject(rows.filter((i) => p.labels[i] !== id), id);
    if (selected.size) selected = new Set();
    else if (cur < hits.indices.length - 1) cur++;
    render();
    list.focus({ preventScroll: true });
  }
  function toggle(pos, shift) {
    const i = hits.indices[pos];
    const on = !selected.has(i);
    if (shift && lastClicked != null) {
      const [a, b] = [Math.min(lastClicked, pos), Math.max(lastClicked, pos)];
      for (let q = a; q <= b; q++) on ? selected.add(hits.indices[q]) : selected.delete(hits.indices[q]);
    } else on ? selected.add(i) : selected.delete(i);
    lastClicked = pos;
    cur = pos;
    render();
  }

  /** The list's rows, built once per search (load); key presses only update them. */
  let rows = [];
  function build() {
    clear(list);
    rows = hits.indices.map((i, pos) => {
      const box = h("input", { type: "checkbox", "aria-label": `select record #${i}` });
      // no preventDefault: it would revert `checked` after the handler, over what render set
      box.addEventListener("click", (e) => {
        e.stopPropagation();
        toggle(pos, e.shiftKey);
      });
      const label = h("span", { class: "label" });
      const li = h("li", { class: "record", dataset: { index: String(i) } }, box, h("span", { class: "score" }, hits.scores[pos].toFixed(3)), h("span", { class: "text" }, p.texts[i]), label);
      li.addEventListener("click", (e) => {
        if (e.shiftKey) return toggle(pos, true);
        cur = pos;
        render();
      });
      list.append(li);
      return { li, box, label };
    });
  }
  function render(message) {
    clear(anchorBox);
    if (anchor == null || !p.n || message) {
      clear(list);
      rows = [];
    }
    if (anchor == null || !p.n) {
      anchorBox.append(h("p", {}, "Open a record's similar records from the Label list (button “Similar” or Enter)."));
      share.textContent = "";
      selInfo.textContent = "";
      return;
    }
    const aName = p.labelName(anchor);
    anchorBox.append(
      h("h2", {}, shownSpread > 1 ? `Records near #${anchor}: every ${ORDINAL[shownSpread]} of its ${hits.indices.length * shownSpread} nearest` : `Records nearest #${anchor}`),
      h("p", { class: "anchor-text" }, h("span", { class: "text" }, p.texts[anchor]), " ", h("span", { class: `label${aName ? "" : " none"}` }, aName ?? "unlabelled")),
    );
    if (message) {
      list.append(h("li", { class: "empty" }, message));
      share.textContent = "";
      return;
    }
    const aId = p.labels[anchor];
    const same = aId >= 0 ? hits.indices.filter((i) => p.labels[i] === aId).length : 0;
    const marked = (i) => p.labels[i] < 0 && aId >= 0 && p.isRejected(i, aId);
    const not = hits.indices.filter(marked).length;
    const unlabelled = hits.indices.filter((i) => p.labels[i] < 0).length - not;
    const other = hits.indices.length - same - unlabelled - not;
    share.textContent = aId >= 0
      ? `${same} of ${hits.indices.length} (${pct(same / Math.max(1, hits.indices.length))}) already carry “${aName}” · ${not} marked not “${aName}” · ${unlabelled} unlabelled · ${other} other labels`
      : `The anchor has no label yet: label it to see the session's share (${unlabelled} of ${hits.indices.length} neighbours unlabelled).`;
    share.dataset.not = String(not);
    share.dataset.share = aId >= 0 ? String(same / Math.max(1, hits.indices.length)) : "";
    selInfo.textContent = `${selected.size} selected`;
    if (rows.length !== hits.indices.length || rows.some((r, pos) => r.li.dataset.index !== String(hits.indices[pos]))) build();
    rows.forEach(({ li, box, label }, pos) => {
      const i = hits.indices[pos];
      const name = p.labelName(i) ?? (marked(i) ? `not “${aName}”` : null);
      li.className = `record${pos === cur ? " current" : ""}${selected.has(i) ? " selected" : ""}`;
      if (pos === cur) li.setAttribute("aria-current", "true");
      else li.removeAttribute("aria-current");
      box.checked = selected.has(i);
      label.className = `label${name ? "" : " none"}${marked(i) ? " not" : ""}`;
      label.textContent = name ?? "—";
    });
    rows[cur]?.li.scrollIntoView({ block: "nearest" });
  }
  function move(d) {
    if (!hits.indices.length) return;
    cur = Math.max(0, Math.min(hits.indices.length - 1, cur + d));
    render();
  }

  kInput.addEventListener("change", load);
  spread.addEventListener("change", load);
  space.addEventListener("change", load);
  p.addEventListener("labels", () => {
    if (!root.hidden) render();
  });
  p.addEventListener("embeddings", () => {
    if (!root.hidden && anchor != null) load();
  });
  p.addEventListener("dataset", () => {
    anchor = null;
    session = 0;
    hits = { indices: [], scores: [] };
  });

  return {
    show(opts) {
      kInput.value = p.settings.sessionK;
      spread.value = String(p.settings.sessionSpread === 1 ? 1 : 4);
      space.querySelector("option[value=tuned]").disabled = !p.head;
      if (!p.head) space.value = "raw";
      if (opts?.anchor != null) {
        // another anchor opens another session; the same one goes on with its own
        if (opts.anchor !== anchor) session = 0;
        anchor = opts.anchor;
        load();
      } else render();
      list.focus({ preventScroll: true });
    },
    onKey(e) {
      const k = e.key;
      if (k >= "1" && k <= "9") apply(Number(k) - 1);
      else if (k === "j" || k === "ArrowDown" || k === "s") move(1);
      else if (k === "k" || k === "ArrowUp") move(-1);
      else if (k === "x" || k === " ") hits.indices.length && toggle(cur, e.shiftKey);
      else if (k === "a") selectAll();
      else if (k === "r") notAnchor();
      else if (k === "u") p.undo();
      else if (k === "n") bar.openNew();
      else return;
      e.preventDefault();
    },
  };
}
