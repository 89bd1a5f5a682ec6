import { realtimeMetricsFixture } from '../../test/fixtures/realtime-metrics';
import { RealtimeMetrics } from './realtime.metrics';

describe(RealtimeMetrics.name, () => {
  describe('observePublishToEmit', () => {
    it('records seconds per event into ws_publish_to_emit_seconds, unknown names as one label', async () => {
      const { metrics, registry } = realtimeMetricsFixture();
      metrics.observePublishToEmit('trade:executed', 0.003);
      metrics.observePublishToEmit('trade:executed', 0.2);
      metrics.observePublishToEmit('made-up', 0.001);
      const text = await registry.getSingleMetricAsString('ws_publish_to_emit_seconds');
      expect(text).toContain('ws_publish_to_emit_seconds_count{event="trade:executed"} 2');
      expect(text).toContain('ws_publish_to_emit_seconds_bucket{le="0.005",event="trade:executed"} 1');
      expect(text).toContain('ws_publish_to_emit_seconds_bucket{le="0.25",event="trade:executed"} 2');
      expect(text).toContain('ws_publish_to_emit_seconds_count{event="unknown"} 1');
      expect(text).not.toContain('made-up');
      // Every server event is exposed from the start, so rate() has a series before the first publication.
      expect(text).toContain('ws_publish_to_emit_seconds_count{event="portfolio:update"} 0');
    });

    it('feeds the delivery section of the JSON snapshot (p99 in ms)', () => {
      const { metrics, core } = realtimeMetricsFixture();
      for (let i = 0; i < 99; i++) metrics.observePublishToEmit('trade:executed', 0.001);
      metrics.observePublishToEmit('trade:executed', 0.5);
      metrics.observePublishToEmit('trade:executed', 0.5);
      const snapshot = core.currentSnapshot();
      metrics.contribute(snapshot);
      expect(snapshot.delivery?.publishToEmitP99).toBeCloseTo(500, -1);
    });

    it('ignores a non-finite duration and clamps a negative one to 0', async () => {
      const { metrics, registry } = realtimeMetricsFixture();
      metrics.observePublishToEmit('trade:executed', Number.NaN);
      metrics.observePublishToEmit('trade:executed', -1);
      const text = await registry.getSingleMetricAsString('ws_publish_to_emit_seconds');
      expect(text).toContain('ws_publish_to_emit_seconds_count{event="trade:executed"} 1');
      expect(text).toContain('ws_publish_to_emit_seconds_sum{event="trade:executed"} 0');
    });
  });

  describe('observePubsubLag', () => {
    it('records the lag; a negative one (clock skew) as 0, and counts it', async () => {
      const { metrics, value } = realtimeMetricsFixture();
      metrics.observePubsubLag(0.004);
      metrics.observePubsubLag(-0.25);
      expect(await value('ws_pubsub_lag_negative_total')).toBe(1);
      metrics.observePubsubLag(0.01);
      expect(await value('ws_pubsub_lag_negative_total')).toBe(1);
    });

    it('exposes count and sum with the clamped value', async () => {
      const { metrics, registry } = realtimeMetricsFixture();
      metrics.observePubsubLag(0.004);
      metrics.observePubsubLag(-0.25);
      const text = await registry.getSingleMetricAsString('ws_pubsub_lag_seconds');
      expect(text).toContain('ws_pubsub_lag_seconds_count 2');
      expect(text).toContain('ws_pubsub_lag_seconds_sum 0.004');
      expect(text).toContain('ws_pubsub_lag_seconds_bucket{le="0.0025"} 1');
      expect(text).toContain('ws_pubsub_lag_seconds_bucket{le="0.005"} 2');
    });
  });

  it('lists the top refusal reasons in the JSON snapshot', () => {
    const { metrics, core } = realtimeMetricsFixture();
    metrics.recordConnectionRefused('unauthorized');
    metrics.recordConnectionRefused('unauthorized');
    metrics.recordConnectionRefused('origin');
    const snapshot = core.currentSnapshot();
    metrics.contribute(snapshot);
    expect(snapshot.delivery?.topRefusalReasons).toEqual([
      { reason: 'unauthorized', count: 2 },
      { reason: 'origin', count: 1 },
    ]);
  });
});
