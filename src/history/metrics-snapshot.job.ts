import { Inject, Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { errorMessage, withTimeout } from '../common/with-timeout';
import { InstanceInfo } from '../lifecycle/instance-info';
import { MetricsService, MetricsSnapshot } from '../metrics/metrics.service';
import { METRICS_HISTORY_STORE, MetricSnapshotRecord, MetricsHistoryStore } from './history.types';

/** A snapshot that takes longer than this is skipped, so one hung call cannot stop the schedule for good. */
const SNAPSHOT_TIMEOUT_CAP_MS = 10_000;

function finite(n: unknown): number {
  return typeof n === 'number' && Number.isFinite(n) ? n : 0;
}

/**
 * Turns the JSON /metrics figures into a history record. Memory comes from this process directly, in bytes:
 * the snapshot carries it as display strings ("45.2 MB"), and the snapshot describes this same process.
 */
export function toSnapshotRecord(
  snapshot: MetricsSnapshot,
  instanceId: string,
  timestamp: Date,
  memory: Pick<NodeJS.MemoryUsage, 'rss' | 'heapUsed'> = process.memoryUsage(),
): MetricSnapshotRecord {
  return {
    timestamp,
    instanceId,
    connections: finite(snapshot.websocket.totalConnections),
    uniqueUsers: finite(snapshot.websocket.uniqueUsers),
    eventsPerSecond: finite(snapshot.websocket.eventsPerSecond),
    wsLatencyP95: finite(snapshot.websocket.latency.p95),
    httpLatencyP95: finite(snapshot.http.latency.p95),
    httpErrorRate: finite(snapshot.http.errorRate),
    rss: finite(memory.rss),
    heapUsed: finite(memory.heapUsed),
    cpu: finite(snapshot.system.cpu),
    eventLoopDelayP99: finite(snapshot.system.eventLoopDelay.p99),
  };
}

/**
 * Every METRICS_SNAPSHOT_INTERVAL_MS, writes this instance's figures to the metric history. A snapshot that
 * cannot be taken (the gateway is not up yet, a dependency hangs) is skipped, logged once per streak; runs
 * never overlap.
 */
@Injectable()
export class MetricsSnapshotJob implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(MetricsSnapshotJob.name);
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private skippingSince: number | null = null;

  constructor(
    private readonly metrics: MetricsService,
    @Inject(METRICS_HISTORY_STORE) private readonly store: MetricsHistoryStore,
    private readonly instance: InstanceInfo,
    private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => void this.run(), this.config.history.snapshotIntervalMs);
    this.timer.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Takes and stores one snapshot; resolves with it, or null when skipped. Never rejects. */
  async run(): Promise<MetricSnapshotRecord | null> {
    if (this.running) return null;
    this.running = true;
    try {
      const timeoutMs = Math.min(this.config.history.snapshotIntervalMs, SNAPSHOT_TIMEOUT_CAP_MS);
      let snapshot: MetricsSnapshot;
      try {
        snapshot = await withTimeout(
          this.metrics.snapshot(),
          timeoutMs,
          `Metrics snapshot took over ${timeoutMs}ms`,
        );
      } catch (err) {
        this.noteSkipped(err);
        return null;
      }
      if (this.skippingSince !== null) {
        this.logger.log({
          message: 'Metric snapshots resumed',
          skippedForMs: Date.now() - this.skippingSince,
        });
        this.skippingSince = null;
      }
      const record: MetricSnapshotRecord = {
        ...toSnapshotRecord(snapshot, this.instance.id, new Date()),
        version: this.instance.version,
        startedAt: this.instance.startedAt,
      };
      await this.store.append(record);
      return record;
    } catch (err) {
      // The stores never reject; this is a bug in mapping the snapshot, which must not stop the schedule.
      this.logger.error({ message: 'Metric snapshot failed', err });
      return null;
    } finally {
      this.running = false;
    }
  }

  private noteSkipped(err: unknown): void {
    if (this.skippingSince !== null) return;
    this.skippingSince = Date.now();
    this.logger.log({ message: 'Metric snapshot skipped: metrics unavailable', reason: errorMessage(err) });
  }
}
