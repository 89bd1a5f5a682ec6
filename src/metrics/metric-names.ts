import { CLIENT_EVENTS, REFUSAL_REASONS, SERVER_EVENTS, WS_OUTCOMES } from '../realtime/realtime.events';

/**
 * Metric names and label values, defined once. Dashboards and alert rules depend on these names: renaming one
 * is a breaking change for every operator who scrapes this server.
 */
export const METRIC = {
  wsConnections: 'ws_connections',
  wsUniqueUsers: 'ws_unique_users',
  wsEventsReceived: 'ws_events_received_total',
  wsEventsSent: 'ws_events_sent_total',
  wsEventErrors: 'ws_event_errors_total',
  wsEventDuration: 'ws_event_duration_seconds',
  wsDisconnects: 'ws_disconnects_total',
  wsConnectionsRefused: 'ws_connections_refused_total',
  httpRequests: 'http_requests_total',
  httpRequestDuration: 'http_request_duration_seconds',
  subscriptionEvents: 'subscription_events_total',
  tradesPublished: 'trades_published_total',
  portfolioUpdatesPublished: 'portfolio_updates_published_total',
  redisUp: 'redis_up',
  redisLatency: 'redis_latency_seconds',
  mongodbUp: 'mongodb_up',
  internalErrors: 'internal_errors_total',
} as const;

/** Every label value that stands for "not one of the known values". */
export const UNKNOWN_LABEL = 'unknown';

/** The `route` label of a request that matched no route (404s for random URLs share it). */
export const UNMATCHED_ROUTE = 'unmatched';

/** Client → server and server → client events of the gateway; anything else is counted as `unknown`. */
export const WS_EVENT_LABELS: readonly string[] = [
  ...Object.values(CLIENT_EVENTS),
  ...Object.values(SERVER_EVENTS),
  UNKNOWN_LABEL,
];

/** The outcome that means "no error" in recordWsEvent. */
export const WS_OUTCOME_OK: string = WS_OUTCOMES.OK;

/** Outcomes the gateway reports (`invalid_payload`, `forbidden`, ...); any other is counted as `unknown`. */
export const WS_ERROR_CODES: readonly string[] = [
  ...Object.values(WS_OUTCOMES).filter((o) => o !== WS_OUTCOMES.OK),
  UNKNOWN_LABEL,
];

/** Why a new connection was refused; any other value is counted as `unknown`. */
export const WS_REFUSAL_REASONS: readonly string[] = [...Object.values(REFUSAL_REASONS), UNKNOWN_LABEL];

export const SUBSCRIPTION_ACTIONS = ['subscribe', 'unsubscribe'] as const;

export const HTTP_METHODS: readonly string[] = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];

/** Any other method (WebDAV verbs, garbage) is counted under this one label. */
export const OTHER_HTTP_METHOD = 'OTHER';

/** Distinct values a free-form label (route patterns, internal error kinds) may take before new ones become `unknown`. */
export const MAX_FREE_LABEL_VALUES = 200;

/** Histogram buckets in seconds. HTTP: a cheap API should answer in milliseconds, and 10 s is already an outage. */
export const HTTP_DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** WebSocket handlers are in-memory work: most take well under a millisecond. */
export const WS_DURATION_BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
];

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
