// Newcomer flow (not a test): a tuned model folder from `simtune tune-encoder` used in the page.
import { start, shot } from "../tests/e2e/harness.mjs";
import { openPage, loadCsv, waitEmbedded } from "../tests/e2e/flow.mjs";
const { url, context, close } = await start();
try {
  const { page, errors } = await openPage(context, url);
  await page.click("nav .tab[data-view=open]");
  await shot(page, "s29-0-open");
  await page.setInputFiles("#model-folder", "/tmp/newc/sms-tuned");
  await page.waitForFunction(() => /sms-tuned/.test(document.querySelector("#model-now").textContent) || /error|cannot|not /i.test(document.querySelector("#model-message").textContent), null, { timeout: 180_000 });
  console.log("model-now:", await page.textContent("#model-now"), "| msg:", await page.textContent("#model-message"));
  await shot(page, "s29-1-model");
  await loadCsv(page, "/tmp/newc/sms600.csv", { label: "label" });
  await waitEmbedded(page);
  console.log("embed:", await page.textContent("#embed-text"));
  await shot(page, "s29-2-label");
  await page.click("nav .tab[data-view=train]");
  await page.waitForTimeout(500);
  await shot(page, "s29-3-train");
  await page.click("#train");
  await page.waitForFunction(() => /trained|Trained/.test(document.querySelector("#train-status").textContent), null, { timeout: 120_000 });
  console.log("train-status:", await page.textContent("#train-status"));
  await shot(page, "s29-4-trained");
  console.log("errors:", errors);
} finally {
  await close();
}
