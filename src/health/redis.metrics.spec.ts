import type { DiscoveryService } from '@nestjs/core';
import { Registry } from 'prom-client';
import { AppConfig } from '../config/app-config';
import { MetricsService } from '../metrics/metrics.service';
import type { RedisService } from '../redis/redis.service';
import { HEALTH_METRIC } from './health.metric-names';
import { RedisMetrics } from './redis.metrics';

describe(RedisMetrics.name, () => {
  const config = AppConfig.from({ NODE_ENV: 'test' });
  let registry: Registry;
  let core: MetricsService;
  // The one injectable that reaches Redis.
  let pingAndInfo: jest.Mock;

  beforeEach(() => {
    registry = new Registry();
    core = new MetricsService(registry, config, () => 0, {
      getProviders: () => [],
    } as unknown as DiscoveryService);
    pingAndInfo = jest.fn();
  });

  const make = (configured: boolean) =>
    new RedisMetrics(core, { isConfigured: configured, pingAndInfo } as unknown as RedisService, config);
  const gauge = async (name: string) => (await registry.getSingleMetric(name)?.get())?.values[0]?.value;

  it('registers nothing and adds no redis block without REDIS_URL', async () => {
    const metrics = make(false);
    await metrics.sample();
    const snapshot = core.currentSnapshot();
    metrics.contribute(snapshot);
    expect(snapshot).not.toHaveProperty('redis');
    expect(registry.getSingleMetric(HEALTH_METRIC.redisUp)).toBeUndefined();
    expect(pingAndInfo).not.toHaveBeenCalled();
  });

  it('reads down until the first sample, then the figures and the gauges of the last one', async () => {
    const metrics = make(true);
    const before = core.currentSnapshot();
    metrics.contribute(before);
    expect(before.redis).toMatchObject({ up: false, latency: -1, error: 'not sampled yet' });
    expect(await gauge(HEALTH_METRIC.redisUp)).toBe(0);

    pingAndInfo.mockResolvedValueOnce({
      latencyMs: 1.23456,
      info: { used_memory_human: '1.5M', connected_clients: '4', instantaneous_ops_per_sec: '9' },
    });
    await metrics.sample();
    const up = core.currentSnapshot();
    metrics.contribute(up);
    expect(up.redis).toEqual({
      up: true,
      memoryUsed: '1.5M',
      connections: 4,
      opsPerSec: 9,
      latency: 1.235,
      sampledAt: expect.any(String),
    });
    expect(Object.keys(up).slice(-2)).toEqual(['timestamp', 'redis']);
    expect(await gauge(HEALTH_METRIC.redisUp)).toBe(1);
    expect(await gauge(HEALTH_METRIC.redisLatency)).toBeCloseTo(0.00123456, 8);

    pingAndInfo.mockRejectedValueOnce(new Error('Connection is closed.'));
    await metrics.sample();
    const down = core.currentSnapshot();
    metrics.contribute(down);
    expect(down.redis).toMatchObject({
      up: false,
      connections: 0,
      latency: -1,
      error: 'Connection is closed.',
    });
    expect(await gauge(HEALTH_METRIC.redisUp)).toBe(0);
  });

  it('never runs two samples at once', async () => {
    const metrics = make(true);
    let answer: (v: unknown) => void = () => undefined;
    pingAndInfo.mockReturnValueOnce(new Promise((resolve) => (answer = resolve)));
    const first = metrics.sample();
    const second = metrics.sample();
    expect(second).toBe(first);
    answer({ latencyMs: 1, info: {} });
    await first;
    expect(pingAndInfo).toHaveBeenCalledTimes(1);
  });
});
