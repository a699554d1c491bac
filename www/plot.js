// The loss curve: one line on a <canvas>, redrawn per step. ~30 lines instead of a plot
// library (see the note at the top of app.js).
export function drawLoss(canvas, losses, steps) {
  const ctx = canvas.getContext("2d");
  const { width: w, height: hgt } = canvas;
  const pad = { l: 48, r: 12, t: 12, b: 24 };
  ctx.clearRect(0, 0, w, hgt);
  ctx.strokeStyle = "#c9ced6";
  ctx.lineWidth = 1;
  ctx.strokeRect(pad.l, pad.t, w - pad.l - pad.r, hgt - pad.t - pad.b);
  ctx.fillStyle = "#59606b";
  ctx.font = "12px system-ui, sans-serif";
  if (!losses.length) return;
  const max = Math.max(...losses, 1e-9);
  const n = Math.max(steps || losses.length, 2);
  const x = (i) => pad.l + (i / (n - 1)) * (w - pad.l - pad.r);
  const y = (v) => pad.t + (1 - v / max) * (hgt - pad.t - pad.b);
  ctx.fillText(max.toPrecision(3), 4, pad.t + 10);
  ctx.fillText("0", 4, hgt - pad.b);
  ctx.fillText(`step ${losses.length}/${n}`, w - 110, hgt - 6);
  ctx.strokeStyle = "#2f6fde";
  ctx.lineWidth = 2;
  ctx.beginPath();
  losses.forEach((v, i) => (i ? ctx.lineTo(x(i), y(v)) : ctx.moveTo(x(i), y(v))));
  ctx.stroke();
}
