// @ts-check
/* The five line charts: each reads its series from a /metrics answer (live, kept for the last MAX_POINTS polls)
 * or from a /metrics/history point (a chosen range on a time axis). Only totals are drawn, so the page costs the
 * same with 10 or 10,000 sockets. */
import { alertMarkers, colors, deployMarkers } from './chart-plugins.js';
import { dateTime, dayMonth, hhmm, mbFromText, megabytes } from './format.js';

/** @typedef {import('./server-types').MetricsSnapshot} MetricsSnapshot */
/** @typedef {import('./server-types').MetricHistoryPoint} MetricHistoryPoint */
/** @typedef {import('./server-types').HistoryRange} HistoryRange */
/** @typedef {import('./globals').AlertMark} AlertMark */
/** @typedef {import('./globals').DeployMark} DeployMark */
/** @typedef {import('chart.js').Chart<'line', LineData, string>} LineChart */
/** @typedef {Array<number | null | { x: number, y: number | null }>} LineData */
/** @typedef {NonNullable<NonNullable<import('chart.js').ChartOptions<'line'>['scales']>['x']>} XScale */

/** 10 minutes at the default refresh. */
export const MAX_POINTS = 120;

Chart.defaults.color = colors.text;
Chart.defaults.borderColor = colors.grid;
Chart.defaults.font.size = 11;

/**
 * The history ranges: how far back, and where the time axis puts its ticks. Bucket widths come from the server;
 * keyed by the server's own range names, so a renamed range fails the type check.
 * @typedef {{ ms: number, unit: 'minute' | 'hour' | 'day', step: number, maxTicks: number }} RangeSpec
 * @type {Record<HistoryRange, RangeSpec>}
 */
export const RANGES = {
  '1h': { ms: 3600000, unit: 'minute', step: 10, maxTicks: 7 },
  '24h': { ms: 86400000, unit: 'hour', step: 3, maxTicks: 9 },
  '7d': { ms: 604800000, unit: 'day', step: 1, maxTicks: 8 },
  '30d': { ms: 2592000000, unit: 'day', step: 1, maxTicks: 8 },
};

/**
 * @param {string} range
 * @returns {range is HistoryRange}
 */
export function isHistoryRange(range) {
  return Object.prototype.hasOwnProperty.call(RANGES, range);
}

/**
 * Tick values between min and max on local-time boundaries (every 10 min, 3 h, day…), at most spec.maxTicks.
 * @param {number} min
 * @param {number} max
 * @param {RangeSpec} spec
 */
function timeTicks(min, max, spec) {
  const d = new Date(min);
  d.setSeconds(0, 0);
  if (spec.unit === 'minute') d.setMinutes(Math.floor(d.getMinutes() / spec.step) * spec.step);
  if (spec.unit === 'hour') d.setHours(Math.floor(d.getHours() / spec.step) * spec.step, 0);
  if (spec.unit === 'day') d.setHours(0, 0);
  /** @type {number[]} */
  const ticks = [];
  for (let guard = 0; d.getTime() <= max && guard < 1000; guard++) {
    if (d.getTime() >= min) ticks.push(d.getTime());
    if (spec.unit === 'minute') d.setMinutes(d.getMinutes() + spec.step);
    else if (spec.unit === 'hour') d.setHours(d.getHours() + spec.step);
    else d.setDate(d.getDate() + spec.step);
  }
  const stride = Math.max(1, Math.ceil(ticks.length / spec.maxTicks));
  return ticks.filter((_, i) => i % stride === 0);
}

/**
 * @param {number} value
 * @param {HistoryRange} range
 */
function tickLabel(value, range) {
  const d = new Date(value);
  if (range === '1h') return hhmm(d);
  if (range === '24h') return d.getHours() === 0 && d.getMinutes() === 0 ? dayMonth(d) : hhmm(d);
  if (range === '7d') return d.toLocaleDateString('en-GB', { weekday: 'short', day: '2-digit' });
  return dayMonth(d);
}

/** @returns {XScale} */
function liveXScale() {
  return { type: 'category', ticks: { maxTicksLimit: 6, maxRotation: 0 } };
}

/**
 * @param {HistoryRange} range
 * @param {number} from
 * @param {number} to
 * @returns {XScale}
 */
function historyXScale(range, from, to) {
  return {
    type: 'linear',
    min: from,
    max: to,
    afterBuildTicks: (/** @type {import('chart.js').Scale} */ scale) => {
      scale.ticks = timeTicks(from, to, RANGES[range]).map((value) => ({ value }));
    },
    ticks: {
      autoSkip: false,
      maxRotation: 0,
      callback: (/** @type {number | string} */ value) => tickLabel(Number(value), range),
    },
  };
}

/**
 * A point is drawn as a dot when it stands alone between gaps (a line needs two), or when there are few.
 * @param {import('chart.js').ScriptableContext<'line'>} ctx
 */
function historyPointRadius(ctx) {
  const data = /** @type {Array<{ x: number }>} */ (/** @type {unknown} */ (ctx.dataset.data));
  const gap = ctx.chart.$maxGap;
  const i = ctx.dataIndex;
  if (!data[i] || typeof gap !== 'number') return 0;
  if (data.length <= 60) return 2;
  const before = i === 0 || data[i].x - data[i - 1].x > gap;
  const after = i === data.length - 1 || data[i + 1].x - data[i].x > gap;
  return before && after ? 2 : 0;
}

/**
 * @param {string} id the canvas
 * @param {Array<{ label: string, color: string }>} series
 * @returns {LineChart}
 */
function lineChart(id, series) {
  const canvas = document.getElementById(id);
  if (!(canvas instanceof HTMLCanvasElement)) throw new Error(`dashboard markup has no canvas #${id}`);
  /** @type {import('chart.js').ChartConfiguration<'line', LineData, string>} */
  const config = {
    type: 'line',
    data: {
      labels: [],
      datasets: series.map((s) => ({
        label: s.label,
        data: [],
        borderColor: s.color,
        backgroundColor: s.color,
        borderWidth: 2,
        pointRadius: 0,
        tension: 0.2,
      })),
    },
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      interaction: { mode: 'index', intersect: false },
      plugins: {
        legend: { display: series.length > 1, labels: { boxWidth: 10 } },
        tooltip: {
          callbacks: {
            title: (items) => {
              if (!items.length) return '';
              const x = items[0].chart.scales.x;
              return x.type === 'linear' ? dateTime(new Date(items[0].parsed.x ?? 0)) : items[0].label;
            },
          },
        },
      },
      scales: {
        x: liveXScale(),
        y: { beginAtZero: true, ticks: { maxTicksLimit: 5 } },
      },
    },
    plugins: [deployMarkers, alertMarkers],
  };
  return new Chart(canvas, config);
}

/**
 * @typedef {object} ChartSpec
 * @property {LineChart} chart
 * @property {(m: MetricsSnapshot) => Array<number | null>} live one value per series from a /metrics answer
 * @property {(p: MetricHistoryPoint) => Array<number | null>} history one value per series from a history point
 */

/** @type {ChartSpec[]} */
const charts = [
  {
    chart: lineChart('chart-connections', [{ label: 'connections', color: colors.blue }]),
    live: (m) => [m.websocket.totalConnections],
    history: (p) => [p.connections],
  },
  {
    chart: lineChart('chart-memory', [
      { label: 'RSS', color: colors.purple },
      { label: 'heap used', color: colors.green },
    ]),
    live: (m) => [mbFromText(m.system.memory.rss), mbFromText(m.system.memory.heapUsed)],
    history: (p) => [megabytes(p.rss), megabytes(p.heapUsed)],
  },
  {
    chart: lineChart('chart-events', [{ label: 'events/s', color: colors.green }]),
    live: (m) => [m.websocket.eventsPerSecond],
    history: (p) => [p.eventsPerSecond],
  },
  {
    chart: lineChart('chart-latency', [{ label: 'p95 ms', color: colors.orange }]),
    live: (m) => [m.websocket.latency.p95],
    history: (p) => [p.wsLatencyP95],
  },
  {
    chart: lineChart('chart-errors', [{ label: 'error %', color: colors.red }]),
    live: (m) => [m.http.errorRate],
    history: (p) => [p.httpErrorRate],
  },
];

/* The live series are kept whatever range is shown, so going back to Live shows the last minutes at once. */
const live = charts.map((c) => ({
  /** @type {string[]} */
  labels: [],
  series: c.chart.data.datasets.map(() => /** @type {Array<number | null>} */ ([])),
}));

/**
 * Adds one /metrics answer to the live series (dropping the oldest beyond MAX_POINTS); the caller redraws.
 * @param {MetricsSnapshot} m
 * @param {string} label
 */
export function pushLivePoint(m, label) {
  charts.forEach((c, n) => {
    const buffer = live[n];
    buffer.labels.push(label);
    c.live(m).forEach((v, i) => buffer.series[i].push(v));
    if (buffer.labels.length > MAX_POINTS) {
      buffer.labels.shift();
      buffer.series.forEach((s) => s.shift());
    }
  });
}

export function showLiveCharts() {
  charts.forEach((c, n) => {
    const chart = c.chart;
    if (chart.options.scales?.x?.type !== 'category')
      chart.options.scales = { ...chart.options.scales, x: liveXScale() };
    chart.$alertMarks = [];
    chart.$alertHover = null;
    chart.$deployMarks = [];
    chart.data.labels = live[n].labels.slice();
    chart.data.datasets.forEach((d, i) => {
      d.data = live[n].series[i].slice();
      d.spanGaps = false;
      d.pointRadius = 0;
    });
    chart.update('none');
  });
}

/**
 * History points as {x: epoch ms, y}; buckets with no snapshot are absent, and a spanGaps of 1.5 buckets breaks
 * the line there instead of drawing across the hole.
 * @param {HistoryRange} range
 * @param {number} from epoch ms
 * @param {number} to epoch ms
 * @param {number} bucketMs
 * @param {MetricHistoryPoint[]} points
 * @param {AlertMark[]} marks
 * @param {DeployMark[]} deploys
 */
export function showHistoryCharts(range, from, to, bucketMs, points, marks, deploys) {
  for (const c of charts) {
    const chart = c.chart;
    chart.options.scales = { ...chart.options.scales, x: historyXScale(range, from, to) };
    chart.$alertMarks = marks;
    chart.$alertHover = null;
    chart.$deployMarks = deploys;
    chart.$maxGap = bucketMs * 1.5;
    chart.data.labels = [];
    chart.data.datasets.forEach((d, i) => {
      d.data = points.map((p) => ({ x: Date.parse(p.timestamp), y: c.history(p)[i] }));
      d.spanGaps = bucketMs * 1.5;
      d.pointRadius = historyPointRadius;
    });
    chart.update('none');
  }
}
