// Shared by the browser tests: the page's own static server (plus ../shared mounted at
// /__shared/ for reference files and datasets, in tests only) and Debian's headless Chromium
// driven by playwright-core, each run in a fresh profile folder.
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { serve } from "../../scripts/serve.mjs";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const SHARED = resolve(ROOT, "../shared");
/** Screenshots land here (git-ignored) so a person can look at the page. */
export const SHOTS = join(ROOT, "test-results");

const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Starts the server (over `root`, with no special headers when `plain`) and a browser
 * (with extra command-line `args`); returns { url, context, close }. */
export async function start({ mounts = {}, root, plain = false, args = [] } = {}) {
  const { server, url } = await serve({ port: 0, root, plain, mounts: { ...mounts, "/__shared/": SHARED } });
  const profile = mkdtempSync(join(tmpdir(), "simtune-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: [...CHROMIUM_ARGS, ...args],
    viewport: { width: 1280, height: 800 },
  });
  mkdirSync(SHOTS, { recursive: true });
  // always frees the server and the profile, even when the browser is already gone (a test
  // that failed half-way must not leave the process waiting on an open server)
  const close = async () => {
    try {
      await context.close();
    } catch (e) {
      console.warn(`# the browser was already closed: ${e.message}`);
    } finally {
      server.closeAllConnections?.();
      await new Promise((ok) => server.close(ok));
      rmSync(profile, { recursive: true, force: true });
    }
  };
  return { url, context, close };
}

/** Saves a screenshot as test-results/NAME.png. */
export const shot = (page, name) => page.screenshot({ path: join(SHOTS, `${name}.png`) });
