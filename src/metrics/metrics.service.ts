import {
  Inject,
  Injectable,
  OnModuleDestroy,
  OnModuleInit,
  ServiceUnavailableException,
} from '@nestjs/common';
import { DiscoveryService } from '@nestjs/core';
import { Counter, Histogram, Registry } from 'prom-client';
import { AppConfig } from '../config/app-config';
import { isHealthPath } from '../common/health-path';
import {
  BoundedLabel,
  HTTP_DURATION_BUCKETS,
  HTTP_METHODS,
  METRIC,
  OTHER_HTTP_METHOD,
  UNKNOWN_LABEL,
} from './metric-names';
import { MetricsContributor, MetricsSnapshotContributor } from './metrics-contributor';
import { megabytes, MetricsSnapshot, round } from './metrics-snapshot';
import { METRICS_REGISTRY } from './metrics.registry';
import { MonotonicClock, SlidingWindow } from './sliding-window';
import { SystemSampler } from './system-sampler';

export type { MetricsSnapshot } from './metrics-snapshot';

export const METRICS_DISABLED = 'Metrics are disabled (METRICS_ENABLED=false)';

/** Injectable monotonic clock (ms) for the sliding windows, so tests can drive time. */
export const METRICS_CLOCK = Symbol('METRICS_CLOCK');

/**
 * The metrics core: the app's prom-client registry, the HTTP instruments, survived-error counts, the system
 * sampler and the assembly of the JSON /metrics snapshot. Features own their instruments and add their part of
 * the snapshot as MetricsSnapshotContributors (realtime: the websocket and business sections; health: redis).
 */
@Injectable()
export class MetricsService implements OnModuleInit, OnModuleDestroy {
  private readonly httpRequests: Counter<'method' | 'route' | 'status_code'>;
  private readonly httpDuration: Histogram<'method' | 'route' | 'status_code'>;
  private readonly internalErrors: Counter<'kind'>;
  private readonly routeLabel = new BoundedLabel();
  private readonly errorKindLabel = new BoundedLabel(50);
  private readonly httpWindow: SlidingWindow;
  private readonly system: SystemSampler;
  private contributors: MetricsSnapshotContributor[] = [];

  constructor(
    @Inject(METRICS_REGISTRY) readonly registry: Registry,
    private readonly config: AppConfig,
    /** The monotonic ms clock of every sliding window, the features' included (tests drive it). */
    @Inject(METRICS_CLOCK) readonly clock: MonotonicClock,
    private readonly discovery: DiscoveryService,
  ) {
    const registers = [registry];
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
    this.internalErrors = new Counter({
      name: METRIC.internalErrors,
      help: 'Process-level or library errors that were caught and survived, by kind',
      labelNames: ['kind'],
      registers,
    });
    this.httpWindow = new SlidingWindow({ clock });
    this.system = new SystemSampler(clock);
  }

  /** False with METRICS_ENABLED=false: nothing is recorded or sampled, /metrics* answer 503. */
  get enabled(): boolean {
    return this.config.env.METRICS_ENABLED;
  }

  /** Every provider is instantiated before the first onModuleInit, so the contributors are all there now. */
  onModuleInit(): void {
    this.contributors = this.discovery
      .getProviders({ metadataKey: MetricsContributor.KEY })
      .flatMap((wrapper) => (wrapper.instance ? [wrapper.instance as MetricsSnapshotContributor] : []));
    if (!this.enabled) return;
    this.system.start();
  }

  onModuleDestroy(): void {
    this.system.stop();
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

  /** Why JSON /metrics answers 503 right now (the first contributor that is not ready says), or null. */
  notReadyReason(): string | null {
    for (const c of this.contributors) {
      const reason = c.notReadyReason?.() ?? null;
      if (reason !== null) return reason;
    }
    return null;
  }

  /**
   * The JSON /metrics figures over the last 60 s. Rejects with a ServiceUnavailableException while metrics are
   * disabled or a contributor is not ready ('WebSocket server not initialized' until the gateway is up).
   */
  snapshot(): Promise<MetricsSnapshot> {
    if (!this.enabled) return Promise.reject(new ServiceUnavailableException(METRICS_DISABLED));
    const notReady = this.notReadyReason();
    if (notReady !== null) return Promise.reject(new ServiceUnavailableException(notReady));
    return Promise.resolve(this.currentSnapshot());
  }

  /**
   * The same figures without the readiness check (connections read 0 before the gateway is up): for monitors and
   * history that must keep running whatever the gateway's state. Synchronous and cheap: O(window buckets).
   * The sections a contributor fills start at zero, so the body keeps its shape without that contributor.
   */
  currentSnapshot(): MetricsSnapshot {
    const [httpP50, httpP95, httpP99] = this.httpWindow.percentiles([50, 95, 99]);
    const mem = process.memoryUsage();
    const sys = this.system.read();
    const snapshot: MetricsSnapshot = {
      websocket: {
        totalConnections: 0,
        uniqueUsers: 0,
        redisEnabled: false,
        eventsPerSecond: 0,
        latency: { p50: 0, p95: 0, p99: 0 },
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
      business: { activeUsers: 0, subscriptionEvents: 0, trades: 0 },
      timestamp: new Date().toISOString(),
    };
    for (const c of this.contributors) c.contribute(snapshot);
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
}
