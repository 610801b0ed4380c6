// A line chart on a canvas: time on x (the last `windowMs` up to `nowMs`),
// values on y from 0 to the largest shown, one line per series, gaps where
// a value is null. Our own few lines instead of a charting library.

const PAD = { left: 48, right: 12, top: 12, bottom: 22 };

/** Draws `series` ([{label, color, points: [{t, v}]}]) on `canvas`. */
export function drawChart(canvas, series, { nowMs, windowMs }) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || canvas.width;
  const height = canvas.clientHeight || canvas.height;
  if (canvas.width !== Math.round(width * ratio)) canvas.width = Math.round(width * ratio);
  if (canvas.height !== Math.round(height * ratio)) canvas.height = Math.round(height * ratio);
  const g = canvas.getContext('2d');
  g.setTransform(ratio, 0, 0, ratio, 0, 0);
  g.clearRect(0, 0, width, height);
  const values = series.flatMap((s) => s.points.map((p) => p.v)).filter((v) => v !== null);
  const top = niceCeiling(Math.max(0, ...values));
  const x = (t) => PAD.left + ((t - (nowMs - windowMs)) / windowMs) * (width - PAD.left - PAD.right);
  const y = (v) => height - PAD.bottom - (v / top) * (height - PAD.top - PAD.bottom);
  axes(g, width, height, top, windowMs);
  series.forEach((s, index) => {
    line(g, s.points, x, y, s.color);
    g.fillStyle = s.color;
    g.fillText(s.label, PAD.left + 8 + index * 80, PAD.top + 10);
  });
}

function axes(g, width, height, top, windowMs) {
  g.strokeStyle = '#e5e7eb';
  g.fillStyle = '#6b7280';
  g.font = '11px system-ui, sans-serif';
  g.lineWidth = 1;
  for (const fraction of [0, 0.5, 1]) {
    const yAt = height - PAD.bottom - fraction * (height - PAD.top - PAD.bottom);
    g.beginPath();
    g.moveTo(PAD.left, yAt);
    g.lineTo(width - PAD.right, yAt);
    g.stroke();
    g.fillText(label(top * fraction), 4, yAt + 4);
  }
  g.fillText(spanLabel(windowMs), PAD.left, height - 6);
  g.fillText('now', width - PAD.right - 22, height - 6);
}

function line(g, points, x, y, color) {
  g.strokeStyle = color;
  g.lineWidth = 2;
  g.beginPath();
  let drawing = false;
  for (const p of points) {
    if (p.v === null) {
      drawing = false;
      continue;
    }
    if (drawing) g.lineTo(x(p.t), y(p.v));
    else g.moveTo(x(p.t), y(p.v));
    drawing = true;
  }
  g.stroke();
}

/** How far back the chart's left edge is: `-45 s`, `-5 min`. */
function spanLabel(windowMs) {
  const seconds = Math.round(windowMs / 1000);
  return seconds < 120 ? `-${seconds} s` : `-${Math.round(seconds / 60)} min`;
}

/** 1, 2 or 5 times a power of ten, at least `value` (1 for nothing). */
function niceCeiling(value) {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) {
    if (step * power >= value) return step * power;
  }
  return 10 * power;
}

function label(value) {
  if (value === 0) return '0';
  if (value >= 100) return String(Math.round(value));
  return value.toPrecision(2);
}
