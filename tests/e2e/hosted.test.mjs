// The page as hosted (issue 7): `scripts/dist.sh` assembles dist/, served here by a plain
// static server with no special headers (as GitHub Pages), in a fresh profile. The default
// model is not bundled, so the page must fetch it from the Hugging Face hub; this machine has
// no internet, so the browser resolves huggingface.co to a local HTTPS stand-in (a throwaway
// certificate) that serves the hub's URLs from the local copy, with CORS as the hub does —
// a real network path (a 90 MB answer through Playwright's request interception kills the
// browser connection). Every other request leaving the origin is refused and recorded.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createReadStream, existsSync, mkdtempSync, readFileSync, statSync } from "node:fs";
import { createServer } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { start, ROOT, shot } from "./harness.mjs";
import { openPage, waitEmbedded, keyLabel, labelledCount } from "./flow.mjs";

const HUB = "https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2/resolve/main/";

test("dist/ works from a plain static host, the default model from the hub", { timeout: 300_000 }, async () => {
  const out = join(mkdtempSync(join(tmpdir(), "simtune-dist-")), "dist");
  execFileSync("bash", [join(ROOT, "scripts/dist.sh"), "--no-build", "--out", out], { stdio: ["ignore", "inherit", "inherit"] });
  assert.ok(!existsSync(join(out, "models")), "the model is not bundled by default");
  const hubServer = await hubStandIn();
  const { url, context, close } = await start({
    root: out,
    plain: true,
    args: [`--host-resolver-rules=MAP huggingface.co 127.0.0.1:${hubServer.port}`, "--ignore-certificate-errors"],
  });
  const hub = hubServer.served;
  const refused = [];
  await context.route(/^https?:\/\/(?!127\.0\.0\.1|huggingface\.co\/)/, (route) => {
    refused.push(route.request().url());
    return route.abort();
  });
  try {
    const { page, errors } = await openPage(context, url);
    assert.equal(await page.evaluate(() => self.crossOriginIsolated), false, "a plain host: no cross-origin isolation");
    // "Try a sample" works from the site itself
    await page.click("#sample");
    await page.waitForSelector("#use-columns", { timeout: 60_000 });
    assert.match(await page.textContent("#preview h2"), /banking77_test\.csv: 3,080 records/);
    // a small dataset of our own, embedded with the hub's model
    await page.setInputFiles("#file-input", {
      name: "notes.csv",
      mimeType: "text/csv",
      buffer: Buffer.from("text\nmy card was declined\nthe atm kept my card\nwhere is my transfer\nmoney sent yesterday has not arrived\n"),
    });
    await page.waitForFunction(() => /notes\.csv/.test(document.querySelector("#preview h2")?.textContent ?? ""));
    await page.click("#use-columns");
    await waitEmbedded(page);
    assert.match(await page.textContent("#embed-text"), /4 records embedded/);
    assert.ok(["config.json", "tokenizer.json", "model.safetensors"].every((f) => hub.includes(f)), `from the hub: ${hub}`);
    await page.selectOption("#list-order", "file");
    await page.click('#records .record[data-index="0"]');
    await page.focus("#records");
    for (const name of ["card", "card", "transfer", "transfer"]) await keyLabel(page, name);
    assert.equal(await labelledCount(page), 4);
    await page.click("nav .tab[data-view=train]");
    await page.click("#train");
    await page.waitForSelector("#train-status[data-state=done], #train-status[data-state=error]", { timeout: 120_000 });
    assert.equal(await page.getAttribute("#train-status", "data-state"), "done", await page.textContent("#train-status"));
    await shot(page, "hosted-trained");
    // a reload in the hosted page: the model comes from the Cache API, not the hub again
    const before = hub.length;
    await page.reload();
    await page.waitForSelector("body[data-ready=yes]");
    assert.equal(await labelledCount(page), 4);
    assert.equal(hub.length, before, "no second download");
    assert.deepEqual(refused, [], "nothing else leaves the origin");
    assert.deepEqual(errors, []);
  } finally {
    await close();
    hubServer.server.close();
  }
});

/** An HTTPS server answering the hub's URLs of the default model from models/ (CORS as the
 * hub sends it); records what it served. */
async function hubStandIn() {
  const dir = mkdtempSync(join(tmpdir(), "simtune-hub-"));
  execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=huggingface.co", "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem")], { stdio: "ignore" });
  const served = [];
  const prefix = new URL(HUB).pathname;
  const server = createServer({ key: readFileSync(join(dir, "key.pem")), cert: readFileSync(join(dir, "cert.pem")) }, (req, res) => {
    const path = new URL(req.url, HUB).pathname;
    const file = path.startsWith(prefix) ? join(ROOT, "models/all-MiniLM-L6-v2", path.slice(prefix.length)) : null;
    const cors = { "access-control-allow-origin": "*" };
    if (!file || file.includes("..") || !existsSync(file)) return res.writeHead(404, cors).end("Entry not found");
    served.push(path.slice(prefix.length));
    res.writeHead(200, { ...cors, "content-type": "application/octet-stream", "content-length": statSync(file).size });
    createReadStream(file).pipe(res);
  });
  await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
  return { server, served, port: server.address().port };
}
