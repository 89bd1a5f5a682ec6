import {
  Inject,
  Injectable,
  Logger,
  OnModuleDestroy,
  OnModuleInit,
  ServiceUnavailableException,
} from '@nestjs/common';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { AppConfig } from '../config/app-config';
import { isHealthPath } from '../common/health-path';
import { errorMessage } from '../common/with-timeout';
import { SERVER_EVENTS } from '../realtime/realtime.events';
import { DatabaseService } from '../database/database.service';
import { RedisService } from '../redis/redis.service';
import {
  BoundedLabel,
  boundLabel,
  HTTP_DURATION_BUCKETS,
  HTTP_METHODS,
  METRIC,
  OTHER_HTTP_METHOD,
  SUBSCRIPTION_ACTIONS,
  UNKNOWN_LABEL,
  WS_DURATION_BUCKETS,
  WS_ERROR_CODES,
  WS_EVENT_LABELS,
  WS_OUTCOME_OK,
  WS_REFUSAL_REASONS,
} from './metric-names';
import { HotCounter, HotCounterSeries, HotHistogram, HotHistogramSeries } from './hot-metrics';
import { METRICS_REGISTRY } from './metrics.registry';
import { MonotonicClock, SlidingWindow } from './sliding-window';
import { SystemSampler } from './system-sampler';

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
   * Present when REDIS_URL is configured. Sampled in the background (REDIS_SAMPLE_INTERVAL_MS), so a down or
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

/** 'ok', or the error code the client was answered with. (`string & {}` keeps 'ok' visible to editors.) */
export type WsOutcome = 'ok' | (string & Record<never, never>);

/** The 503 body of JSON /metrics until the gateway is up. */
export const GATEWAY_NOT_READY = 'WebSocket server not initialized';
export const METRICS_DISABLED = 'Metrics are disabled (METRICS_ENABLED=false)';

/** How often Redis is sampled for redis_up / redis_latency_seconds and the JSON `redis` block. */
export const REDIS_SAMPLE_INTERVAL_MS = 5000;

/** Injectable monotonic clock (ms) for the sliding windows, so tests can drive time. */
export const METRICS_CLOCK = Symbol('METRICS_CLOCK');

const round = (n: number, digits: number): number => {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
};
const megabytes = (bytes: number): string => `${round(bytes / 1024 / 1024, 2)} MB`;

interface WsEventSeries {
  received: HotCounterSeries;
  duration: HotHistogramSeries;
}

@Injectable()
export class MetricsService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(MetricsService.name);

  private readonly wsConnections: Gauge<string>;
  private readonly wsUniqueUsers: Gauge<string>;
  private readonly wsEventsReceived: HotCounter;
  private readonly wsEventsSent: Counter<'event'>;
  private readonly wsEventErrors: Counter<'event' | 'code'>;
  private readonly wsEventDuration: HotHistogram;
  private readonly wsConnectionsRefused: Counter<'reason'>;
  private readonly httpRequests: Counter<'method' | 'route' | 'status_code'>;
  private readonly httpDuration: Histogram<'method' | 'route' | 'status_code'>;
  private readonly subscriptionEvents: HotCounter;
  private readonly tradesPublished: Counter<string>;
  private readonly portfolioUpdatesPublished: Counter<string>;
  private readonly internalErrors: Counter<'kind'>;
  private readonly redisUp: Gauge<string> | null = null;
  private readonly redisLatency: Gauge<string> | null = null;

  /** Children cached per event: label lookup hashes strings, and recordWsEvent is on the hot path. */
  private readonly wsSeries = new Map<string, WsEventSeries>();
  private readonly wsSentSeries = new Map<string, Counter.Internal>();
  private readonly routeLabel = new BoundedLabel();
  private readonly errorKindLabel = new BoundedLabel(50);

  private readonly wsWindow: SlidingWindow;
  private readonly httpWindow: SlidingWindow;
  private readonly system: SystemSampler;

  private source: RealtimeStatsSource | null = null;
  private connections = 0;
  private uniqueUsers = 0;
  private subscriptionCount = 0;
  private tradeCount = 0;

  private redisSample: NonNullable<MetricsSnapshot['redis']> | null = null;
  private redisTimer: NodeJS.Timeout | null = null;
  private redisInFlight: Promise<void> | null = null;

  constructor(
    @Inject(METRICS_REGISTRY) readonly registry: Registry,
    private readonly config: AppConfig,
    private readonly redis: RedisService,
    @Inject(METRICS_CLOCK) clock: MonotonicClock,
    database: DatabaseService,
  ) {
    const registers = [registry];
    this.wsConnections = new Gauge({
      name: METRIC.wsConnections,
      help: 'Open Socket.IO connections on this instance',
      registers,
      collect: () => {
        this.refreshConnections();
      },
    });
    this.wsUniqueUsers = new Gauge({
      name: METRIC.wsUniqueUsers,
      help: 'Distinct users with at least one open connection on this instance',
      registers,
    });
    this.wsEventsReceived = new HotCounter(
      METRIC.wsEventsReceived,
      'Client to server events handled, by event name (unknown names share one label)',
      'event',
      registry,
    );
    this.wsEventsSent = new Counter({
      name: METRIC.wsEventsSent,
      help: 'Server to client event deliveries, by event name',
      labelNames: ['event'],
      registers,
    });
    this.wsEventErrors = new Counter({
      name: METRIC.wsEventErrors,
      help: 'Client to server events answered with an error, by event name and error code',
      labelNames: ['event', 'code'],
      registers,
    });
    this.wsEventDuration = new HotHistogram(
      METRIC.wsEventDuration,
      'Time spent handling a client to server event, in seconds',
      'event',
      WS_DURATION_BUCKETS,
      registry,
    );
    this.wsConnectionsRefused = new Counter({
      name: METRIC.wsConnectionsRefused,
      help: 'New WebSocket connections refused, by reason (capacity, address_limit, origin, unauthorized, too_many_connections, shutting_down)',
      labelNames: ['reason'],
      registers,
    });
    this.httpRequests = new Counter({
      name: METRIC.httpRequests,
      help: 'HTTP requests answered, by method, route pattern and status code',
      labelNames: ['method', 'route', 'status_code'],
      registers,
    });
    this.httpDuration = new Histogram({
      name: METRIC.httpRequestDuration,
      help: 'HTTP request duration until the response finished, in seconds',
      labelNames: ['method', 'route', 'status_code'],
      buckets: [...HTTP_DURATION_BUCKETS],
      registers,
    });
    this.subscriptionEvents = new HotCounter(
      METRIC.subscriptionEvents,
      'Portfolio subscription changes, by action',
      'action',
      registry,
    );
    this.tradesPublished = new Counter({
      name: METRIC.tradesPublished,
      help: 'trade:executed events published',
      registers,
    });
    this.portfolioUpdatesPublished = new Counter({
      name: METRIC.portfolioUpdatesPublished,
      help: 'portfolio:update events published',
      registers,
    });
    this.internalErrors = new Counter({
      name: METRIC.internalErrors,
      help: 'Process-level or library errors that were caught and survived, by kind',
      labelNames: ['kind'],
      registers,
    });
    if (redis.isConfigured) {
      this.redisUp = new Gauge({
        name: METRIC.redisUp,
        help: '1 when the last Redis sample (PING and INFO) succeeded within HEALTH_CHECK_TIMEOUT_MS, else 0',
        registers,
      });
      this.redisLatency = new Gauge({
        name: METRIC.redisLatency,
        help: 'Redis PING round trip of the last successful sample, in seconds',
        registers,
      });
      this.redisUp.set(0);
    }
    if (database.isConfigured) {
      new Gauge({
        name: METRIC.mongodbUp,
        help: '1 while the MongoDB connection is open (driver state, read at scrape time), else 0',
        registers,
        collect() {
          this.set(database.isConnected ? 1 : 0);
        },
      });
    }

    // Known label values start at zero, so rate() and absent() behave from the first scrape.
    for (const event of WS_EVENT_LABELS) {
      this.wsEventSeries(event);
      this.wsEventsSent.labels(event).inc(0);
    }
    for (const action of SUBSCRIPTION_ACTIONS) this.subscriptionEvents.series(action);
    for (const reason of WS_REFUSAL_REASONS) this.wsConnectionsRefused.labels(reason).inc(0);
    this.wsConnections.set(0);
    this.wsUniqueUsers.set(0);

    this.wsWindow = new SlidingWindow({ clock });
    this.httpWindow = new SlidingWindow({ clock });
    this.system = new SystemSampler(clock);
  }

  /** False with METRICS_ENABLED=false: nothing is recorded or sampled, /metrics* answer 503. */
  get enabled(): boolean {
    return this.config.env.METRICS_ENABLED;
  }

  onModuleInit(): void {
    if (!this.enabled) return;
    this.system.start();
    if (this.redis.isConfigured) {
      this.redisTimer = setInterval(() => void this.sampleRedis(), REDIS_SAMPLE_INTERVAL_MS);
      this.redisTimer.unref();
      void this.sampleRedis();
    }
  }

  onModuleDestroy(): void {
    this.system.stop();
    if (this.redisTimer !== null) clearInterval(this.redisTimer);
    this.redisTimer = null;
  }

  /** One gateway event handled: its name (already bounded to known events or 'unknown'), duration, outcome. */
  recordWsEvent(event: string, durationMs: number, outcome: WsOutcome = WS_OUTCOME_OK): void {
    if (!this.enabled) return;
    const series = this.wsEventSeries(event);
    series.received.inc();
    series.duration.observe(Math.max(0, durationMs) / 1000);
    const failed = outcome !== WS_OUTCOME_OK;
    if (failed)
      this.wsEventErrors
        .labels(boundLabel(event, WS_EVENT_LABELS), boundLabel(outcome, WS_ERROR_CODES))
        .inc();
    this.wsWindow.record(Math.max(0, durationMs), failed);
  }

  /** A new connection turned away, before or during the Socket.IO handshake. */
  recordConnectionRefused(reason: string): void {
    if (!this.enabled) return;
    this.wsConnectionsRefused.labels(boundLabel(reason, WS_REFUSAL_REASONS)).inc();
  }

  /** Server → client emits: `count` sockets reached (or 1 per room emit when unknown). */
  recordWsSent(event: string, count = 1): void {
    if (!(count > 0) || !this.enabled) return;
    let child = this.wsSentSeries.get(event);
    if (child === undefined) {
      child = this.wsEventsSent.labels(boundLabel(event, WS_EVENT_LABELS));
      if (this.wsSentSeries.size < WS_EVENT_LABELS.length * 4) this.wsSentSeries.set(event, child);
    }
    child.inc(count);
  }

  recordSubscription(action: 'subscribe' | 'unsubscribe'): void {
    if (!this.enabled) return;
    this.subscriptionEvents.series(boundLabel(action, SUBSCRIPTION_ACTIONS)).inc();
    this.subscriptionCount++;
  }

  recordPublished(event: 'portfolio:update' | 'trade:executed'): void {
    if (!this.enabled) return;
    if (event === SERVER_EVENTS.TRADE_EXECUTED) {
      this.tradesPublished.inc();
      this.tradeCount++;
    } else if (event === SERVER_EVENTS.PORTFOLIO_UPDATE) {
      this.portfolioUpdatesPublished.inc();
    }
  }

  /**
   * One HTTP request; `route` is the route pattern, never the raw URL. Every request is counted in
   * http_requests_total / http_request_duration_seconds; the 60 s window leaves out health probes.
   */
  recordHttp(method: string, route: string, statusCode: number, durationMs: number): void {
    if (!this.enabled) return;
    const m = method.toUpperCase();
    const labels = {
      method: HTTP_METHODS.includes(m) ? m : OTHER_HTTP_METHOD,
      route: this.routeLabel.bound(route),
      status_code:
        Number.isInteger(statusCode) && statusCode >= 100 && statusCode <= 599
          ? String(statusCode)
          : UNKNOWN_LABEL,
    };
    const ms = Math.max(0, durationMs);
    this.httpRequests.inc(labels);
    this.httpDuration.observe(labels, ms / 1000);
    // Health probes keep their series above (route="/health/ready"...) but stay out of the window that JSON
    // /metrics and the http.* alerts read: a probe answering 503 while a dependency is down is the health check
    // doing its job, and on a quiet replica the probes alone would make up the error rate and the p95.
    if (!isHealthPath(route)) this.httpWindow.record(ms, statusCode >= 500);
  }

  /** Connection gauges; the gateway calls this on every connect/disconnect. */
  setConnections(connections: number, uniqueUsers: number): void {
    this.connections = Math.max(0, connections);
    this.uniqueUsers = Math.max(0, uniqueUsers);
    this.wsConnections.set(this.connections);
    this.wsUniqueUsers.set(this.uniqueUsers);
  }

  /** The gateway registers itself when it is up; until then JSON /metrics answers 503. */
  setRealtimeSource(source: RealtimeStatsSource): void {
    this.source = source;
    this.refreshConnections();
  }

  /** True once the gateway has registered itself and says it is initialised. */
  get isRealtimeReady(): boolean {
    return this.source !== null && this.readStats()?.initialized === true;
  }

  /**
   * The JSON /metrics figures over the last 60 s. Rejects with a ServiceUnavailableException
   * ('WebSocket server not initialized') until the gateway has registered itself.
   */
  snapshot(): Promise<MetricsSnapshot> {
    if (!this.enabled) return Promise.reject(new ServiceUnavailableException(METRICS_DISABLED));
    if (!this.isRealtimeReady) return Promise.reject(new ServiceUnavailableException(GATEWAY_NOT_READY));
    return Promise.resolve(this.currentSnapshot());
  }

  /**
   * The same figures without the gateway check (connections read 0 before it is up): for monitors and history
   * that must keep running whatever the gateway's state. Synchronous and cheap: O(window buckets).
   */
  currentSnapshot(): MetricsSnapshot {
    const stats = this.refreshConnections();
    const [wsP50, wsP95, wsP99] = this.wsWindow.percentiles([50, 95, 99]);
    const [httpP50, httpP95, httpP99] = this.httpWindow.percentiles([50, 95, 99]);
    const mem = process.memoryUsage();
    const sys = this.system.read();
    const snapshot: MetricsSnapshot = {
      websocket: {
        totalConnections: this.connections,
        uniqueUsers: this.uniqueUsers,
        redisEnabled: stats?.redisAdapter ?? false,
        eventsPerSecond: round(this.wsWindow.ratePerSecond(), 3),
        latency: { p50: round(wsP50, 3), p95: round(wsP95, 3), p99: round(wsP99, 3) },
      },
      system: {
        uptime: round(process.uptime(), 3),
        memory: {
          heapUsed: megabytes(mem.heapUsed),
          heapTotal: megabytes(mem.heapTotal),
          rss: megabytes(mem.rss),
          external: megabytes(mem.external),
        },
        cpu: round(sys.cpuPercent, 2),
        eventLoopDelay: { p50: round(sys.eventLoopDelayP50, 3), p99: round(sys.eventLoopDelayP99, 3) },
      },
      http: {
        requestsPerSecond: round(this.httpWindow.ratePerSecond(), 3),
        errorRate: round(this.httpWindow.flaggedPercent(), 3),
        latency: { p50: round(httpP50, 3), p95: round(httpP95, 3), p99: round(httpP99, 3) },
      },
      business: {
        activeUsers: this.uniqueUsers,
        subscriptionEvents: this.subscriptionCount,
        trades: this.tradeCount,
      },
      timestamp: new Date().toISOString(),
    };
    if (this.redisSample !== null) snapshot.redis = { ...this.redisSample };
    else if (this.redis.isConfigured) snapshot.redis = this.redisDown('not sampled yet');
    return snapshot;
  }

  /** The Prometheus text exposition of every metric in the registry. */
  exposition(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** Counts a process-level or library error that was survived (e.g. the Redis adapter's publish rejections). */
  recordInternalError(kind: string): void {
    const safe = kind.replace(/[^A-Za-z0-9_:.-]/g, '_') || UNKNOWN_LABEL;
    this.internalErrors.labels(this.errorKindLabel.bound(safe)).inc();
  }

  /**
   * PING and INFO under one HEALTH_CHECK_TIMEOUT_MS budget; updates redis_up, redis_latency_seconds and the
   * JSON block. Runs every REDIS_SAMPLE_INTERVAL_MS; never two at once; never throws.
   */
  sampleRedis(): Promise<void> {
    if (!this.redis.isConfigured) return Promise.resolve();
    this.redisInFlight ??= this.doSampleRedis().finally(() => {
      this.redisInFlight = null;
    });
    return this.redisInFlight;
  }

  private async doSampleRedis(): Promise<void> {
    try {
      const { latencyMs, info } = await this.redis.pingAndInfo(
        'default',
        this.config.env.HEALTH_CHECK_TIMEOUT_MS,
      );
      this.redisSample = {
        up: true,
        memoryUsed: info.used_memory_human ?? UNKNOWN_LABEL,
        connections: Number(info.connected_clients ?? 0),
        opsPerSec: Number(info.instantaneous_ops_per_sec ?? 0),
        latency: round(latencyMs, 3),
        sampledAt: new Date().toISOString(),
      };
      this.redisUp?.set(1);
      this.redisLatency?.set(latencyMs / 1000);
    } catch (err) {
      // Outages are logged once where the connection is watched (RedisService); here they only show in the figures.
      this.redisSample = this.redisDown(errorMessage(err));
      this.redisUp?.set(0);
    }
  }

  private redisDown(error: string): NonNullable<MetricsSnapshot['redis']> {
    return {
      up: false,
      memoryUsed: UNKNOWN_LABEL,
      connections: 0,
      opsPerSec: 0,
      latency: -1,
      sampledAt: new Date().toISOString(),
      error,
    };
  }

  private wsEventSeries(event: string): WsEventSeries {
    let series = this.wsSeries.get(event);
    if (series === undefined) {
      const label = boundLabel(event, WS_EVENT_LABELS);
      series = this.wsSeries.get(label) ?? {
        received: this.wsEventsReceived.series(label),
        duration: this.wsEventDuration.series(label),
      };
      // Cache only known names: an unknown one is looked up again, which keeps the cache bounded too.
      if (label === event) this.wsSeries.set(event, series);
    }
    return series;
  }

  private readStats(): ReturnType<RealtimeStatsSource['getStats']> | null {
    if (this.source === null) return null;
    try {
      return this.source.getStats();
    } catch (err) {
      this.logger.warn({ message: 'Realtime stats unavailable', err });
      return null;
    }
  }

  /** The gateway's own count is the truth; the gauges follow it at every read. */
  private refreshConnections(): ReturnType<RealtimeStatsSource['getStats']> | null {
    const stats = this.readStats();
    if (stats !== null) this.setConnections(stats.totalConnections, stats.uniqueUsers);
    return stats;
  }
}
