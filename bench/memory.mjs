// Memory of the browser under test, read from `ps`: the bench scripts' peak figures.
import { execFileSync } from "node:child_process";

/** Resident memory (MiB) of Chromium's renderer processes: the page and its workers. */
export function rendererMiB() {
  try {
    const out = execFileSync("ps", ["-eo", "rss=,args="], { encoding: "utf8" });
    let kb = 0;
    for (const line of out.split("\n")) {
      if (/chrom/.test(line) && /--type=renderer/.test(line)) kb += Number(line.trim().split(/\s+/)[0]) || 0;
    }
    return kb / 1024;
  } catch {
    return NaN;
  }
}

/** Runs `fn` while sampling renderer memory every 100 ms; returns [result, peak MiB]. */
export async function withPeak(fn) {
  let peak = rendererMiB();
  const timer = setInterval(() => (peak = Math.max(peak, rendererMiB())), 100);
  try {
    return [await fn(), Math.max(peak, rendererMiB())];
  } finally {
    clearInterval(timer);
  }
}
