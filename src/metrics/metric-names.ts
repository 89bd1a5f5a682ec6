/**
 * The metric names the metrics core itself defines, and the label helpers every owner of metrics uses. Each
 * feature names its own metrics next to its code (realtime/realtime.metric-names.ts,
 * health/health.metric-names.ts, alerts/alert-dispatcher.ts). Dashboards and alert rules depend on these names:
 * renaming one is a breaking change for every operator who scrapes this server.
 */
export const METRIC = {
  httpRequests: 'http_requests_total',
  httpRequestDuration: 'http_request_duration_seconds',
  internalErrors: 'internal_errors_total',
  buildInfo: 'app_build_info',
} as const;

/** Every label value that stands for "not one of the known values". */
export const UNKNOWN_LABEL = 'unknown';

/** The `route` label of a request that matched no route (404s for random URLs share it). */
export const UNMATCHED_ROUTE = 'unmatched';

export const HTTP_METHODS: readonly string[] = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];

/** Any other method (WebDAV verbs, garbage) is counted under this one label. */
export const OTHER_HTTP_METHOD = 'OTHER';

/** Distinct values a free-form label (route patterns, internal error kinds) may take before new ones become `unknown`. */
export const MAX_FREE_LABEL_VALUES = 200;

/** Histogram buckets in seconds. HTTP: a cheap API should answer in milliseconds, and 10 s is already an outage. */
export const HTTP_DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Maps a label value to itself when allowed, else to `unknown`. */
export function boundLabel(value: string, allowed: readonly string[]): string {
  return allowed.includes(value) ? value : UNKNOWN_LABEL;
}

/**
 * A label whose values are not known in advance but are few by construction (route patterns, error kinds): the
 * first `max` distinct values are kept, later newcomers collapse into `unknown`, so a bug or hostile input can
 * never create unbounded series.
 */
export class BoundedLabel {
  private readonly seen = new Set<string>();

  constructor(private readonly max = MAX_FREE_LABEL_VALUES) {}

  bound(value: string): string {
    const v = value.length > 120 ? value.slice(0, 120) : value;
    if (this.seen.has(v)) return v;
    if (this.seen.size >= this.max) return UNKNOWN_LABEL;
    this.seen.add(v);
    return v;
  }
}
