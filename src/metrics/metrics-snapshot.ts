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
  /** Whether published events reach clients, and what clients cost and why they leave (realtime feature). */
  delivery?: DeliverySnapshot;
  /** Cross-replica delivery probes, per live peer (cluster feature; present when REDIS_URL is set). */
  probes?: ProbesSnapshot;
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

export interface DeliverySnapshot {
  /** Publish-to-emit p99 over the last minute, ms (0 when nothing was published). */
  publishToEmitP99: number;
  publishToEmitPerSecond: number;
  /** Cross-replica pub/sub lag p99 over the last minute, ms (clock skew included, negatives as 0). */
  pubsubLagP99: number;
  /** The last timer sample of what the server holds unsent for its sockets. */
  outputBacklog: { sockets: number; totalBytes: number; maxBytes: number; sampledAt: string | null };
  /** Since start. */
  traffic: { bytesSent: number; bytesReceived: number; messagesSent: number; messagesReceived: number };
  /** Since start, largest first. */
  topDisconnectReasons: Array<{ reason: string; count: number }>;
  topRefusalReasons: Array<{ reason: string; count: number }>;
}

export interface ProbesSnapshot {
  intervalMs: number;
  /**
   * Each live peer: ms since its last probe arrived here (since it was first seen, before any) and whether it is
   * silent (late while its heartbeat continues).
   */
  peers: Array<{ instanceId: string; ageMs: number; silent: boolean }>;
}

/** Rounds to `digits` decimals: the JSON figures are for people and dashboards, not for arithmetic. */
export const round = (n: number, digits: number): number => {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
};
export const megabytes = (bytes: number): string => `${round(bytes / 1024 / 1024, 2)} MB`;
