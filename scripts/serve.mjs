// A tiny static file server for the page: the repository root (or `root`, e.g. dist/) over
// http on 127.0.0.1, with the right MIME type for .wasm. By default it sends the cross-origin
// isolation headers (COOP/COEP) of a hardened host; `plain` sends none (only
// Access-Control-Allow-Origin: *), as GitHub Pages.
// Usage: node scripts/serve.mjs [port] [--root DIR] [--plain]
import { createServer } from "node:http";
import { createReadStream, statSync } from "node:fs";
import { extname, join, normalize, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(fileURLToPath(new URL("..", import.meta.url)));

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".wasm": "application/wasm",
  ".csv": "text/csv; charset=utf-8",
  ".tsv": "text/tab-separated-values; charset=utf-8",
  ".txt": "text/plain; charset=utf-8",
  ".md": "text/plain; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".safetensors": "application/octet-stream",
  ".onnx": "application/octet-stream",
};

/** Starts the server; resolves to { server, url }. `mounts` maps URL prefixes to extra folders. */
export function serve({ port = 0, host = "127.0.0.1", mounts = {}, root = ROOT, plain = false } = {}) {
  const roots = [...Object.entries(mounts), ["/", resolve(root)]];
  const isolation = plain
    ? { "Access-Control-Allow-Origin": "*" } // as GitHub Pages sends
    : {
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cross-Origin-Embedder-Policy": "require-corp",
        "Cross-Origin-Resource-Policy": "same-origin",
      };
  const server = createServer((req, res) => {
    let path;
    try {
      path = decodeURIComponent(new URL(req.url, "http://x").pathname);
    } catch {
      res.writeHead(400).end("bad request");
      return;
    }
    const [prefix, base] = roots.find(([p]) => path.startsWith(p));
    let file = normalize(join(base, path.slice(prefix.length)));
    if (file !== base && !file.startsWith(base + sep)) {
      res.writeHead(403).end("forbidden");
      return;
    }
    try {
      if (statSync(file).isDirectory()) file = join(file, "index.html");
      const size = statSync(file).size;
      res.writeHead(200, {
        "Content-Type": TYPES[extname(file)] ?? "application/octet-stream",
        "Content-Length": size,
        ...isolation,
        "Cache-Control": "no-cache",
      });
      if (req.method === "HEAD") res.end();
      else createReadStream(file).pipe(res);
    } catch {
      res.writeHead(404, { "Content-Type": "text/plain" }).end("not found");
    }
  });
  return new Promise((ok) =>
    server.listen(port, host, () => ok({ server, url: `http://${host}:${server.address().port}/` })),
  );
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const flag = (name) => args.includes(name);
  const value = (name) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
  const port = Number(args.find((a) => /^\d+$/.test(a)) ?? process.env.PORT ?? 8080);
  const { url } = await serve({ port, root: value("--root") ?? ROOT, plain: flag("--plain") });
  console.log(`simtune is served at ${url}  (Ctrl+C stops it)`);
}
