import { Injectable } from '@nestjs/common';

/**
 * CONTRACT (shared by the realtime, metrics and alerts work). The metrics work implements the bodies; the
 * method names and shapes below are what the gateway, the HTTP timing and the alert monitors call.
 */

/** What the realtime gateway hands to the metrics module once it is up (see RealtimeGateway.getStats()). */
export interface RealtimeStatsSource {
  getStats(): {
    initialized: boolean;
    totalConnections: number;
    uniqueUsers: number;
    redisAdapter: boolean;
    uptime: number;
    memory: NodeJS.MemoryUsage;
    timestamp: string;
  };
}

/** The JSON `/metrics` body (issue 5), also what monitors and history snapshots read. Latencies in ms. */
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
  http: { requestsPerSecond: number; errorRate: number; latency: { p50: number; p95: number; p99: number } };
  business: { activeUsers: number; subscriptionEvents: number; trades: number };
  redis?: { memoryUsed: string; connections: number; opsPerSec: number; latency: number };
  timestamp: string;
}

export type WsOutcome = 'ok' | string;

@Injectable()
export class MetricsService {
  /** One gateway event handled: its name (already bounded to known events or 'unknown'), duration, outcome. */
  recordWsEvent(_event: string, _durationMs: number, _outcome: WsOutcome = 'ok'): void {}

  /** Server → client emits: `count` sockets reached (or 1 per room emit when unknown). */
  recordWsSent(_event: string, _count = 1): void {}

  recordSubscription(_action: 'subscribe' | 'unsubscribe'): void {}

  recordPublished(_event: 'portfolio:update' | 'trade:executed'): void {}

  /** One HTTP request; `route` is the route pattern, never the raw URL. */
  recordHttp(_method: string, _route: string, _statusCode: number, _durationMs: number): void {}

  /** Connection gauges; the gateway calls this on every connect/disconnect. */
  setConnections(_connections: number, _uniqueUsers: number): void {}

  /** The gateway registers itself when it is up; until then JSON /metrics answers 503. */
  setRealtimeSource(_source: RealtimeStatsSource): void {}

  /**
   * The JSON /metrics figures over the last 60 s. Rejects with a ServiceUnavailableException
   * ('WebSocket server not initialized') until the gateway has registered itself.
   */
  snapshot(): Promise<MetricsSnapshot> {
    return Promise.reject(new Error('not implemented yet'));
  }

  /** Counts a process-level or library error that was survived (e.g. the Redis adapter's publish rejections). */
  recordInternalError(_kind: string): void {}
}
