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
