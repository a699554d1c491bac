// The row of label chips (number keys 1-9 pick the n-th) with counts, and the inline
// "new label" form opened by `n`. Shared by the Label and Similar views.
import { h, clear } from "../dom.js";

export function createLabelBar(app, { idPrefix, onPick, onCancel }) {
  const p = app.project;
  const chips = h("div", { class: "chips", role: "group", "aria-label": "Labels (keys 1–9)" });
  const nameInput = h("input", { type: "text", id: `${idPrefix}-new-name`, placeholder: "new label name", autocomplete: "off", spellcheck: false });
  const form = h(
    "form",
    { class: "new-label", hidden: true },
    h("label", { for: `${idPrefix}-new-name` }, "New label"),
    nameInput,
    h("button", { type: "submit" }, "Add"),
    h("button", { type: "button", onclick: () => close() }, "Cancel"),
  );
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
    chips.append(h("button", { type: "button", class: "chip add", onclick: () => openNew() }, h("kbd", {}, "n"), "New label"));
  }
  function openNew() {
    form.hidden = false;
    nameInput.focus();
  }
  p.addEventListener("labels", render);
  render();
  return { el, openNew, render };
}
