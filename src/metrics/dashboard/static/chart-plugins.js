// @ts-check
/* Alert transitions on the history charts: dashed vertical lines coloured by the state entered (critical red,
 * warning orange, resolved blue) with a small flag on top; hovering near one writes its message over the chart.
 * Drawn by this small plugin rather than a package, so nothing but Chart.js itself is loaded. For tests and
 * scripts, each canvas carries data-alert-marks (how many lines are drawn) and chart.$alertMarksDrawn (where). */
import { dateTime } from './format.js';

/** @typedef {import('./globals').AlertMark} AlertMark */
/** @typedef {import('./globals').DrawnMark} DrawnMark */
/** @typedef {import('./globals').DeployMark} DeployMark */
/** @typedef {import('chart.js').Chart} ChartInstance */

const css = getComputedStyle(document.documentElement);

/** The page's palette (dashboard.css custom properties), read once so charts match the rest of the page. */
export const colors = {
  text: css.getPropertyValue('--muted').trim() || '#8b949e',
  label: css.getPropertyValue('--text').trim() || '#e6edf3',
  grid: css.getPropertyValue('--border').trim() || '#30363d',
  blue: '#58a6ff',
  green: '#3fb950',
  purple: '#bc8cff',
  orange: '#d29922',
  red: '#f85149',
};

/** Half-width in px of the band around a line that counts as hovering it. */
const HOVER_PX = 6;

/** @param {string} severity the state entered; 'ok' is a resolution */
export function severityColor(severity) {
  if (severity === 'critical') return colors.red;
  if (severity === 'warning') return colors.orange;
  return colors.blue;
}

/** @param {AlertMark} m */
function markText(m) {
  return `${dateTime(new Date(m.t))} · ${m.key} ${m.from} → ${m.to}${m.message ? `: ${m.message}` : ''}`;
}

/**
 * @param {ChartInstance} chart
 * @param {AlertMark} m
 */
function drawHoverLabel(chart, m) {
  const ctx = chart.ctx;
  const area = chart.chartArea;
  const full = markText(m);
  let text = full;
  ctx.font = `11px ${String(Chart.defaults.font.family)}`;
  ctx.setLineDash([]);
  const maxWidth = area.right - area.left - 8;
  while (text.length > 4 && ctx.measureText(text).width > maxWidth) text = text.slice(0, -2);
  if (text !== full) text = `${text.slice(0, -1)}…`;
  const w = ctx.measureText(text).width + 8;
  const px = chart.scales.x.getPixelForValue(m.t);
  const left = Math.min(Math.max(area.left, px - w / 2), area.right - w);
  ctx.fillStyle = 'rgba(13, 17, 23, 0.92)';
  ctx.strokeStyle = severityColor(m.to);
  ctx.lineWidth = 1;
  ctx.fillRect(left, area.top + 8, w, 18);
  ctx.strokeRect(left, area.top + 8, w, 18);
  ctx.fillStyle = colors.label;
  ctx.textBaseline = 'middle';
  ctx.fillText(text, left + 4, area.top + 17);
}

/**
 * @param {ChartInstance} chart
 * @param {AlertMark} m
 * @returns {DrawnMark | null} null when the mark falls outside the plotted time range
 */
function drawMark(chart, m) {
  const area = chart.chartArea;
  const ctx = chart.ctx;
  const px = chart.scales.x.getPixelForValue(m.t);
  if (!(px >= area.left - 0.5 && px <= area.right + 0.5)) return null;
  const hovered = chart.$alertHover === m;
  ctx.strokeStyle = severityColor(m.to);
  ctx.fillStyle = severityColor(m.to);
  ctx.lineWidth = hovered ? 2.5 : 1.5;
  ctx.setLineDash(hovered ? [] : [4, 3]);
  ctx.beginPath();
  ctx.moveTo(px, area.top);
  ctx.lineTo(px, area.bottom);
  ctx.stroke();
  ctx.beginPath();
  ctx.moveTo(px - 4, area.top);
  ctx.lineTo(px + 4, area.top);
  ctx.lineTo(px, area.top + 6);
  ctx.closePath();
  ctx.fill();
  return { t: m.t, x: px, key: m.key, to: m.to };
}

/** @type {import('chart.js').Plugin} */
export const alertMarkers = {
  id: 'alertMarkers',
  afterDatasetsDraw(chart) {
    const marks = chart.$alertMarks ?? [];
    const x = chart.scales.x;
    /** @type {DrawnMark[]} */
    const drawn = [];
    if (marks.length > 0 && x && x.type === 'linear') {
      chart.ctx.save();
      for (const m of marks) {
        const d = drawMark(chart, m);
        if (d !== null) drawn.push(d);
      }
      const hover = chart.$alertHover;
      if (hover && drawn.some((d) => d.t === hover.t)) drawHoverLabel(chart, hover);
      chart.ctx.restore();
    }
    chart.$alertMarksDrawn = drawn;
    chart.canvas.setAttribute('data-alert-marks', String(drawn.length));
  },
  afterEvent(chart, args) {
    const e = args.event;
    const x = chart.scales.x;
    /** @type {AlertMark | null} */
    let hit = null;
    if (e.type === 'mousemove' && args.inChartArea && x.type === 'linear' && e.x !== null) {
      let best = HOVER_PX;
      for (const m of chart.$alertMarks ?? []) {
        const dx = Math.abs(x.getPixelForValue(m.t) - e.x);
        if (dx <= best) {
          best = dx;
          hit = m;
        }
      }
    }
    if (hit !== (chart.$alertHover ?? null)) {
      chart.$alertHover = hit;
      chart.canvas.title = hit ? markText(hit) : '';
      args.changed = true;
    }
  },
};

/**
 * Deploy markers on the history charts: a solid purple line where a process started (history snapshots record
 * the version and start time of the process that took them), labelled with its version. For tests and scripts,
 * each canvas carries data-deploy-marks (how many are drawn) and chart.$deployMarksDrawn (their times).
 * @type {import('chart.js').Plugin}
 */
export const deployMarkers = {
  id: 'deployMarkers',
  afterDatasetsDraw(chart) {
    const marks = chart.$deployMarks ?? [];
    const x = chart.scales.x;
    /** @type {number[]} */
    const drawn = [];
    if (marks.length > 0 && x && x.type === 'linear') {
      const area = chart.chartArea;
      const ctx = chart.ctx;
      ctx.save();
      ctx.strokeStyle = colors.purple;
      ctx.fillStyle = colors.purple;
      ctx.lineWidth = 1.5;
      ctx.setLineDash([]);
      ctx.font = `10px ${String(Chart.defaults.font.family)}`;
      ctx.textBaseline = 'bottom';
      for (const m of marks) {
        const px = x.getPixelForValue(m.t);
        if (!(px >= area.left - 0.5 && px <= area.right + 0.5)) continue;
        ctx.beginPath();
        ctx.moveTo(px, area.top);
        ctx.lineTo(px, area.bottom);
        ctx.stroke();
        const label = m.version ? `v${m.version}` : 'start';
        const w = ctx.measureText(label).width;
        ctx.fillText(label, Math.min(px + 3, area.right - w), area.bottom - 2);
        drawn.push(m.t);
      }
      ctx.restore();
    }
    chart.$deployMarksDrawn = drawn;
    chart.canvas.setAttribute('data-deploy-marks', String(drawn.length));
  },
};
