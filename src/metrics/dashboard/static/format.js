// @ts-check
/* Number, size, time and date formatting shared by every view. Local time, like the rest of the page. */

/**
 * @param {number} n
 * @param {number} lo
 * @param {number} hi
 */
export function clamp(n, lo, hi) {
  return Math.min(hi, Math.max(lo, n));
}

/**
 * The value at a dotted path ("websocket.latency.p95"): the tiles name their figure in the HTML.
 * @param {unknown} obj
 * @param {string} path
 * @returns {unknown}
 */
export function pathValue(obj, path) {
  return path
    .split('.')
    .reduce(
      (/** @type {unknown} */ o, k) =>
        o === undefined || o === null ? undefined : /** @type {Record<string, unknown>} */ (o)[k],
      obj,
    );
}

/** @param {unknown} n */
export function fmtNumber(n) {
  if (typeof n !== 'number' || !isFinite(n)) return '–';
  if (Math.abs(n) >= 1000) return Math.round(n).toLocaleString('en-US');
  if (Number.isInteger(n)) return String(n);
  return n.toFixed(Math.abs(n) >= 100 ? 0 : Math.abs(n) >= 10 ? 1 : 2);
}

/** @param {number} seconds */
export function fmtDuration(seconds) {
  const s = Math.floor(seconds);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${m}m`;
  return `${m}m ${s % 60}s`;
}

/**
 * @param {number} n
 * @param {string} word
 */
export function plural(n, word) {
  return `${fmtNumber(n)} ${word}${n === 1 ? '' : 's'}`;
}

/** @param {Date} date */
export function clockTime(date) {
  return date.toLocaleTimeString('en-GB', { hour12: false });
}

/**
 * /metrics reports memory as text ("123.45 MB"); the charts want the number.
 * @param {string} text
 */
export function mbFromText(text) {
  const n = parseFloat(text);
  return isFinite(n) ? n : null;
}

/**
 * History reports memory in bytes; the charts show MB like the live view.
 * @param {number} bytes
 */
export function megabytes(bytes) {
  return isFinite(bytes) ? Math.round((bytes / 1024 / 1024) * 100) / 100 : null;
}

/**
 * Bytes for people: B below 1 KiB, then KB and MB (binary, one decimal).
 * @param {number} n
 */
export function fmtBytes(n) {
  if (!isFinite(n)) return '–';
  if (n < 1024) return `${Math.round(n)} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

/** @param {number} n */
function pad2(n) {
  return n < 10 ? `0${n}` : String(n);
}

/** @param {Date} d */
export function hhmm(d) {
  return `${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
}

/** @param {Date} d */
export function dayMonth(d) {
  return d.toLocaleDateString('en-GB', { day: '2-digit', month: 'short' });
}

/** @param {Date} d */
export function dateTime(d) {
  return `${dayMonth(d)} ${hhmm(d)}`;
}

/** @param {number} ms */
export function fmtBucket(ms) {
  const s = Math.round(ms / 1000);
  if (s % 3600 === 0) return `${s / 3600} h`;
  if (s % 60 === 0) return `${s / 60} min`;
  return `${s} s`;
}
