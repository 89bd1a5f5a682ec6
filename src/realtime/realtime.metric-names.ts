import { UNKNOWN_LABEL } from '../metrics/metric-names';
import { CLIENT_EVENTS, REFUSAL_REASONS, SERVER_EVENTS, WS_OUTCOMES } from './realtime.events';

/**
 * The realtime feature's metric names and label values. Dashboards and alert rules depend on these names:
 * renaming one is a breaking change for every operator who scrapes this server.
 */
export const REALTIME_METRIC = {
  wsConnections: 'ws_connections',
  wsUniqueUsers: 'ws_unique_users',
  wsEventsReceived: 'ws_events_received_total',
  wsEventsSent: 'ws_events_sent_total',
  wsEventErrors: 'ws_event_errors_total',
  wsEventDuration: 'ws_event_duration_seconds',
  wsDisconnects: 'ws_disconnects_total',
  wsConnectionsRefused: 'ws_connections_refused_total',
  subscriptionEvents: 'subscription_events_total',
  tradesPublished: 'trades_published_total',
  portfolioUpdatesPublished: 'portfolio_updates_published_total',
  wsPublishToEmit: 'ws_publish_to_emit_seconds',
  wsPubsubLag: 'ws_pubsub_lag_seconds',
  wsPubsubLagNegative: 'ws_pubsub_lag_negative_total',
  wsOutputBacklog: 'ws_output_backlog_bytes',
  wsOutputBacklogTotal: 'ws_output_backlog_total_bytes',
  wsOutputBacklogMax: 'ws_output_backlog_max_bytes',
  wsBytesSent: 'ws_bytes_sent_total',
  wsBytesReceived: 'ws_bytes_received_total',
  wsMessagesSent: 'ws_messages_sent_total',
  wsMessagesReceived: 'ws_messages_received_total',
} as const;

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

/** WebSocket handlers are in-memory work: most take well under a millisecond. */
export const WS_DURATION_BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
];

/**
 * Delivery latencies (publish to emit, pub/sub lag, cross-replica probe lag): an in-memory hand-off takes well
 * under a millisecond, a Redis round trip a few, and anything past 10 s is an outage.
 */
export const DELIVERY_BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/**
 * Unsent bytes per socket: from nothing, through a few events, to the WS_MAX_PENDING_BYTES range (1 MiB by
 * default) where the slow-consumer guard cuts the socket.
 */
export const OUTPUT_BACKLOG_BUCKETS = [
  0, 1024, 4096, 16_384, 65_536, 262_144, 524_288, 1_048_576, 4_194_304, 16_777_216,
];
