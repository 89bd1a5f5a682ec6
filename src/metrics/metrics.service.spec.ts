import { Registry } from 'prom-client';
import { AppConfig } from '../config/app-config';
import type { DiscoveryService } from '@nestjs/core';
import { METRIC } from './metric-names';
import { MetricsService } from './metrics.service';

describe(MetricsService.name, () => {
  let now: number;
  let registry: Registry;
  let metrics: MetricsService;

  beforeEach(() => {
    now = 1_000_000;
    registry = new Registry();
    // No contributors: the core alone, with the test's window clock.
    const discovery = { getProviders: () => [] } as unknown as DiscoveryService;
    metrics = new MetricsService(registry, AppConfig.from({ NODE_ENV: 'test' }), () => now, discovery);
  });

  const requestsTotal = async (route: string, statusCode: string): Promise<number> => {
    const { values } = await registry.getSingleMetric(METRIC.httpRequests)!.get();
    return values.find((v) => v.labels.route === route && v.labels.status_code === statusCode)?.value ?? 0;
  };

  it('leaves health probes out of the window behind JSON /metrics and the HTTP alerts, but counts them', async () => {
    // A quiet replica during a Redis outage: the platform probes readiness, which answers 503 slowly.
    for (let i = 0; i < 30; i++) metrics.recordHttp('GET', '/health/ready', 503, 1200);
    for (let i = 0; i < 5; i++) metrics.recordHttp('GET', '/health', 200, 3000);
    metrics.recordHttp('GET', '/health/redis', 503, 900);
    // The users' own traffic: two fast successes and one failure.
    metrics.recordHttp('GET', '/metrics', 200, 4);
    metrics.recordHttp('POST', '/events', 202, 4);
    metrics.recordHttp('POST', '/events', 500, 4);

    const http = metrics.currentSnapshot().http;
    expect(http.requestsPerSecond).toBeCloseTo(3 / 60, 3);
    expect(http.errorRate).toBeCloseTo(100 / 3, 2);
    expect(http.latency.p95).toBeLessThan(5);

    // Prometheus keeps every probe under its own route label, for those who want to watch them.
    expect(await requestsTotal('/health/ready', '503')).toBe(30);
    expect(await requestsTotal('/health', '200')).toBe(5);
    expect(await requestsTotal('/health/redis', '503')).toBe(1);
  });

  it('still counts a look-alike route and a request that matched no route in the window', () => {
    metrics.recordHttp('GET', '/healthcheck', 500, 10);
    metrics.recordHttp('POST', 'unmatched', 404, 10);
    const http = metrics.currentSnapshot().http;
    expect(http.requestsPerSecond).toBeCloseTo(2 / 60, 3);
    expect(http.errorRate).toBe(50);
  });
});
