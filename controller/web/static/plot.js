// The 15-minute plot: offered (dashed) and drawn (solid) current per phase of each socket, and the grid
// meter's house load (dotted) when there is one, drawn on a plain canvas.
"use strict";
const PHASE_COLOURS = ["#c62828", "#2e7d32", "#0b6bcb"];

// the time axis spans what there is (at least a minute), up to the history's span
function drawPlot(canvas, samples, maxSpanS) {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth, h = canvas.clientHeight;
  canvas.width = Math.round(w * dpr); canvas.height = Math.round(h * dpr);
  const g = canvas.getContext("2d");
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, w, h);
  const left = 34, right = 8, top = 8, bottom = 22;
  const pw = w - left - right, ph = h - top - bottom;
  const tEnd = samples.length ? samples[samples.length - 1].t : Date.now() / 1000;
  const spanS = Math.min(maxSpanS, Math.max(60, samples.length ? tEnd - samples[0].t : 0));
  const tStart = tEnd - spanS;
  let max = 6;
  for (const s of samples) {
    for (const sock of Object.values(s.sockets)) for (const v of sock.offered.concat(sock.drawn)) max = Math.max(max, v);
    if (s.house) for (const v of s.house) max = Math.max(max, v);
  }
  max = Math.ceil(max / 4) * 4;
  const x = (t) => left + ((t - tStart) / spanS) * pw;
  const y = (a) => top + ph - (a / max) * ph;
  g.strokeStyle = "#d8dee4"; g.fillStyle = "#5f6b76"; g.font = "11px system-ui, sans-serif"; g.lineWidth = 1;
  for (let a = 0; a <= max; a += max / 4) {
    g.beginPath(); g.moveTo(left, y(a)); g.lineTo(left + pw, y(a)); g.stroke();
    g.fillText(a.toFixed(0) + " A", 2, y(a) + 4);
  }
  const step = [15, 30, 60, 120, 300].find((s) => spanS / s <= 6) || 300;
  for (let ago = 0; ago <= spanS; ago += step) {
    const label = ago === 0 ? "now" : ago < 60 ? "-" + ago + " s" : "-" + ago / 60 + " min";
    g.fillText(label, Math.max(left, x(tEnd - ago) - 14), h - 6);
  }
  const line = (key, pick, dash, colour) => {
    g.setLineDash(dash); g.strokeStyle = colour; g.lineWidth = 2; g.beginPath();
    let started = false;
    for (const s of samples) {
      const v = pick(s);
      if (v === null || v === undefined) { started = false; continue; }
      if (!started) { g.moveTo(x(s.t), y(v)); started = true; } else g.lineTo(x(s.t), y(v));
    }
    g.stroke();
  };
  const ids = samples.length ? Object.keys(samples[samples.length - 1].sockets) : [];
  for (const id of ids) {
    for (let p = 0; p < 3; p++) {
      line(id, (s) => (s.sockets[id] ? s.sockets[id].offered[p] : null), [6, 4], PHASE_COLOURS[p]);
      line(id, (s) => (s.sockets[id] ? s.sockets[id].drawn[p] : null), [], PHASE_COLOURS[p]);
    }
  }
  for (let p = 0; p < 3; p++) line("house", (s) => (s.house ? s.house[p] : null), [2, 3], PHASE_COLOURS[p]);
  g.setLineDash([]);
}
