/**
 * CONTRACT (history work implements the stores; alerts and metrics work write and read through these).
 * Two implementations are chosen at start-up: in memory (default, bounded) and MongoDB when MONGODB_URI is set.
 */

export const ALERT_HISTORY_STORE = Symbol('ALERT_HISTORY_STORE');
export const METRICS_HISTORY_STORE = Symbol('METRICS_HISTORY_STORE');

export type AlertSeverity = 'ok' | 'warning' | 'critical';

/** One alert lifecycle transition, e.g. ok → warning, warning → critical, critical → ok (resolved). */
export interface AlertTransition {
  key: string;
  from: AlertSeverity;
  to: AlertSeverity;
  message: string;
  value: number | null;
  threshold: number | null;
  timestamp: Date;
  instanceId: string;
}

export interface AlertHistoryStore {
  /** Never throws: a failing backend drops the record (bounded buffer) and logs once per outage. */
  append(transition: AlertTransition): Promise<void>;
  /** Newest first. Rejects with HistoryUnavailableError when the backend cannot answer. */
  recent(limit: number): Promise<AlertTransition[]>;
}

export interface MetricSnapshotRecord {
  timestamp: Date;
  instanceId: string;
  connections: number;
  uniqueUsers: number;
  eventsPerSecond: number;
  wsLatencyP95: number;
  httpLatencyP95: number;
  httpErrorRate: number;
  rss: number;
  heapUsed: number;
  cpu: number;
  eventLoopDelayP99: number;
}

export class HistoryUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HistoryUnavailableError';
  }
}
