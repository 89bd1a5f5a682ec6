// @ts-check
/* The live view: polls /metrics (and /alerts, and /metrics/cluster when Redis is configured) every REFRESH_MS,
 * fills the tiles, the active-alerts and cluster panels and the live chart series, and shows a "disconnected"
 * banner while polling fails. These stay live whatever chart range is selected. */
import { fetchAlerts, fetchCluster, fetchMetrics, isTimeout, REFRESH_MS } from './api.js';
import { pushLivePoint, showLiveCharts } from './charts.js';
import { byId } from './dom.js';
import { clockTime, fmtBytes, fmtDuration, fmtNumber, pathValue, plural } from './format.js';
import { isLiveSelected } from './history-view.js';

/** @typedef {import('./server-types').MetricsSnapshot} MetricsSnapshot */
/** @typedef {import('./server-types').AlertsResponse} AlertsResponse */
/** @typedef {import('./server-types').ClusterView} ClusterView */
/** @template T @typedef {import('./api.js').ApiResult<T>} ApiResult */

/** @type {Date | null} */
let lastOk = null;
/** @type {ReturnType<typeof setTimeout> | null} */
let timer = null;
/** Bumped by startLive and stopLive: a poll still in flight from an earlier run must not schedule another. */
let run = 0;
let polling = false;

/**
 * @param {unknown} v
 * @param {HTMLElement} el
 */
function tileText(v, el) {
  if (v === undefined || v === null) return '–';
  if (el.getAttribute('data-format') === 'duration') return fmtDuration(Number(v));
  if (el.getAttribute('data-format') === 'bytes') return fmtBytes(Number(v));
  // Memory comes as "123.45 MB": shown rounded.
  if (typeof v === 'string') return /^[\d.]+ MB$/.test(v) ? `${fmtNumber(Math.round(parseFloat(v)))} MB` : v;
  // A negative figure is the server's "could not be measured" (Redis latency while Redis is down).
  if (typeof v === 'number' && v < 0) return 'down';
  const unit = el.getAttribute('data-unit') ?? '';
  return fmtNumber(v) + (unit ? ` ${unit}` : '');
}

/** @param {unknown} v */
function rawText(v) {
  if (v === undefined) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

/** @param {MetricsSnapshot} m */
function renderTiles(m) {
  byId('redis-tile').hidden = m.redis === undefined;
  for (const el of document.querySelectorAll('[data-metric]')) {
    if (!(el instanceof HTMLElement)) continue;
    const v = pathValue(m, el.getAttribute('data-metric') ?? '');
    // The raw figure, for tests and scripts that compare the page with /metrics.
    el.setAttribute('data-value', rawText(v));
    el.textContent = tileText(v, el);
  }
}

/**
 * @param {boolean} ok
 * @param {string} [reason]
 */
function setState(ok, reason) {
  const status = byId('status');
  const banner = byId('banner');
  document.body.classList.toggle('stale', !ok);
  if (ok) {
    status.textContent = 'live';
    status.className = 'status status-live';
    banner.hidden = true;
    document.body.removeAttribute('data-disconnected');
  } else {
    status.textContent = 'disconnected';
    status.className = 'status status-down';
    const since = lastOk ? ` since ${clockTime(lastOk)}` : '';
    byId('banner-reason').textContent = `(${reason ?? 'unknown'})${since}.`;
    banner.hidden = false;
    document.body.setAttribute('data-disconnected', 'true');
  }
}

/** @param {ApiResult<unknown>} res */
function describeFailure(res) {
  if (res.status === 401) return 'unauthorized: reload the page to sign in again';
  const body = /** @type {import('./api.js').ErrorBody | null} */ (res.body);
  if (body && typeof body.error === 'string') return body.error;
  return `HTTP ${res.status}`;
}

/** @param {ApiResult<AlertsResponse> | null} res */
function renderAlerts(res) {
  const panel = byId('alerts');
  const body = res?.status === 200 ? /** @type {AlertsResponse | null} */ (res.body) : null;
  if (!body || !Array.isArray(body.active)) {
    panel.hidden = true;
    return;
  }
  panel.hidden = false;
  const active = body.active;
  byId('alert-count').textContent = `(${active.length})`;
  byId('alerts-none').hidden = active.length > 0;
  byId('alert-list').replaceChildren(
    ...active.map((a) => {
      const li = document.createElement('li');
      li.className = a.severity === 'critical' ? 'critical' : 'warning';
      const sev = document.createElement('span');
      sev.className = 'severity';
      sev.textContent = String(a.severity);
      const msg = document.createElement('span');
      msg.textContent = String(a.message || a.key);
      const meta = document.createElement('span');
      meta.className = 'meta';
      const since = a.since ? new Date(a.since) : null;
      meta.textContent =
        (a.value !== null && a.value !== undefined ? `value ${fmtNumber(a.value)}` : '') +
        (a.threshold !== null && a.threshold !== undefined ? ` / threshold ${fmtNumber(a.threshold)}` : '') +
        (since && !isNaN(since.getTime()) ? ` · since ${clockTime(since)}` : '');
      li.append(sev, msg, meta);
      return li;
    }),
  );
}

/** @param {ApiResult<ClusterView> | null} res */
function renderCluster(res) {
  const panel = byId('cluster');
  const c = res?.status === 200 ? /** @type {ClusterView | null} */ (res.body) : null;
  if (!c || !Array.isArray(c.instances)) {
    panel.hidden = true;
    return;
  }
  panel.hidden = false;
  byId('cluster-summary').textContent =
    `(${plural(c.instanceCount, 'instance')} · ${plural(c.totalConnections, 'connection')} · ` +
    `${plural(c.uniqueUsers, 'user')})`;
  const rows = c.instances.map((i) => {
    const tr = document.createElement('tr');
    /** @type {Array<[string, string]>} */
    const cells = [
      [i.instanceId, ''],
      [i.hostname, ''],
      [i.version, ''],
      [fmtNumber(i.connections), 'num'],
      [fmtNumber(i.uniqueUsers), 'num'],
      [typeof i.uptime === 'number' ? fmtDuration(i.uptime) : '–', 'num'],
      [i.startedAt ? new Date(i.startedAt).toLocaleString('en-GB', { hour12: false }) : '–', ''],
    ];
    for (const [text, className] of cells) {
      const td = document.createElement('td');
      td.textContent = String(text);
      if (className) td.className = className;
      tr.appendChild(td);
    }
    return tr;
  });
  byId('cluster-rows').replaceChildren(...rows);
}

/**
 * @param {HTMLElement} list
 * @param {Array<{ reason: string; count: number }> | undefined} reasons
 */
function renderReasons(list, reasons) {
  const items = (reasons ?? []).map((r) => {
    const li = document.createElement('li');
    li.textContent = `${r.reason} · ${fmtNumber(r.count)}`;
    return li;
  });
  if (items.length === 0) {
    const li = document.createElement('li');
    li.className = 'muted';
    li.textContent = 'none since start';
    items.push(li);
  }
  list.replaceChildren(...items);
}

/**
 * The delivery row's lists; its tiles are filled with the others. Probes exist only with Redis.
 * @param {MetricsSnapshot} m
 */
function renderDelivery(m) {
  renderReasons(byId('disconnect-reasons'), m.delivery?.topDisconnectReasons);
  renderReasons(byId('refusal-reasons'), m.delivery?.topRefusalReasons);
  const probes = m.probes;
  byId('probes').hidden = probes === undefined;
  if (probes === undefined) return;
  byId('probe-interval').textContent = `(one every ${fmtNumber(probes.intervalMs / 1000)} s)`;
  byId('probes-none').hidden = probes.peers.length > 0;
  byId('probe-rows').replaceChildren(
    ...probes.peers.map((p) => {
      const tr = document.createElement('tr');
      tr.setAttribute('data-peer', p.instanceId);
      const name = document.createElement('td');
      name.textContent = p.instanceId;
      const age = document.createElement('td');
      age.className = 'num';
      age.textContent = `${fmtNumber(Math.round(p.ageMs / 100) / 10)} s`;
      const state = document.createElement('td');
      state.textContent = p.silent ? 'silent' : 'ok';
      if (p.silent) state.className = 'silent';
      tr.append(name, age, state);
      return tr;
    }),
  );
}

/** @param {MetricsSnapshot} m */
async function showMetrics(m) {
  const now = new Date();
  lastOk = now;
  renderTiles(m);
  renderDelivery(m);
  pushLivePoint(m, clockTime(now));
  // The live series grow whatever range is shown; they are drawn only while Live is selected.
  if (isLiveSelected()) showLiveCharts();
  byId('updated').textContent = clockTime(now);
  setState(true);
  // The cluster view exists only with Redis; without it this instance is the whole cluster.
  renderCluster(m.redis !== undefined ? await fetchCluster() : null);
}

/** @param {number} myRun */
async function tick(myRun) {
  const alerts = fetchAlerts();
  try {
    const res = await fetchMetrics();
    const body = res.status === 200 ? /** @type {MetricsSnapshot | null} */ (res.body) : null;
    if (body && body.websocket) await showMetrics(body);
    else setState(false, describeFailure(res));
  } catch (err) {
    setState(false, isTimeout(err) ? 'request timed out' : 'server unreachable');
  }
  renderAlerts(await alerts);
  if (polling && myRun === run) timer = setTimeout(() => void tick(myRun), REFRESH_MS);
}

/** Polls now and every REFRESH_MS until stopLive(). */
export function startLive() {
  if (polling) return;
  polling = true;
  void tick(++run);
}

/** A hidden tab stops polling; startLive() on its return refreshes at once instead of showing old figures. */
export function stopLive() {
  polling = false;
  run++;
  if (timer !== null) clearTimeout(timer);
  timer = null;
}
