import { Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { Gauge } from 'prom-client';
import { AppConfig } from '../config/app-config';
import { errorMessage } from '../common/with-timeout';
import { UNKNOWN_LABEL } from '../metrics/metric-names';
import { MetricsContributor, MetricsSnapshotContributor } from '../metrics/metrics-contributor';
import { MetricsSnapshot, round } from '../metrics/metrics-snapshot';
import { MetricsService } from '../metrics/metrics.service';
import { RedisService } from '../redis/redis.service';
import { HEALTH_METRIC } from './health.metric-names';

/** How often Redis is sampled for redis_up / redis_latency_seconds and the JSON `redis` block. */
export const REDIS_SAMPLE_INTERVAL_MS = 5000;

type RedisSample = NonNullable<MetricsSnapshot['redis']>;

/**
 * redis_up, redis_latency_seconds and the JSON /metrics `redis` block, when REDIS_URL is set. Redis is sampled in
 * the background on the app's own connection, so a down or frozen Redis never slows a scrape.
 */
@Injectable()
@MetricsContributor()
export class RedisMetrics implements MetricsSnapshotContributor, OnModuleInit, OnModuleDestroy {
  private readonly up: Gauge<string> | null = null;
  private readonly latency: Gauge<string> | null = null;
  private last: RedisSample | null = null;
  private timer: NodeJS.Timeout | null = null;
  private inFlight: Promise<void> | null = null;

  constructor(
    private readonly metrics: MetricsService,
    private readonly redis: RedisService,
    private readonly config: AppConfig,
  ) {
    if (!redis.isConfigured) return;
    const registers = [metrics.registry];
    this.up = new Gauge({
      name: HEALTH_METRIC.redisUp,
      help: '1 when the last Redis sample (PING and INFO) succeeded within HEALTH_CHECK_TIMEOUT_MS, else 0',
      registers,
    });
    this.latency = new Gauge({
      name: HEALTH_METRIC.redisLatency,
      help: 'Redis PING round trip of the last successful sample, in seconds',
      registers,
    });
    this.up.set(0);
  }

  onModuleInit(): void {
    if (!this.metrics.enabled || !this.redis.isConfigured) return;
    this.timer = setInterval(() => void this.sample(), REDIS_SAMPLE_INTERVAL_MS);
    this.timer.unref();
    void this.sample();
  }

  onModuleDestroy(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  contribute(snapshot: MetricsSnapshot): void {
    if (this.last !== null) snapshot.redis = { ...this.last };
    else if (this.redis.isConfigured) snapshot.redis = down('not sampled yet');
  }

  /**
   * PING and INFO under one HEALTH_CHECK_TIMEOUT_MS budget; updates the gauges and the JSON block. Runs every
   * REDIS_SAMPLE_INTERVAL_MS; never two at once; never throws.
   */
  sample(): Promise<void> {
    if (!this.redis.isConfigured) return Promise.resolve();
    this.inFlight ??= this.doSample().finally(() => {
      this.inFlight = null;
    });
    return this.inFlight;
  }

  private async doSample(): Promise<void> {
    try {
      const { latencyMs, info } = await this.redis.pingAndInfo('default', this.config.healthCheckTimeoutMs);
      this.last = {
        up: true,
        memoryUsed: info.used_memory_human ?? UNKNOWN_LABEL,
        connections: Number(info.connected_clients ?? 0),
        opsPerSec: Number(info.instantaneous_ops_per_sec ?? 0),
        latency: round(latencyMs, 3),
        sampledAt: new Date().toISOString(),
      };
      this.up?.set(1);
      this.latency?.set(latencyMs / 1000);
    } catch (err) {
      // Outages are logged once where the connection is watched (RedisService); here they only show in the figures.
      this.last = down(errorMessage(err));
      this.up?.set(0);
    }
  }
}

function down(error: string): RedisSample {
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
