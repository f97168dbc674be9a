// Tiny canvas line chart (no dependencies): time on x, value on y, one line per series,
// gaps where a value is missing (null).
'use strict';

const CHART_COLORS = ['#2563eb', '#dc2626', '#059669', '#d97706', '#7c3aed', '#0891b2', '#db2777', '#4b5563', '#65a30d', '#9333ea'];

/**
 * Draw `series` ({label: [values]}) against `times` (ms) into `canvas`; writes a legend into
 * `legendEl`. Handles device pixel ratio and an empty data set.
 */
function drawLineChart(canvas, legendEl, times, series, unit) {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || 600, h = canvas.clientHeight || 240;
  canvas.width = w * dpr; canvas.height = h * dpr;
  const g = canvas.getContext('2d');
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, w, h);
  g.font = '11px system-ui, sans-serif';
  const left = 52, right = 12, top = 10, bottom = 24;
  const pw = w - left - right, ph = h - top - bottom;
  const names = Object.keys(series);
  let max = 0;
  for (const n of names) for (const v of series[n]) if (v != null && v > max) max = v;
  max = niceCeil(max || 1);
  // grid + y labels
  g.strokeStyle = '#e5e7eb'; g.fillStyle = '#6b7280'; g.lineWidth = 1;
  for (let i = 0; i <= 4; i++) {
    const y = top + ph - (ph * i) / 4;
    g.beginPath(); g.moveTo(left, y); g.lineTo(left + pw, y); g.stroke();
    const label = fmtNum((max * i) / 4);
    g.fillText(label, left - 6 - g.measureText(label).width, y + 4);
  }
  if (!times.length) {
    g.fillStyle = '#9ca3af';
    const msg = 'collecting samples…';
    g.fillText(msg, left + pw / 2 - g.measureText(msg).width / 2, top + ph / 2);
  } else {
    const t0 = times[0], t1 = times[times.length - 1] === t0 ? t0 + 1 : times[times.length - 1];
    const xOf = (t) => left + ((t - t0) / (t1 - t0)) * pw;
    // x labels: start, middle, end
    g.fillStyle = '#6b7280';
    for (const t of [t0, (t0 + t1) / 2, t1]) {
      const s = new Date(t).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
      const x = Math.min(Math.max(xOf(t) - g.measureText(s).width / 2, left), left + pw - g.measureText(s).width);
      g.fillText(s, x, h - 6);
    }
    names.forEach((n, i) => {
      g.strokeStyle = CHART_COLORS[i % CHART_COLORS.length]; g.lineWidth = 1.8;
      g.beginPath();
      let pen = false;
      series[n].forEach((v, j) => {
        if (v == null) { pen = false; return; }
        const x = xOf(times[j]), y = top + ph - (v / max) * ph;
        if (pen) g.lineTo(x, y); else { g.moveTo(x, y); pen = true; }
      });
      g.stroke();
    });
  }
  if (legendEl) {
    legendEl.textContent = '';
    names.forEach((n, i) => {
      const s = document.createElement('span');
      const sw = document.createElement('i');
      sw.style.background = CHART_COLORS[i % CHART_COLORS.length];
      const vals = series[n].filter((v) => v != null);
      s.append(sw, `${n} ${vals.length ? fmtNum(vals[vals.length - 1]) : '–'}${unit || ''}`);
      legendEl.append(s);
    });
    if (!names.length) legendEl.textContent = 'no data yet';
  }
}

function niceCeil(v) {
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

function fmtNum(v) {
  if (v == null) return '–';
  if (Math.abs(v) >= 1e6) return (v / 1e6).toFixed(1) + 'M';
  if (Math.abs(v) >= 1e4) return (v / 1e3).toFixed(1) + 'k';
  return Number.isInteger(v) ? String(v) : v.toFixed(1);
}
