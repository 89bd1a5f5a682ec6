/**
 * The history stores: the snapshot job and the alerts module write through these, /metrics/history and
 * /alerts read.
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
  /** The build and start of the process that took it (app_build_info's version): where they change, a deploy. */
  version?: string;
  startedAt?: Date;
}

/** A process start seen in the history: a deploy or a restart, drawn as a marker on the history charts. */
export interface ProcessStart {
  instanceId: string;
  version: string;
  startedAt: Date;
}

/** Most process starts one history answer carries. */
export const MAX_PROCESS_STARTS = 200;

/** The metric fields a snapshot carries, in the order charts list them. */
export const METRIC_FIELDS = [
  'connections',
  'uniqueUsers',
  'eventsPerSecond',
  'wsLatencyP95',
  'httpLatencyP95',
  'httpErrorRate',
  'rss',
  'heapUsed',
  'cpu',
  'eventLoopDelayP99',
] as const;
export type MetricField = (typeof METRIC_FIELDS)[number];

/** The ranges GET /metrics/history accepts, in milliseconds. */
export const HISTORY_RANGES = {
  '1h': 3_600_000,
  '24h': 86_400_000,
  '7d': 7 * 86_400_000,
  '30d': 30 * 86_400_000,
} as const;
export type HistoryRange = keyof typeof HISTORY_RANGES;

/** Most points one series may hold in a history answer. */
export const MAX_POINTS_PER_SERIES = 300;

export interface MetricHistoryQuery {
  from: Date;
  to: Date;
  /** Bucket width; buckets are aligned to multiples of it since the epoch, so refreshes keep the same buckets. */
  bucketMs: number;
  /** Only this instance; all instances when undefined. */
  instanceId?: string;
}

/**
 * One instance's snapshots inside one bucket, already reduced: averages, except maxima for the latency fields.
 * Both stores produce these (MongoDB in an aggregation); downsample.ts combines them across instances.
 */
export interface InstanceBucket extends Record<MetricField, number> {
  bucket: number;
  instanceId: string;
  samples: number;
}

/** One downsampled point: the bucket's start and every metric combined across the instances seen in it. */
export interface MetricHistoryPoint extends Record<MetricField, number> {
  timestamp: string;
  /** How many instances contributed to this bucket. */
  instances: number;
}

export interface MetricHistorySeries {
  points: MetricHistoryPoint[];
  /** Instance ids that have snapshots in the range, sorted. */
  instances: string[];
}

export interface MetricsHistoryStore {
  /** Where the history lives, for the answer and the logs. */
  readonly backend: 'memory' | 'mongodb';
  /** Never throws: a failing backend buffers the record (bounded) and logs once per outage. */
  append(record: MetricSnapshotRecord): Promise<void>;
  /** Downsampled points in [from, to). Rejects with HistoryUnavailableError when the backend cannot answer. */
  series(query: MetricHistoryQuery): Promise<MetricHistorySeries>;
  /**
   * The process starts in [from, to) that snapshots in the same window recorded, oldest first, at most
   * MAX_PROCESS_STARTS (the newest when more). Rejects like `series`.
   */
  starts(query: Omit<MetricHistoryQuery, 'bucketMs'>): Promise<ProcessStart[]>;
}

/** Alert transitions in a time window, for marking charts. Both alert stores of this module implement it. */
export interface AlertHistoryRangeReader {
  /** Transitions with from <= timestamp < to, oldest first, at most `limit` (the newest ones when more). */
  between(from: Date, to: Date, limit: number, instanceId?: string): Promise<AlertTransition[]>;
}

export type QueryableAlertHistoryStore = AlertHistoryStore & AlertHistoryRangeReader;

export class HistoryUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HistoryUnavailableError';
  }
}
