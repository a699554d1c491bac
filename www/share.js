// Share links: `?data=URL` opens a dataset from a public URL, `&text=` (comma separated) and
// `&label=` pick its columns, `&project=URL` imports a project file on it. Only a short list
// of hosts can be read (the CSP's connect-src allows exactly these); a link never downloads
// anything before the person says so.
export const SHARE_HOSTS = ["huggingface.co", "raw.githubusercontent.com", "gist.githubusercontent.com"];

/** The share link's parameters in `search`, or null when there is none. */
export function readShareLink(search = location.search) {
  const q = new URLSearchParams(search);
  const data = q.get("data");
  if (!data) return null;
  const text = (q.get("text") ?? "").split(",").map((s) => s.trim()).filter(Boolean);
  return { data, text, label: q.get("label")?.trim() || null, project: q.get("project") || null };
}

/** `raw` as an https URL on an allowed host; throws an Error saying what is allowed. */
export function checkShareUrl(raw, what = "the dataset") {
  let url;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`the link's address of ${what} (${raw}) is not a URL`);
  }
  if (url.protocol !== "https:" || !SHARE_HOSTS.includes(url.hostname)) {
    throw new Error(`a link can open ${what} only from ${SHARE_HOSTS.join(", ")} (over https), not from ${url.host || raw}`);
  }
  return url;
}

/** The link that reopens `source` with these columns, on this page. */
export function shareLink({ source, text, label }) {
  const q = new URLSearchParams({ data: source });
  if (text?.length) q.set("text", text.join(","));
  if (label) q.set("label", label);
  return `${location.origin}${location.pathname}?${q}`;
}

/** The file name a URL's last path segment gives. */
export function fileName(url) {
  return decodeURIComponent(url.pathname.split("/").filter(Boolean).pop() ?? "dataset.csv");
}
