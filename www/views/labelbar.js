// The row of label chips (number keys 1-9 pick the n-th) with counts, and the inline
// "new label" form opened by `n`. Shared by the Label and Similar views.
import { h, clear } from "../dom.js";

export function createLabelBar(app, { idPrefix, onPick, onCancel }) {
  const p = app.project;
  const chips = h("div", { class: "chips", role: "group", "aria-label": "Labels (keys 1–9)" });
  // the labels so far as the name field's suggestions: past the ninth label (no number key),
  // `n` and a few letters pick an existing one
  const known = h("datalist", { id: `${idPrefix}-label-names` });
  const nameInput = h("input", { type: "text", id: `${idPrefix}-new-name`, placeholder: "a label's name, new or existing", autocomplete: "off", spellcheck: false });
  const form = h(
    "form",
    { class: "new-label", hidden: true },
    h("label", { for: `${idPrefix}-new-name` }, "New label"),
    nameInput,
    h("button", { type: "submit" }, "Add"),
    h("button", { type: "button", onclick: () => close() }, "Cancel"),
    known,
  );
  nameInput.setAttribute("list", known.id); // `list` is a read-only property: an attribute
  const el = h("div", { class: "labelbar" }, chips, form);

  function close() {
    form.hidden = true;
    nameInput.value = "";
    onCancel?.();
  }
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    try {
      const id = p.addLabel(nameInput.value);
      form.hidden = true;
      nameInput.value = "";
      onPick(id);
    } catch (err) {
      app.error(err);
    }
  });
  nameInput.addEventListener("keydown", (e) => {
    if (e.key === "Escape") close();
  });

  function render() {
    const { perLabel } = p.counts();
    clear(chips);
    p.labelNames.forEach((name, id) => {
      chips.append(
        h(
          "button",
          { type: "button", class: "chip", dataset: { label: name }, title: id < 9 ? `key ${id + 1}` : "", onclick: () => onPick(id) },
          id < 9 ? h("kbd", {}, String(id + 1)) : null,
          h("span", { class: "chip-name" }, name),
          h("span", { class: "count" }, String(perLabel[id])),
        ),
      );
    });
    chips.append(h("button", { type: "button", class: "chip add", title: p.labelNames.length > 9 ? "n, then type a name: a new label or one of those past 9" : "", onclick: () => openNew() }, h("kbd", {}, "n"), p.labelNames.length > 9 ? "New or other label" : "New label"));
    clear(known);
    known.append(...p.labelNames.map((name) => h("option", { value: name })));
  }
  function openNew() {
    form.hidden = false;
    nameInput.focus();
  }
  p.addEventListener("labels", render);
  render();
  return { el, openNew, render };
}
