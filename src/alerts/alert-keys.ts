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
} as const;

export type AlertKey = (typeof ALERT_KEYS)[keyof typeof ALERT_KEYS];

/** Alerts about a dependency every replica shares: posted once across replicas (see ClusterLock). */
export const CLUSTER_WIDE_KEYS: ReadonlySet<AlertKey> = new Set([
  ALERT_KEYS.redisDown,
  ALERT_KEYS.redisLatency,
]);

/** Names of the scheduled monitor runs in SchedulerRegistry. */
export const MONITOR_INTERVAL_PREFIX = 'alerts:monitor:';
