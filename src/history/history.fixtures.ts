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
