// @ts-check
/* The range selector: Live, or /metrics/history over 1 h … 30 d with alert transitions marked on the charts and
 * listed below them, optionally for one instance. The choice lives in the URL hash (#range=24h&instance=…), so
 * a reload or a shared link keeps it. */
import { fetchHistory, HISTORY_REFRESH_MS, HISTORY_TIMEOUT_MS, isTimeout, REFRESH_MS } from './api.js';
import { isHistoryRange, MAX_POINTS, RANGES, showHistoryCharts, showLiveCharts } from './charts.js';
import { byId } from './dom.js';
import { clockTime, dateTime, fmtBucket, plural } from './format.js';

/** @typedef {import('./server-types').MetricsHistoryResponse} MetricsHistoryResponse */
/** @typedef {import('./server-types').HistoryRange} HistoryRange */
/** @typedef {import('./globals').AlertMark} AlertMark */
/** @typedef {import('./globals').DeployMark} DeployMark */
/** @typedef {'live' | HistoryRange} Range */
/** @typedef {{ range: Range, instance: string }} Selection */
/** @template T @typedef {import('./api.js').ApiResult<T>} ApiResult */

const LIVE = 'live';

let selected = readHash();
/** @type {ReturnType<typeof setTimeout> | null} */
let historyTimer = null;
/** Bumped by every new choice: an answer carrying an older number belongs to a previous choice and is dropped. */
let historySeq = 0;
/** What the charts show in history mode: "range|instance" of the last good answer, so a failed refresh keeps it. */
let historyShown = /** @type {string | null} */ (null);

export function isLiveSelected() {
  return selected.range === LIVE;
}

/** @returns {Selection} */
function readHash() {
  const h = new URLSearchParams(window.location.hash.replace(/^#/, ''));
  const range = h.get('range') ?? '';
  return { range: isHistoryRange(range) ? range : LIVE, instance: h.get('instance') ?? '' };
}

function writeHash() {
  const h = new URLSearchParams();
  if (selected.range !== LIVE) h.set('range', selected.range);
  if (selected.range !== LIVE && selected.instance) h.set('instance', selected.instance);
  const hash = h.toString();
  const base = window.location.pathname + window.location.search;
  const url = base + (hash ? `#${hash}` : '');
  if (url !== base + window.location.hash) window.history.replaceState(null, '', url);
}

function historyKey() {
  return `${selected.range}|${selected.instance}`;
}

/** @param {ApiResult<unknown>} res */
function describeHistoryFailure(res) {
  if (res.status === 401) return 'History: unauthorized: reload the page to sign in again';
  const body = /** @type {import('./api.js').ErrorBody | null} */ (res.body);
  const message = Array.isArray(body?.message) ? body.message.join('; ') : body?.message;
  if (typeof message === 'string' && message) return message;
  if (res.status === 404) return 'History is not available on this server (HTTP 404)';
  return `History request failed: HTTP ${res.status}`;
}

/** @param {'loading' | 'ready' | 'error'} state for tests and scripts: what the history view is doing */
function setHistoryState(state) {
  document.body.setAttribute('data-history', state);
}

/** @param {string} message */
function showHistoryError(message) {
  const box = byId('history-error');
  box.textContent = message;
  box.hidden = false;
  setHistoryState('error');
  // With nothing good for this range yet the charts stay empty; after a good answer they keep it.
  if (historyShown !== historyKey()) emptyHistory();
}

/**
 * Empty charts on the selected range's axis (never another range's figures), until its answer arrives.
 * @param {HistoryRange} range
 */
function emptyHistory(range = /** @type {HistoryRange} */ (selected.range)) {
  const now = Date.now();
  showHistoryCharts(range, now - RANGES[range].ms, now, 60000, [], [], []);
  byId('history-alerts').hidden = true;
  byId('history-info').textContent = '';
}

/** @param {string[]} ids */
function renderInstances(ids) {
  const select = byId('history-instance', HTMLSelectElement);
  const list = ids.slice();
  if (selected.instance && !list.includes(selected.instance)) list.push(selected.instance);
  /** @type {Array<[string, string]>} */
  const options = [['', 'All instances'], ...list.map((id) => /** @type {[string, string]} */ ([id, id]))];
  select.replaceChildren(
    ...options.map(([value, text]) => {
      const opt = document.createElement('option');
      opt.value = value;
      opt.textContent = text;
      return opt;
    }),
  );
  select.value = selected.instance;
  // A choice only exists with more than one instance (or once one was picked, so it can be undone).
  byId('instance-box').hidden = list.length < 2 && !selected.instance;
}

/** @param {MetricsHistoryResponse['alerts']} alerts */
function renderHistoryAlerts(alerts) {
  byId('history-alerts').hidden = false;
  byId('history-alert-count').textContent = `(${alerts.length})`;
  byId('history-alerts-none').hidden = alerts.length > 0;
  // Newest first, like the active alerts; the charts draw every one of them.
  const items = alerts
    .slice()
    .reverse()
    .map((a) => {
      const li = document.createElement('li');
      li.className = a.to === 'critical' ? 'critical' : a.to === 'warning' ? 'warning' : 'resolved';
      li.setAttribute('data-key', String(a.key));
      li.setAttribute('data-to', String(a.to));
      li.setAttribute('data-timestamp', String(a.timestamp));
      const time = document.createElement('time');
      time.className = 'when';
      time.dateTime = String(a.timestamp);
      time.textContent = dateTime(new Date(a.timestamp));
      const sev = document.createElement('span');
      sev.className = 'severity';
      sev.textContent = a.to === 'ok' ? 'resolved' : String(a.to);
      const msg = document.createElement('span');
      msg.textContent = String(a.message || a.key);
      const meta = document.createElement('span');
      meta.className = 'meta';
      meta.textContent =
        `${String(a.key)} ${String(a.from)} → ${String(a.to)}` +
        (a.instanceId ? ` · ${String(a.instanceId)}` : '');
      li.append(time, sev, msg, meta);
      return li;
    });
  byId('history-alert-list').replaceChildren(...items);
}

/**
 * @param {HistoryRange} range
 * @param {MetricsHistoryResponse} body
 */
function renderHistory(range, body) {
  const from = Date.parse(body.from);
  const to = Date.parse(body.to);
  /** @type {AlertMark[]} */
  const marks = body.alerts
    .map((a) => ({
      t: Date.parse(a.timestamp),
      key: String(a.key),
      from: String(a.from),
      to: String(a.to),
      message: String(a.message || ''),
    }))
    .filter((m) => isFinite(m.t));
  /** @type {DeployMark[]} */
  const deploys = (Array.isArray(body.deploys) ? body.deploys : [])
    .map((d) => ({
      t: Date.parse(d.startedAt),
      instanceId: String(d.instanceId),
      version: String(d.version),
    }))
    .filter((d) => isFinite(d.t));
  showHistoryCharts(range, from, to, body.bucketMs, body.points, marks, deploys);
  renderHistoryAlerts(body.alerts);
  renderInstances(Array.isArray(body.instances) ? body.instances : []);
  historyShown = historyKey();
  byId('history-error').hidden = true;
  byId('history-info').textContent =
    `${dateTime(new Date(from))} – ${dateTime(new Date(to))} · ${plural(body.points.length, 'point')} of ` +
    `${fmtBucket(body.bucketMs)} · ${body.backend} · refreshed ${clockTime(new Date())}`;
  document.body.setAttribute('data-history-to', String(body.to));
  setHistoryState('ready');
}

/**
 * A new point appears at most once per bucket (the snapshot interval at 1 h): no use asking more often than
 * that, and at least every HISTORY_REFRESH_MS so the latest bucket fills in.
 * @param {number | null} bucketMs
 */
function historyRefreshMs(bucketMs) {
  return Math.min(HISTORY_REFRESH_MS, Math.max(bucketMs || HISTORY_REFRESH_MS, 1000));
}

async function loadHistory() {
  if (historyTimer !== null) clearTimeout(historyTimer);
  historyTimer = null;
  const range = selected.range;
  if (range === LIVE) return;
  const seq = ++historySeq;
  /** @type {number | null} */
  let bucketMs = null;
  setHistoryState('loading');
  try {
    const res = await fetchHistory(range, selected.instance);
    if (seq !== historySeq) return;
    const body = res.status === 200 ? /** @type {MetricsHistoryResponse | null} */ (res.body) : null;
    if (body && Array.isArray(body.points) && Array.isArray(body.alerts)) {
      bucketMs = body.bucketMs;
      renderHistory(range, body);
    } else {
      showHistoryError(describeHistoryFailure(res));
    }
  } catch (err) {
    if (seq !== historySeq) return;
    showHistoryError(
      isTimeout(err)
        ? `History did not answer within ${HISTORY_TIMEOUT_MS / 1000} s`
        : 'History is unreachable: server unreachable',
    );
  }
  if (seq !== historySeq || selected.range === LIVE || document.hidden) return;
  historyTimer = setTimeout(() => void loadHistory(), historyRefreshMs(bucketMs));
}

/**
 * @param {Range} range
 * @param {string} instance
 */
function select(range, instance) {
  selected = { range, instance: range === LIVE ? '' : instance };
  writeHash();
  document.body.setAttribute('data-selected-range', range);
  for (const button of document.querySelectorAll('#ranges [data-range]'))
    button.setAttribute('aria-pressed', String(button.getAttribute('data-range') === range));
  byId('history-info').textContent =
    range === LIVE
      ? `last ${Math.round((MAX_POINTS * REFRESH_MS) / 60000)} min, every ${REFRESH_MS / 1000} s`
      : '';
  byId('history-alerts').hidden = true;
  byId('history-error').hidden = true;
  if (range === LIVE) byId('instance-box').hidden = true;
  // Cancels a history answer still in flight: it belongs to the previous choice.
  historySeq++;
  if (historyTimer !== null) clearTimeout(historyTimer);
  historyTimer = null;
  historyShown = null;
  if (range === LIVE) {
    document.body.removeAttribute('data-history');
    document.body.removeAttribute('data-history-to');
    showLiveCharts();
  } else {
    emptyHistory(range);
    void loadHistory();
  }
}

/** Applies the hash's choice and follows the range buttons, the instance menu and hash edits. */
export function startHistoryView() {
  byId('ranges').addEventListener('click', (e) => {
    const button = e.target instanceof Element ? e.target.closest('[data-range]') : null;
    const range = button?.getAttribute('data-range') ?? '';
    if (range === LIVE || isHistoryRange(range)) select(range, selected.instance);
  });
  const instances = byId('history-instance', HTMLSelectElement);
  instances.addEventListener('change', () => select(selected.range, instances.value));
  window.addEventListener('hashchange', () => {
    const wanted = readHash();
    if (wanted.range !== selected.range || wanted.instance !== selected.instance)
      select(wanted.range, wanted.instance);
  });
  select(selected.range, selected.instance);
}

/** Stops refreshing while the tab is hidden. */
export function pauseHistory() {
  if (historyTimer !== null) clearTimeout(historyTimer);
  historyTimer = null;
}

/** Refreshes at once when the tab comes back, if a history range is shown and no refresh is pending. */
export function resumeHistory() {
  if (selected.range !== LIVE && historyTimer === null) void loadHistory();
}
