// Tiny DOM builder. Strings always become text nodes (never HTML): record text is data.
export function h(tag, props = {}, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props ?? {})) {
    if (v == null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k.includes("-") || k === "for" || k === "role" || !(k in el)) el.setAttribute(k, v === true ? "" : String(v));
    else el[k] = v;
  }
  append(el, kids);
  return el;
}

export function append(el, kids) {
  for (const kid of [kids].flat(Infinity)) {
    if (kid == null || kid === false) continue;
    el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return el;
}

export function clear(el) {
  el.replaceChildren();
  return el;
}

/** True when a key press is meant for a form field rather than for the page's shortcuts. */
export function typing(e) {
  const t = e.target;
  if (!(t instanceof HTMLElement)) return false;
  if (t.isContentEditable) return true;
  if (t.tagName === "TEXTAREA" || t.tagName === "SELECT") return true;
  if (t.tagName === "INPUT") return !["checkbox", "radio", "button", "submit", "file"].includes(t.type);
  return false;
}

export function pct(x) {
  return Number.isFinite(x) ? `${(100 * x).toFixed(1)}%` : "–";
}

/** Saves `blob` as a file named `name` (the browser's download). */
/** A file name without its extension: "tickets.csv" -> "tickets". */
export const baseName = (name) => name.replace(/\.[^.]+$/, "");

export function download(blob, name) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}
