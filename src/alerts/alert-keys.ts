/** Every alert key, defined once. Cluster-wide keys describe a shared dependency, not this replica. */
export const ALERT_KEYS = {
  redisDown: 'redis.down',
  redisLatency: 'redis.latency',
  cpu: 'system.cpu',
  memory: 'system.memory',
  heap: 'system.heap',
  eventLoopDelay: 'system.event_loop_delay_p99',
  httpErrorRate: 'http.error_rate',
  httpResponseTime: 'http.response_time_p95',
  connections: 'websocket.connections',
  clusterDelivery: 'cluster.delivery',
} as const;

export type AlertKey = (typeof ALERT_KEYS)[keyof typeof ALERT_KEYS];

/** Alerts about a dependency every replica shares: posted once across replicas (see ClusterLock). */
export const CLUSTER_WIDE_KEYS: ReadonlySet<AlertKey> = new Set([
  ALERT_KEYS.redisDown,
  ALERT_KEYS.redisLatency,
]);

/** Names of the scheduled monitor runs in SchedulerRegistry. */
export const MONITOR_INTERVAL_PREFIX = 'alerts:monitor:';

/**
 * The Prometheus/Alertmanager `alertname` of a key (`system.cpu` → `SystemCpu`): alert names must be metric-name
 * shaped, so the dotted key travels as the `alert_key` label and this name is derived from it, the same way for the
 * shipped Prometheus rules and for the alerts this server pushes to Alertmanager, so one silence covers both.
 */
export function alertNameFor(key: string): string {
  return key
    .split(/[._]/)
    .filter((part) => part.length > 0)
    .map((part) => part[0].toUpperCase() + part.slice(1))
    .join('');
}

/** Where a key's runbook section is: `<base>#<alertname in lower case>`, the anchor of its heading in the docs. */
export function runbookUrl(base: string, key: string): string {
  return `${base}#${alertNameFor(key).toLowerCase()}`;
}
