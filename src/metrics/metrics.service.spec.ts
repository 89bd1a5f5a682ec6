import { Registry } from 'prom-client';
import { AppConfig } from '../config/app-config';
import { ServiceUnavailableException } from '@nestjs/common';
import { DiscoveryModule, DiscoveryService } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import { METRIC } from './metric-names';
import { MetricsContributor, MetricsSnapshotContributor } from './metrics-contributor';
import type { MetricsSnapshot } from './metrics-snapshot';
import { METRICS_REGISTRY } from './metrics.registry';
import { METRICS_CLOCK, MetricsService } from './metrics.service';

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

  describe('with contributors', () => {
    /** A feature's contribution, marked the way features mark theirs. */
    @MetricsContributor()
    class Feature implements MetricsSnapshotContributor {
      ready = false;
      contribute(snapshot: MetricsSnapshot): void {
        snapshot.websocket.totalConnections = 7;
        snapshot.business.trades = 3;
      }
      notReadyReason(): string | null {
        return this.ready ? null : 'feature not up';
      }
    }
    class Unmarked {
      contribute = jest.fn();
    }

    let feature: Feature;
    let unmarked: Unmarked;

    beforeEach(async () => {
      const moduleRef = await Test.createTestingModule({
        imports: [DiscoveryModule],
        providers: [
          Feature,
          Unmarked,
          MetricsService,
          { provide: METRICS_REGISTRY, useValue: new Registry() },
          { provide: METRICS_CLOCK, useValue: () => now },
          { provide: AppConfig, useValue: AppConfig.from({ NODE_ENV: 'test' }) },
        ],
      }).compile();
      await moduleRef.init();
      metrics = moduleRef.get(MetricsService);
      feature = moduleRef.get(Feature);
      unmarked = moduleRef.get(Unmarked);
      metrics.onModuleDestroy();
    });

    it('finds the marked providers once and lets them fill their sections, keeping the body in its order', () => {
      const snapshot = metrics.currentSnapshot();
      expect(snapshot.websocket.totalConnections).toBe(7);
      expect(snapshot.business.trades).toBe(3);
      expect(Object.keys(snapshot)).toEqual(['websocket', 'system', 'http', 'business', 'timestamp']);
      expect(unmarked.contribute).not.toHaveBeenCalled();
    });

    it('answers 503 with the reason of the first contributor that is not ready', async () => {
      expect(metrics.notReadyReason()).toBe('feature not up');
      await expect(metrics.snapshot()).rejects.toThrow(new ServiceUnavailableException('feature not up'));
      feature.ready = true;
      expect(metrics.notReadyReason()).toBeNull();
      await expect(metrics.snapshot()).resolves.toMatchObject({ websocket: { totalConnections: 7 } });
    });
  });
});
