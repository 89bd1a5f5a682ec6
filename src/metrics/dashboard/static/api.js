// @ts-check
/* The same-origin JSON endpoints the page reads. Fetches carry the browser's credentials, so METRICS_TOKEN basic
 * auth keeps working, and each one is aborted when it outlives its budget. Bodies are typed as the server
 * declares them (server-types.d.ts); the views still check the shape they rely on, since a proxy or an older
 * server may answer something else. */
import { clamp } from './format.js';

/** @typedef {import('./server-types').MetricsSnapshot} MetricsSnapshot */
/** @typedef {import('./server-types').AlertsResponse} AlertsResponse */
/** @typedef {import('./server-types').ClusterView} ClusterView */
/** @typedef {import('./server-types').MetricsHistoryResponse} MetricsHistoryResponse */
/** @typedef {import('./server-types').HistoryRange} HistoryRange */

/** Error bodies: Nest's exceptions put the reason in `message`, /metrics's 503 in `error`. */
/** @typedef {{ error?: unknown, message?: unknown }} ErrorBody */

/**
 * What an endpoint answered: its status and JSON body (null when the body was not JSON). The body has the
 * server's type only on a 200.
 * @template T
 * @typedef {{ status: 200, body: T | null } | { status: number, body: ErrorBody | null }} ApiResult
 */

const params = new URLSearchParams(window.location.search);

/** Polling period of the live figures: 5 s, or ?refresh=<ms> (1 s … 60 s). */
export const REFRESH_MS = clamp(Number(params.get('refresh')) || 5000, 1000, 60000);
/** Upper bound between two history refreshes: 60 s, or ?historyRefresh=<ms> (1 s … 10 min). */
export const HISTORY_REFRESH_MS = clamp(Number(params.get('historyRefresh')) || 60000, 1000, 600000);
export const HISTORY_TIMEOUT_MS = 10000;

/**
 * @template T
 * @param {string} url
 * @param {number} [timeoutMs] defaults to just under one refresh period, so polls never overlap
 * @returns {Promise<ApiResult<T>>}
 */
async function fetchJson(url, timeoutMs) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs ?? Math.max(2000, REFRESH_MS - 500));
  try {
    const res = await fetch(url, {
      credentials: 'same-origin',
      cache: 'no-store',
      headers: { Accept: 'application/json' },
      signal: controller.signal,
    });
    /** @type {unknown} */
    const body = await res.json().catch(() => null);
    return /** @type {ApiResult<T>} */ ({ status: res.status, body });
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A fetch whose failure is not the page's problem (an optional panel): null instead of a rejection.
 * @template T
 * @param {Promise<ApiResult<T>>} request
 * @returns {Promise<ApiResult<T> | null>}
 */
function optional(request) {
  return request.catch(() => null);
}

/** @returns {Promise<ApiResult<MetricsSnapshot>>} */
export function fetchMetrics() {
  return fetchJson('/metrics');
}

/** @returns {Promise<ApiResult<AlertsResponse> | null>} */
export function fetchAlerts() {
  return optional(fetchJson('/alerts'));
}

/** @returns {Promise<ApiResult<ClusterView> | null>} */
export function fetchCluster() {
  return optional(fetchJson('/metrics/cluster'));
}

/**
 * @param {HistoryRange} range
 * @param {string} instance empty for every instance
 * @returns {Promise<ApiResult<MetricsHistoryResponse>>}
 */
export function fetchHistory(range, instance) {
  const query = new URLSearchParams({ range });
  if (instance) query.set('instance', instance);
  return fetchJson(`/metrics/history?${query.toString()}`, HISTORY_TIMEOUT_MS);
}

/**
 * @param {unknown} err
 * @returns {boolean}
 */
export function isTimeout(err) {
  return err instanceof DOMException && err.name === 'AbortError';
}
