import type { MetricsSnapshot } from '../metrics/metrics.service';
import { AlertTransition, MetricSnapshotRecord } from './history.types';

/** Test data shared by the history specs (unit and e2e). */
export function snapshotRecord(
  timestamp: Date | number,
  instanceId = 'instance-a',
  values: Partial<Omit<MetricSnapshotRecord, 'timestamp' | 'instanceId'>> = {},
): MetricSnapshotRecord {
  return {
    timestamp: new Date(timestamp),
    instanceId,
    connections: 10,
    uniqueUsers: 5,
    eventsPerSecond: 2,
    wsLatencyP95: 20,
    httpLatencyP95: 40,
    httpErrorRate: 1,
    rss: 100_000_000,
    heapUsed: 50_000_000,
    cpu: 10,
    eventLoopDelayP99: 15,
    ...values,
  };
}

export function alertTransition(
  timestamp: Date | number,
  overrides: Partial<AlertTransition> = {},
): AlertTransition {
  return {
    key: 'cpu',
    from: 'ok',
    to: 'warning',
    message: 'CPU usage is 75% (threshold 70%)',
    value: 75,
    threshold: 70,
    timestamp: new Date(timestamp),
    instanceId: 'instance-a',
    ...overrides,
  };
}

/** The figures of a /metrics body that a history snapshot keeps; everything else is fixed filler. */
export interface SnapshotFigures {
  connections: number;
  uniqueUsers: number;
  eventsPerSecond: number;
  wsLatencyP95: number;
  httpLatencyP95: number;
  httpErrorRate: number;
  cpu: number;
  eventLoopDelayP99: number;
}

/** A JSON /metrics body carrying `figures`, as MetricsService.snapshot() would return it. */
export function metricsBody(figures: SnapshotFigures): MetricsSnapshot {
  return {
    websocket: {
      totalConnections: figures.connections,
      uniqueUsers: figures.uniqueUsers,
      redisEnabled: false,
      eventsPerSecond: figures.eventsPerSecond,
      latency: { p50: 1, p95: figures.wsLatencyP95, p99: figures.wsLatencyP95 * 2 },
    },
    system: {
      uptime: 1,
      memory: { heapUsed: '1 MB', heapTotal: '2 MB', rss: '3 MB', external: '0 MB' },
      cpu: figures.cpu,
      eventLoopDelay: { p50: 1, p99: figures.eventLoopDelayP99 },
    },
    http: {
      requestsPerSecond: 1,
      errorRate: figures.httpErrorRate,
      latency: { p50: 1, p95: figures.httpLatencyP95, p99: figures.httpLatencyP95 * 2 },
    },
    business: { activeUsers: 0, subscriptionEvents: 0, trades: 0 },
    timestamp: new Date().toISOString(),
  };
}
