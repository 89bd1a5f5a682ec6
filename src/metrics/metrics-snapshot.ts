/** The JSON `/metrics` body, also what monitors and history snapshots read. Latencies in ms. */
export interface MetricsSnapshot {
  websocket: {
    totalConnections: number;
    uniqueUsers: number;
    redisEnabled: boolean;
    eventsPerSecond: number;
    latency: { p50: number; p95: number; p99: number };
  };
  system: {
    uptime: number;
    memory: { heapUsed: string; heapTotal: string; rss: string; external: string };
    cpu: number;
    eventLoopDelay: { p50: number; p99: number };
  };
  /** Requests to the app's own routes and 404s: health probes are left out (they are the platform's traffic). */
  http: { requestsPerSecond: number; errorRate: number; latency: { p50: number; p95: number; p99: number } };
  business: { activeUsers: number; subscriptionEvents: number; trades: number };
  /**
   * Positioned delivery since this instance started (StreamsModule): publications recorded and not recorded
   * (Redis unreachable), resumes by result, publications replayed, Idempotency-Key repeats.
   */
  streams?: {
    storage: 'redis' | 'memory';
    published: number;
    unrecorded: number;
    resumes: { recovered: number; expired: number; epochChanged: number; unavailable: number };
    replayed: number;
    idempotentRepeats: number;
  };
  /**
   * Present when REDIS_URL is configured. Sampled in the background (HealthModule's RedisMetrics, every REDIS_SAMPLE_INTERVAL_MS), so a down or
   * frozen Redis never slows /metrics. While Redis is unreachable: `up: false`, `error` says why, and the
   * figures are 0 / 'unknown' / latency -1 rather than stale numbers.
   */
  redis?: {
    up: boolean;
    memoryUsed: string;
    connections: number;
    opsPerSec: number;
    latency: number;
    sampledAt: string;
    error?: string;
  };
  timestamp: string;
}

/** Rounds to `digits` decimals: the JSON figures are for people and dashboards, not for arithmetic. */
export const round = (n: number, digits: number): number => {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
};
export const megabytes = (bytes: number): string => `${round(bytes / 1024 / 1024, 2)} MB`;
